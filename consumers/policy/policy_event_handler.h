// policy-worker's EventHandler: QuoteApproved (create the policy or refuse it by underwriting) and
// CustomerPolicyCountRejected (cancel the policy, reject the quote), applied by PolicySaga inside
// the consumer runtime's transaction; emitted events go to policy.outbox (PolicyCreated and
// PolicyCancelled on topic "policies", QuoteRejected, a quote-aggregate event, on "quotes"), with
// the incoming trace continued. Thread-safe (stateless apart from configuration).
#ifndef QUOTEFLOW_CONSUMERS_POLICY_POLICY_EVENT_HANDLER_H_
#define QUOTEFLOW_CONSUMERS_POLICY_POLICY_EVENT_HANDLER_H_

#include <string>

#include "domain/saga_services.h"
#include "platform/messaging/event_handler.h"

namespace quoteflow::workers {

inline constexpr char kPolicyWorkerSource[] = "/quoteflow/policy-worker";

class PolicyEventHandler : public messaging::EventHandler {
 public:
  explicit PolicyEventHandler(PolicySaga& saga, std::string source = kPolicyWorkerSource)
      : saga_(saga), source_(std::move(source)) {}

  bool Wants(absl::string_view event_type) const override { return PolicySaga::Wants(event_type); }
  // The contract's error classes: INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION for events
  // that cannot be applied (a malformed QuoteApproved, a rejection of an unknown policy), storage
  // errors otherwise. Underwriting refusals are business outcomes: OK.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& event) override;

 private:
  PolicySaga& saga_;
  const std::string source_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_POLICY_POLICY_EVENT_HANDLER_H_
