#include "domain/events.h"

#include "domain/overloaded.h"

namespace quoteflow {

const char* EventTypeName(const EventPayload& payload) {
  return std::visit(
      Overloaded{
          [](const QuoteApproved&) { return "QuoteApproved"; },
          [](const QuoteRejected&) { return "QuoteRejected"; },
          [](const PolicyCreated&) { return "PolicyCreated"; },
          [](const PolicyCancelled&) { return "PolicyCancelled"; },
          [](const CustomerPolicyCountUpdated&) { return "CustomerPolicyCountUpdated"; },
          [](const CustomerPolicyCountRejected&) { return "CustomerPolicyCountRejected"; },
          [](const QuoteIssued&) { return "QuoteIssued"; },
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
                        [](const QuoteIssued&) { return "quote"; },
                    },
                    payload);
}

}  // namespace quoteflow
