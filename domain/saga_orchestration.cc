#include "domain/saga_orchestration.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "domain/overloaded.h"
#include "domain/policy.h"

namespace quoteflow {
namespace {

constexpr SagaStep kAllSteps[] = {SagaStep::kCreatePolicy, SagaStep::kCountPolicy,
                                  SagaStep::kIssueQuote,   SagaStep::kReleaseCount,
                                  SagaStep::kCancelPolicy, SagaStep::kRejectQuote};
constexpr SagaState kAllStates[] = {SagaState::kPolicyRequested,
                                    SagaState::kCustomerUpdateRequested,
                                    SagaState::kIssueRequested,
                                    SagaState::kCompleted,
                                    SagaState::kReleaseCountRequested,
                                    SagaState::kCancelPolicyRequested,
                                    SagaState::kRejectQuoteRequested,
                                    SagaState::kCompensated,
                                    SagaState::kStuck};

// Forward steps that are compensated when their retries run out; the others end STUCK.
bool IsCompensable(SagaStep step) {
  return step == SagaStep::kCreatePolicy || step == SagaStep::kCountPolicy;
}

// Builds decisions: the saga copy, its history and its commands.
class Builder {
 public:
  Builder(const Saga& saga, const SagaSettings& settings, absl::Time now)
      : settings_(settings), now_(now) {
    d_.saga = saga;
  }

  void Note(SagaStep step, int attempt, std::string outcome, std::string detail = "") {
    Note(SagaStepName(step), attempt, std::move(outcome), std::move(detail));
  }
  void Note(std::string step, int attempt, std::string outcome, std::string detail = "") {
    d_.history.push_back(SagaHistoryEntry{.at = now_,
                                          .step = std::move(step),
                                          .attempt = attempt,
                                          .outcome = std::move(outcome),
                                          .detail = std::move(detail)});
    d_.changed = true;
  }

  // Starts `step` at its next attempt (first_attempt: a fresh retry budget) and sends its command.
  void Send(SagaStep step, bool fresh_budget, absl::Duration wait) {
    Saga& s = d_.saga;
    const bool same_step = s.step == step;
    s.attempt = same_step ? s.attempt + 1 : 1;
    s.step_attempts = (same_step && !fresh_budget) ? s.step_attempts + 1 : 1;
    s.step = step;
    s.state = StateWaitingFor(step);
    s.deadline = now_ + wait;
    s.stuck_reason.clear();
    s.updated_at = now_;
    SagaCommand c{.command_id = SagaCommandId(s.quote_id, step, s.attempt),
                  .quote_id = s.quote_id,
                  .issued_at = now_};
    switch (step) {
      case SagaStep::kCreatePolicy:
        c.payload = CreatePolicy{.policy_id = s.policy_id,
                                 .customer_id = s.customer_id,
                                 .premium = s.premium,
                                 .quote_version = s.quote_version};
        break;
      case SagaStep::kCountPolicy:
        c.payload = UpdateCustomerPolicyCount{
            .customer_id = s.customer_id, .policy_id = s.policy_id, .delta = 1};
        break;
      case SagaStep::kIssueQuote:
        c.payload = IssueQuote{.customer_id = s.customer_id, .policy_id = s.policy_id};
        break;
      case SagaStep::kReleaseCount:
        c.payload = UpdateCustomerPolicyCount{
            .customer_id = s.customer_id, .policy_id = s.policy_id, .delta = -1};
        break;
      case SagaStep::kCancelPolicy:
        c.payload = CancelPolicy{
            .policy_id = s.policy_id, .customer_id = s.customer_id, .reason = s.failure_reason};
        break;
      case SagaStep::kRejectQuote:
        c.payload = RejectQuote{
            .customer_id = s.customer_id, .policy_id = s.policy_id, .reason = s.failure_reason};
        break;
    }
    Note(step, s.attempt, "sent", c.command_id);
    d_.commands.push_back(std::move(c));
  }

  void SendFirst(SagaStep step) { Send(step, /*fresh_budget=*/true, settings_.step_deadline); }

  // The wait before the next attempt of a step that must not give up early: doubles per attempt.
  absl::Duration Backoff(int step_attempts) const {
    absl::Duration wait = settings_.step_deadline;
    for (int i = 1; i < step_attempts && wait < settings_.max_backoff; ++i) wait *= 2;
    return std::min(wait, std::max(settings_.max_backoff, settings_.step_deadline));
  }

  void Compensate(SagaStep first, std::string reason) {
    d_.saga.failure_reason = std::move(reason);
    Note("saga", 0, "compensating", d_.saga.failure_reason);
    SendFirst(first);
  }

