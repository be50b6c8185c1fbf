// The quote saga by orchestration, as pure decisions: one Saga value per approved quote (the saga
// id is the quote id), a state machine over it, the commands it sends and the history it keeps.
// saga-orchestrator (consumers/orchestrator/) stores the Saga, sends the commands through its
// outbox and calls these functions on each reply and on each expired deadline. No I/O, no clock
// reads (the caller passes `now`); thread-safe.
//
// Forward steps, each a command to one participant and its reply (an event):
//   POLICY_REQUESTED           CreatePolicy              -> PolicyCreated | QuoteRejected (refused)
//   CUSTOMER_UPDATE_REQUESTED  UpdateCustomerPolicyCount(+1)
//                                   -> CustomerPolicyCountUpdated(+1) | CustomerPolicyCountRejected
//   ISSUE_REQUESTED            IssueQuote                -> QuoteIssued            => COMPLETED
// Compensation, in reverse order of the steps that may have taken effect:
//   RELEASE_COUNT_REQUESTED    UpdateCustomerPolicyCount(-1) -> CustomerPolicyCountUpdated(<= 0)
//   CANCEL_POLICY_REQUESTED    CancelPolicy              -> PolicyCancelled
//   REJECT_QUOTE_REQUESTED     RejectQuote               -> QuoteRejected          => COMPENSATED
// A refusal compensates only what took effect (policy refused: RejectQuote; customer refused:
// CancelPolicy, RejectQuote). A step that timed out may still take effect later, so it is
// compensated too (CreatePolicy timed out: CancelPolicy first, which also stops a late creation;
// the customer step timed out: the release first, which also stops a late count).
//
// Deadlines: every step waits at most SagaSettings::step_deadline per attempt. CreatePolicy and the
// customer step are re-sent up to max_step_attempts times, then compensated. IssueQuote (after the
// customer counted the policy nothing can fail any more, so it is never compensated) and every
// compensation are re-sent with exponential backoff (step_deadline doubling per attempt, capped at
// max_backoff) for as long as it takes: an outage of a participant, of Kafka or of a relay only
// delays the saga, which ends on its own once the reply comes through.
//
// STUCK (with its reason, until a reply or an operator resolves it) is kept for what retrying
// cannot fix, and only when the operator asks for it with max_compensation_attempts > 0 (0, the
// default, retries forever): a participant that refuses a command because it contradicts its state
// (IssueQuote of a quote already REJECTED, RejectQuote of an ISSUED quote, a policy of another
// customer) dead-letters it with its reason and never answers, which the orchestrator cannot tell
// apart from an outage. With a budget, the step's max_compensation_attempts-th silent attempt makes
// the saga STUCK, and a person reads the dead letter (`quotectl dlq list`), fixes the data and runs
// `quotectl saga retry` (ResumeStuck). Without one, such a saga keeps retrying at max_backoff and
// the dead-lettered commands are what alerts (quoteflow_consumer_dead_lettered_total).
// A STUCK saga still acts on the reply its stuck step waited for (of any attempt: every attempt is
// the same idempotent command): the reply resolves it as it would have before ("unstuck" in the
// history), so a saga made STUCK by an outage longer than its budget ends by itself once the
// commands already in the outbox get through. Replies of other steps only add history.
//
// Time: `now` is the caller's, and deadlines are `now` + a wait. saga-orchestrator passes the
// database's clock (now() of the transaction), so deadlines written by several hosts compare with
// one clock and the sweep (`deadline <= now()` in SQL) never trusts a host's clock.
//
// Correlation and idempotency: a command's id is derived from (saga id, step, attempt)
// (SagaCommandId) and its reply's id from the command's id (ReplyEventId), so every reply names the
// step and attempt it answers. A reply for another step than the current one (a late reply of an
// earlier attempt or step) changes nothing but the history; a duplicate of a reply never reaches
// the decision (the orchestrator's inbox drops it), and if it did, it would be such a late reply.
#ifndef QUOTEFLOW_DOMAIN_SAGA_ORCHESTRATION_H_
#define QUOTEFLOW_DOMAIN_SAGA_ORCHESTRATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "domain/events.h"

namespace quoteflow {

// ---- Commands (wire schema: proto/quoteflow/v1/commands.proto) ----

struct CreatePolicy {
  std::string policy_id;
  std::string customer_id;
  int64_t premium = 0;
  int64_t quote_version = 0;  // the approved quote's version (kept on the policy)
};
struct UpdateCustomerPolicyCount {
  std::string customer_id;
  std::string policy_id;
  int64_t delta = 0;  // +1: count the policy; -1: release it (compensation)
};
struct CancelPolicy {
  std::string policy_id;
  std::string customer_id;
  std::string reason;
};
struct RejectQuote {
  std::string customer_id;
  std::string policy_id;
  std::string reason;
};
struct IssueQuote {
  std::string customer_id;
  std::string policy_id;
};

using CommandPayload =
    std::variant<CreatePolicy, UpdateCustomerPolicyCount, CancelPolicy, RejectQuote, IssueQuote>;

// "CreatePolicy", "UpdateCustomerPolicyCount", "CancelPolicy", "RejectQuote", "IssueQuote".
const char* CommandTypeName(const CommandPayload& payload);

struct SagaCommand {
  std::string command_id;
  std::string quote_id;  // the saga's correlation id
  absl::Time issued_at;
  CommandPayload payload;

