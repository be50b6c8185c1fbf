// The participants of the saga by orchestration: how policy-, customer- and quote-worker handle the
// orchestrator's commands (saga_orchestration.h) in their own transaction-scoped stores
// (saga_services.h) and answer each with exactly one reply event. The business rules are the
// choreography's (saga_rules.h), applied to the command's data, so both modes reach the same
// states. Every reply's id is ReplyEventId(command id); a command whose effect is already there
// (an earlier attempt was applied) is answered with the current outcome, so a retried command is
// always answered and never applied twice.
//
// Replies: CreatePolicy -> PolicyCreated | QuoteRejected (refused, or the quote was declined or
// its policy cancelled before); UpdateCustomerPolicyCount(+1) -> CustomerPolicyCountUpdated(+1) |
// CustomerPolicyCountRejected; UpdateCustomerPolicyCount(-1) -> CustomerPolicyCountUpdated(-1 if
// the policy was counted, else 0; an uncounted policy is marked so that a late +1 is refused);
// CancelPolicy -> PolicyCancelled (a policy not created yet is declined so that a late
// CreatePolicy is refused); IssueQuote -> QuoteIssued; RejectQuote -> QuoteRejected.
//
// Thread-safety: the services hold configuration and a Clock; thread-safe if the Clock is. Stores
// and sinks stand for one transaction, used by one thread.
#ifndef QUOTEFLOW_DOMAIN_SAGA_PARTICIPANTS_H_
#define QUOTEFLOW_DOMAIN_SAGA_PARTICIPANTS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "domain/clock.h"
#include "domain/saga_orchestration.h"
#include "domain/saga_services.h"

namespace quoteflow {

// Where a participant writes its reply (its outbox, towards the orchestrator), in the same
// transaction as the effect. Errors: storage errors (transient).
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  virtual absl::Status Reply(const DomainEvent& reply) = 0;
};

// Errors of every Handle: INVALID_ARGUMENT for a command this participant does not handle or with
// invalid data; FAILED_PRECONDITION when the command contradicts the state (IssueQuote of a
// REJECTED quote, RejectQuote of an ISSUED one, a policy of another customer); NOT_FOUND for an
// unknown quote; and the stores' errors. The consumer runtime dead-letters the first three.

// policy-worker: CreatePolicy, CancelPolicy.
class PolicyCommandService {
 public:
  PolicyCommandService(Clock& clock, int64_t underwriting_limit)
      : clock_(clock), underwriting_limit_(underwriting_limit) {}
  static bool Wants(absl::string_view command_type);
  absl::Status Handle(PolicySagaStore& store, ReplySink& replies, const SagaCommand& command);

 private:
  Clock& clock_;
  const int64_t underwriting_limit_;
};

// customer-worker: UpdateCustomerPolicyCount (+1 / -1).
class CustomerCommandService {
 public:
  explicit CustomerCommandService(Clock& clock) : clock_(clock) {}
  static bool Wants(absl::string_view command_type);
  absl::Status Handle(CustomerSagaStore& store, ReplySink& replies, const SagaCommand& command);

 private:
  Clock& clock_;
};

// quote-worker: IssueQuote, RejectQuote.
class QuoteCommandService {
 public:
  explicit QuoteCommandService(Clock& clock) : clock_(clock) {}
  static bool Wants(absl::string_view command_type);
  absl::Status Handle(QuoteSagaStore& store, ReplySink& replies, const SagaCommand& command);

 private:
  Clock& clock_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_SAGA_PARTICIPANTS_H_