  void Finish(SagaState terminal) {
    Saga& s = d_.saga;
    s.state = terminal;
    s.deadline.reset();
    s.stuck_reason.clear();
    s.updated_at = now_;
    Note("saga", 0, terminal == SagaState::kCompleted ? "completed" : "compensated",
         terminal == SagaState::kCompleted ? "" : s.failure_reason);
  }

  void Stick(std::string reason) {
    Saga& s = d_.saga;
    s.state = SagaState::kStuck;
    s.deadline.reset();
    s.stuck_reason = std::move(reason);
    s.updated_at = now_;
    Note(s.step, s.attempt, "stuck", s.stuck_reason);
    d_.became_stuck = true;
  }

  Saga& saga() { return d_.saga; }
  SagaDecision Take() { return std::move(d_); }

 private:
  const SagaSettings& settings_;
  const absl::Time now_;
  SagaDecision d_;
};

std::string Describe(const DomainEvent& e) {
  return std::visit(Overloaded{
                        [&](const QuoteRejected& p) { return p.reason; },
                        [&](const CustomerPolicyCountRejected& p) { return p.reason; },
                        [&](const CustomerPolicyCountUpdated& p) {
                          return absl::StrCat("policy count ", p.policy_count, " (delta ", p.delta,
                                              ")");
                        },
                        [&](const PolicyCancelled& p) { return p.reason; },
                        [&](const auto&) { return std::string(); },
                    },
                    e.payload);
}

}  // namespace

const char* CommandTypeName(const CommandPayload& payload) {
  return std::visit(
      Overloaded{
          [](const CreatePolicy&) { return "CreatePolicy"; },
          [](const UpdateCustomerPolicyCount&) { return "UpdateCustomerPolicyCount"; },
          [](const CancelPolicy&) { return "CancelPolicy"; },
          [](const RejectQuote&) { return "RejectQuote"; },
          [](const IssueQuote&) { return "IssueQuote"; },
      },
      payload);
}

const char* SagaCommand::target_type() const {
  return std::visit(Overloaded{
                        [](const CreatePolicy&) { return "policy"; },
                        [](const UpdateCustomerPolicyCount&) { return "customer"; },
                        [](const CancelPolicy&) { return "policy"; },
                        [](const RejectQuote&) { return "quote"; },
                        [](const IssueQuote&) { return "quote"; },
                    },
                    payload);
}

const std::string& SagaCommand::target_id() const {
  return std::visit(
      Overloaded{
          [](const CreatePolicy& c) -> const std::string& { return c.policy_id; },
          [](const UpdateCustomerPolicyCount& c) -> const std::string& { return c.customer_id; },
          [](const CancelPolicy& c) -> const std::string& { return c.policy_id; },
          [this](const RejectQuote&) -> const std::string& { return quote_id; },
          [this](const IssueQuote&) -> const std::string& { return quote_id; },
      },
      payload);
}

const char* SagaStepName(SagaStep step) {
  switch (step) {
    case SagaStep::kCreatePolicy:
      return "create-policy";
    case SagaStep::kCountPolicy:
      return "count-policy";
    case SagaStep::kIssueQuote:
      return "issue-quote";
    case SagaStep::kReleaseCount:
      return "release-count";
    case SagaStep::kCancelPolicy:
      return "cancel-policy";
    case SagaStep::kRejectQuote:
      return "reject-quote";
  }
  return "unknown";
}

absl::StatusOr<SagaStep> ParseSagaStep(absl::string_view name) {
  for (SagaStep s : kAllSteps) {
    if (name == SagaStepName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown saga step '", name, "'"));
}

const char* SagaStateName(SagaState state) {
  switch (state) {
    case SagaState::kPolicyRequested:
      return "POLICY_REQUESTED";
    case SagaState::kCustomerUpdateRequested:
      return "CUSTOMER_UPDATE_REQUESTED";
    case SagaState::kIssueRequested:
      return "ISSUE_REQUESTED";
    case SagaState::kCompleted:
      return "COMPLETED";
    case SagaState::kReleaseCountRequested:
      return "RELEASE_COUNT_REQUESTED";
    case SagaState::kCancelPolicyRequested:
      return "CANCEL_POLICY_REQUESTED";
    case SagaState::kRejectQuoteRequested:
      return "REJECT_QUOTE_REQUESTED";
    case SagaState::kCompensated:
      return "COMPENSATED";
    case SagaState::kStuck:
      return "STUCK";
  }
  return "UNKNOWN";
}

absl::StatusOr<SagaState> ParseSagaState(absl::string_view name) {
  for (SagaState s : kAllStates) {
    if (name == SagaStateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown saga state '", name, "'"));
}

SagaState StateWaitingFor(SagaStep step) {
  switch (step) {
    case SagaStep::kCreatePolicy:
      return SagaState::kPolicyRequested;
    case SagaStep::kCountPolicy:
      return SagaState::kCustomerUpdateRequested;
    case SagaStep::kIssueQuote:
      return SagaState::kIssueRequested;
    case SagaStep::kReleaseCount:
      return SagaState::kReleaseCountRequested;
    case SagaStep::kCancelPolicy:
      return SagaState::kCancelPolicyRequested;
    case SagaStep::kRejectQuote:
      return SagaState::kRejectQuoteRequested;
  }
  return SagaState::kStuck;
}

bool IsTerminal(SagaState state) {
  return state == SagaState::kCompleted || state == SagaState::kCompensated;
}

std::string SagaCommandId(absl::string_view quote_id, SagaStep step, int attempt) {
  return absl::StrCat(quote_id, "/saga/", SagaStepName(step), "/", attempt);
}

std::string ReplyEventId(absl::string_view command_id) {
  return absl::StrCat(command_id, "/reply");
}

std::optional<ReplyRef> ParseReplyEventId(absl::string_view event_id) {
  std::vector<absl::string_view> parts = absl::StrSplit(event_id, '/');
  if (parts.size() != 5 || parts[1] != "saga" || parts[4] != "reply" || parts[0].empty()) {
    return std::nullopt;
  }
  absl::StatusOr<SagaStep> step = ParseSagaStep(parts[2]);
  int attempt = 0;
  if (!step.ok() || !absl::SimpleAtoi(parts[3], &attempt) || attempt < 1) return std::nullopt;
  return ReplyRef{.quote_id = std::string(parts[0]), .step = *step, .attempt = attempt};
}

absl::StatusOr<SagaDecision> StartSaga(const DomainEvent& event, const SagaSettings& settings,
                                       absl::Time now) {
  const auto* approved = std::get_if<QuoteApproved>(&event.payload);
  if (approved == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("a saga starts on QuoteApproved, not on ", event.type()));
  }
  const std::string& quote_id = event.quote_id.empty() ? event.aggregate_id : event.quote_id;
  if (quote_id.empty()) return absl::InvalidArgumentError("quoteID: empty");
  if (approved->customer_id.empty()) return absl::InvalidArgumentError("data.customerId: empty");
  Saga saga{.quote_id = quote_id,
            .customer_id = approved->customer_id,
            .policy_id = PolicyIdForQuote(quote_id),
            .premium = approved->premium,
            .quote_version = event.aggregate_version,
            .attempt = 0,
            .step_attempts = 0,
            .created_at = now,
            .updated_at = now};
  Builder b(saga, settings, now);
  b.Note("saga", 0, "started", absl::StrCat("QuoteApproved ", event.event_id));
  b.SendFirst(SagaStep::kCreatePolicy);
  return b.Take();
}

absl::StatusOr<SagaDecision> DecideOnReply(const Saga& saga, const DomainEvent& reply,
                                           const SagaSettings& settings, absl::Time now) {
  Builder b(saga, settings, now);
  std::optional<ReplyRef> ref = ParseReplyEventId(reply.event_id);
  if (!ref.has_value() || ref->quote_id != saga.quote_id || IsTerminal(saga.state)) {
    return b.Take();  // not a reply to this saga, or too late to matter: unchanged
  }
  const std::string what = absl::StrCat(reply.type(), " ", reply.event_id);
  if (ref->step != saga.step) {
    b.Note(ref->step, ref->attempt, "late-reply", what);
    return b.Take();
  }
  if (saga.state == SagaState::kStuck) {
    // The reply the stuck step waited for (any attempt of it: each attempt is the same idempotent
    // command): it resolves the saga exactly as it would have before the saga got stuck.
    b.Note(ref->step, ref->attempt, "unstuck",
           absl::StrCat(what, " (was: ", saga.stuck_reason, ")"));
  }
  auto unexpected = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected reply ", reply.type(), " to step ", SagaStepName(saga.step)));
  };
  const SagaStep step = saga.step;
  const int attempt = ref->attempt;
  switch (step) {
    case SagaStep::kCreatePolicy:
      if (std::holds_alternative<PolicyCreated>(reply.payload)) {
        b.Note(step, attempt, "succeeded", what);
        b.SendFirst(SagaStep::kCountPolicy);
      } else if (const auto* r = std::get_if<QuoteRejected>(&reply.payload)) {
        b.Note(step, attempt, "refused", r->reason);
        b.Compensate(SagaStep::kRejectQuote, r->reason);
      } else {
        return unexpected();
      }
      break;
    case SagaStep::kCountPolicy:
      if (const auto* u = std::get_if<CustomerPolicyCountUpdated>(&reply.payload);
          u != nullptr && u->delta > 0) {
        b.Note(step, attempt, "succeeded", Describe(reply));
        b.SendFirst(SagaStep::kIssueQuote);
      } else if (const auto* r = std::get_if<CustomerPolicyCountRejected>(&reply.payload)) {
        b.Note(step, attempt, "refused", r->reason);
        // Choreography's policy-worker cancels with the customer's reason and rejects the quote
        // with "policy <id> cancelled: <reason>"; the same texts keep the final states identical.
        b.Compensate(SagaStep::kCancelPolicy, r->reason);
      } else {
        return unexpected();
      }
      break;
    case SagaStep::kIssueQuote:
      if (!std::holds_alternative<QuoteIssued>(reply.payload)) return unexpected();
      b.Note(step, attempt, "succeeded", what);
      b.Finish(SagaState::kCompleted);
      break;
    case SagaStep::kReleaseCount:
      if (const auto* u = std::get_if<CustomerPolicyCountUpdated>(&reply.payload);
          u != nullptr && u->delta <= 0) {
        b.Note(step, attempt, "succeeded", Describe(reply));
        b.SendFirst(SagaStep::kCancelPolicy);
      } else {
        return unexpected();
      }
      break;
    case SagaStep::kCancelPolicy:
      if (!std::holds_alternative<PolicyCancelled>(reply.payload)) return unexpected();
      b.Note(step, attempt, "succeeded", what);
      b.saga().failure_reason =
          absl::StrCat("policy ", saga.policy_id, " cancelled: ", saga.failure_reason);
      b.SendFirst(SagaStep::kRejectQuote);
      break;
    case SagaStep::kRejectQuote:
      if (!std::holds_alternative<QuoteRejected>(reply.payload)) return unexpected();
      b.Note(step, attempt, "succeeded", what);
      b.Finish(SagaState::kCompensated);
      break;
  }
  return b.Take();
}

SagaDecision DecideOnDeadline(const Saga& saga, const SagaSettings& settings, absl::Time now) {
  Builder b(saga, settings, now);
  if (IsTerminal(saga.state) || saga.state == SagaState::kStuck || !saga.deadline.has_value() ||
      now < *saga.deadline) {
    return b.Take();
  }
  const SagaStep step = saga.step;
  b.Note(step, saga.attempt, "timed-out",
         absl::StrCat("no reply within the deadline (attempt ", saga.step_attempts, ")"));
  if (IsCompensable(step)) {
    if (saga.step_attempts < settings.max_step_attempts) {
      b.Send(step, /*fresh_budget=*/false, settings.step_deadline);
      return b.Take();
    }
    const std::string reason = absl::StrCat("no reply to ", SagaStepName(step), " after ",
                                            saga.step_attempts, " attempts");
    // A step that timed out may still take effect: it is compensated too.
    b.Compensate(
        step == SagaStep::kCreatePolicy ? SagaStep::kCancelPolicy : SagaStep::kReleaseCount,
        reason);
    return b.Take();
  }
  if (settings.max_compensation_attempts <= 0 ||
      saga.step_attempts < settings.max_compensation_attempts) {
    b.Send(step, /*fresh_budget=*/false, b.Backoff(saga.step_attempts + 1));
    return b.Take();
  }
  b.Stick(
      absl::StrCat("no reply to ", SagaStepName(step), " after ", saga.step_attempts, " attempts"));
  return b.Take();
}

absl::StatusOr<SagaDecision> ResumeStuck(const Saga& saga, const SagaSettings& settings,
                                         absl::Time now) {
  if (saga.state != SagaState::kStuck) {
    return absl::FailedPreconditionError(
        absl::StrCat("saga ", saga.quote_id, " is ", SagaStateName(saga.state), ", not STUCK"));
  }
  Builder b(saga, settings, now);
  b.Note(saga.step, saga.attempt, "resumed", saga.stuck_reason);
  b.Send(saga.step, /*fresh_budget=*/true, settings.step_deadline);
  return b.Take();
}

}  // namespace quoteflow
