#include "domain/events.h"

namespace quoteflow {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

}  // namespace

const char* EventTypeName(const EventPayload& payload) {
  return std::visit(
      Overloaded{
          [](const QuoteApproved&) { return "QuoteApproved"; },
          [](const QuoteRejected&) { return "QuoteRejected"; },
          [](const PolicyCreated&) { return "PolicyCreated"; },
          [](const PolicyCancelled&) { return "PolicyCancelled"; },
          [](const CustomerPolicyCountUpdated&) { return "CustomerPolicyCountUpdated"; },
          [](const CustomerPolicyCountRejected&) { return "CustomerPolicyCountRejected"; },
      },
      payload);
}

const char* AggregateTypeOf(const EventPayload& payload) {
  return std::visit(Overloaded{
                        [](const QuoteApproved&) { return "quote"; },
                        [](const QuoteRejected&) { return "quote"; },
                        [](const PolicyCreated&) { return "policy"; },
                        [](const PolicyCancelled&) { return "policy"; },
                        [](const CustomerPolicyCountUpdated&) { return "customer"; },
                        [](const CustomerPolicyCountRejected&) { return "customer"; },
                    },
                    payload);
}

}  // namespace quoteflow