  const char* type() const { return CommandTypeName(payload); }
  // The participant's aggregate the command targets: "policy", "customer" or "quote".
  const char* target_type() const;
  // That aggregate's id (policy id, customer id or quote id): the Kafka key, so that the commands
  // for one aggregate stay in order.
  const std::string& target_id() const;
};

// ---- The saga ----

enum class SagaStep {
  kCreatePolicy,
  kCountPolicy,  // UpdateCustomerPolicyCount(+1)
  kIssueQuote,
  kReleaseCount,  // UpdateCustomerPolicyCount(-1)
  kCancelPolicy,
  kRejectQuote,
};
// "create-policy", "count-policy", "issue-quote", "release-count", "cancel-policy",
// "reject-quote" (also the step's part of command ids).
const char* SagaStepName(SagaStep step);
// INVALID_ARGUMENT for anything but SagaStepName's output.
absl::StatusOr<SagaStep> ParseSagaStep(absl::string_view name);

enum class SagaState {
  kPolicyRequested,
  kCustomerUpdateRequested,
  kIssueRequested,
  kCompleted,
  kReleaseCountRequested,
  kCancelPolicyRequested,
  kRejectQuoteRequested,
  kCompensated,
  kStuck,
};
// "POLICY_REQUESTED", ..., "COMPLETED", "COMPENSATED", "STUCK".
const char* SagaStateName(SagaState state);
// INVALID_ARGUMENT for anything but SagaStateName's output.
absl::StatusOr<SagaState> ParseSagaState(absl::string_view name);
// The state in which `step` waits for its reply.
SagaState StateWaitingFor(SagaStep step);
// COMPLETED or COMPENSATED.
bool IsTerminal(SagaState state);

struct SagaSettings {
  absl::Duration step_deadline = absl::Seconds(30);
  int max_step_attempts = 3;  // CreatePolicy, the customer step: then compensate
  // IssueQuote and compensations: STUCK after this many silent attempts; 0 = never (retried at
  // max_backoff for as long as it takes).
  int max_compensation_attempts = 0;
  absl::Duration max_backoff = absl::Minutes(5);
};

struct Saga {
  std::string quote_id;  // the saga id
  std::string customer_id;
  std::string policy_id;
  int64_t premium = 0;
  int64_t quote_version = 0;
  SagaState state = SagaState::kPolicyRequested;
  SagaStep step = SagaStep::kCreatePolicy;  // the current (or, when STUCK, the stuck) step
  int attempt = 1;        // of the current step, never reused (it is part of the command id)
  int step_attempts = 1;  // attempts since the step started or was resumed (the retry budget)
  std::optional<absl::Time> deadline;  // nullopt when terminal or STUCK
  std::string failure_reason;          // why it compensates ("" while going forward)
  std::string stuck_reason;            // why it is STUCK ("" otherwise)
  int64_t version = 0;                 // optimistic lock, + 1 per stored change
  absl::Time created_at;
  absl::Time updated_at;

  friend bool operator==(const Saga&, const Saga&) = default;
};

// One line of a saga's history.
struct SagaHistoryEntry {
  absl::Time at;
  std::string step;  // SagaStepName, or "saga" for the saga as a whole
  int attempt = 0;
  // "started", "sent", "succeeded", "refused", "timed-out", "compensating", "completed",
  // "compensated", "stuck", "unstuck", "resumed", "late-reply"
  std::string outcome;
  std::string detail;

  friend bool operator==(const SagaHistoryEntry&, const SagaHistoryEntry&) = default;
};

struct SagaDecision {
  Saga saga;             // the saga to store (the caller stores version + 1)
  bool changed = false;  // false: store nothing
  std::vector<SagaCommand> commands;
  std::vector<SagaHistoryEntry> history;
  bool became_stuck = false;  // for the STUCK metric
};

// "<quote_id>/saga/<step>/<attempt>". Ids never contain '/', so the parts can be parsed back.
std::string SagaCommandId(absl::string_view quote_id, SagaStep step, int attempt);
// The id of the one reply to a command: "<command_id>/reply".
std::string ReplyEventId(absl::string_view command_id);

struct ReplyRef {
  std::string quote_id;
  SagaStep step = SagaStep::kCreatePolicy;
  int attempt = 0;
};
// The command a reply answers; nullopt when `event_id` is not a ReplyEventId.
std::optional<ReplyRef> ParseReplyEventId(absl::string_view event_id);

// On QuoteApproved: a new saga (POLICY_REQUESTED) and CreatePolicy. INVALID_ARGUMENT when the event
// is not a QuoteApproved or names no quote. The caller checks that no saga exists for the quote.
absl::StatusOr<SagaDecision> StartSaga(const DomainEvent& quote_approved,
                                       const SagaSettings& settings, absl::Time now);

// On a participant's reply (an event whose id is a ReplyEventId; other events: unchanged). Replies
// of the current step (also the stuck step of a STUCK saga) advance the saga; replies of other
// steps only add history; replies to a terminal saga change nothing. INVALID_ARGUMENT when a reply
// of the current step has a type that step never replies with.
absl::StatusOr<SagaDecision> DecideOnReply(const Saga& saga, const DomainEvent& reply,
                                           const SagaSettings& settings, absl::Time now);

// When the deadline may have passed: unchanged if it has not (or the saga is terminal or STUCK);
// otherwise the step is re-sent, compensated, or (only with a max_compensation_attempts budget)
// the saga becomes STUCK (see above).
SagaDecision DecideOnDeadline(const Saga& saga, const SagaSettings& settings, absl::Time now);

// An operator resumes a STUCK saga: the stuck step is re-sent (next attempt) with a fresh budget.
// FAILED_PRECONDITION when the saga is not STUCK.
absl::StatusOr<SagaDecision> ResumeStuck(const Saga& saga, const SagaSettings& settings,
                                         absl::Time now);

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_SAGA_ORCHESTRATION_H_
