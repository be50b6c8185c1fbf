#include "domain/saga_participants.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "domain/policy.h"
#include "domain/saga_rules.h"
#include "domain/status_macros.h"

namespace quoteflow {
namespace {

// The reply of `command`: the id derived from the command, its saga's correlation id.
DomainEvent ReplyTo(const SagaCommand& command, std::string aggregate_id, int64_t version,
                    absl::Time now, EventPayload payload) {
  return DomainEvent{.event_id = ReplyEventId(command.command_id),
                     .aggregate_id = std::move(aggregate_id),
                     .quote_id = command.quote_id,
                     .aggregate_version = version,
                     .occurred_at = now,
                     .payload = std::move(payload)};
}

// A decided event re-addressed as the command's reply.
DomainEvent AsReply(const SagaCommand& command, DomainEvent event) {
  event.event_id = ReplyEventId(command.command_id);
  event.quote_id = command.quote_id;
  return event;
}

absl::Status NotHandled(const SagaCommand& command, absl::string_view who) {
  return absl::InvalidArgumentError(absl::StrCat(who, " does not handle command ", command.type()));
}

absl::Status RequireQuoteId(const SagaCommand& command) {
  if (command.quote_id.empty()) return absl::InvalidArgumentError("quoteID: empty");
  return absl::OkStatus();
}

}  // namespace

bool PolicyCommandService::Wants(absl::string_view type) {
  return type == "CreatePolicy" || type == "CancelPolicy";
}

absl::Status PolicyCommandService::Handle(PolicySagaStore& store, ReplySink& replies,
                                          const SagaCommand& command) {
  RETURN_IF_ERROR(RequireQuoteId(command));
  const absl::Time now = clock_.Now();
  const std::string policy_id = PolicyIdForQuote(command.quote_id);
  if (const auto* create = std::get_if<CreatePolicy>(&command.payload)) {
    ASSIGN_OR_RETURN(std::optional<Policy> existing, store.LockPolicy(policy_id));
    bool declined = false;
    if (!existing.has_value()) {
      ASSIGN_OR_RETURN(declined, store.IsDeclined(command.quote_id));
    }
    const DomainEvent approved{
        .event_id = command.command_id,
        .aggregate_id = command.quote_id,
        .quote_id = command.quote_id,
        .aggregate_version = create->quote_version,
        .occurred_at = now,
        .payload = QuoteApproved{.customer_id = create->customer_id, .premium = create->premium}};
    ASSIGN_OR_RETURN(QuoteApprovedDecision d,
                     DecideOnQuoteApproved(approved, existing, declined, underwriting_limit_, now));
    if (d.new_policy.has_value()) RETURN_IF_ERROR(store.InsertPolicy(*d.new_policy));
    if (d.decline.has_value()) RETURN_IF_ERROR(store.InsertDecline(*d.decline));
    if (!d.events.empty()) return replies.Reply(AsReply(command, std::move(d.events.front())));
    // Handled before: answer with the current outcome.
    if (existing.has_value() && existing->status() == PolicyStatus::kActive) {
      return replies.Reply(ReplyTo(command, policy_id, existing->version(), now,
                                   PolicyCreated{.policy_id = policy_id,
                                                 .customer_id = existing->customer_id(),
                                                 .premium = existing->premium()}));
    }
    const std::string reason =
        existing.has_value()
            ? absl::StrCat("policy ", policy_id, " is cancelled: ", existing->cancellation_reason())
            : absl::StrCat("quote ", command.quote_id, " was declined");
    return replies.Reply(ReplyTo(
        command, command.quote_id, create->quote_version + 1, now,
        QuoteRejected{.customer_id = create->customer_id, .reason = reason, .policy_id = ""}));
  }
  if (const auto* cancel = std::get_if<CancelPolicy>(&command.payload)) {
    const std::string reason =
        cancel->reason.empty() ? std::string("cancelled by the saga orchestrator") : cancel->reason;
    ASSIGN_OR_RETURN(std::optional<Policy> existing, store.LockPolicy(policy_id));
    if (existing.has_value()) {
      if (existing->customer_id() != cancel->customer_id) {
        return absl::FailedPreconditionError(
            absl::StrCat("policy ", policy_id, " belongs to customer ", existing->customer_id(),
                         ", not to ", cancel->customer_id));
      }
      Policy cancelled = *existing;
      ASSIGN_OR_RETURN(bool changed, cancelled.Cancel(reason, now));
      if (changed) RETURN_IF_ERROR(store.UpdatePolicy(cancelled, existing->version()));
      return replies.Reply(ReplyTo(command, policy_id, cancelled.version(), now,
                                   PolicyCancelled{.policy_id = policy_id,
                                                   .customer_id = cancelled.customer_id(),
                                                   .reason = cancelled.cancellation_reason()}));
    }
    // Not created (yet): decline the quote, so that a late CreatePolicy is refused.
    ASSIGN_OR_RETURN(bool declined, store.IsDeclined(command.quote_id));
    if (!declined) {
      RETURN_IF_ERROR(store.InsertDecline(
          QuoteDecline{.quote_id = command.quote_id,
                       .customer_id = cancel->customer_id,
                       .premium = 0,
                       .reason = absl::StrCat("cancelled before the policy was created: ", reason),
                       .declined_at = now}));
    }
    return replies.Reply(
        ReplyTo(command, policy_id, 0, now,
                PolicyCancelled{
                    .policy_id = policy_id, .customer_id = cancel->customer_id, .reason = reason}));
  }
  return NotHandled(command, "policy-worker");
}

bool CustomerCommandService::Wants(absl::string_view type) {
  return type == "UpdateCustomerPolicyCount";
}

absl::Status CustomerCommandService::Handle(CustomerSagaStore& store, ReplySink& replies,
                                            const SagaCommand& command) {
  RETURN_IF_ERROR(RequireQuoteId(command));
  const auto* update = std::get_if<UpdateCustomerPolicyCount>(&command.payload);
  if (update == nullptr) return NotHandled(command, "customer-worker");
  if (update->delta != 1 && update->delta != -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data.delta: must be 1 or -1, not ", update->delta));
  }
  const absl::Time now = clock_.Now();
  const std::string& cid = update->customer_id;
  const std::string& pid = update->policy_id;
  // Lock the customer first (as CustomerSaga does), then read the entry.
  std::optional<Customer> customer;
  if (!cid.empty()) {
    ASSIGN_OR_RETURN(customer, store.LockCustomer(cid));
  }
  std::optional<PolicyCountEntry> entry;
  if (!pid.empty()) {
    ASSIGN_OR_RETURN(entry, store.FindEntry(pid));
  }
  DomainEvent fact{.event_id = command.command_id,
                   .aggregate_id = pid,
                   .quote_id = command.quote_id,
                   .occurred_at = now};
  if (update->delta > 0) {
    fact.payload = PolicyCreated{.policy_id = pid, .customer_id = cid, .premium = 0};
  } else {
    fact.payload = PolicyCancelled{.policy_id = pid, .customer_id = cid, .reason = "released"};
  }
  ASSIGN_OR_RETURN(CustomerDecision d, update->delta > 0
                                           ? DecideOnPolicyCreated(fact, customer, entry, now)
                                           : DecideOnPolicyCancelled(fact, customer, entry, now));
  if (d.customer.has_value()) {
    RETURN_IF_ERROR(store.UpdateCustomer(*d.customer, customer->version()));
  }
  if (d.entry.has_value()) RETURN_IF_ERROR(store.SaveEntry(*d.entry));
  if (!d.events.empty()) return replies.Reply(AsReply(command, std::move(d.events.front())));
  // Nothing changed: answer with the current outcome.
  const int64_t count = customer.has_value() ? customer->policy_count() : 0;
  const int64_t version = customer.has_value() ? customer->version() : 0;
  if (update->delta < 0) {
    return replies.Reply(
        ReplyTo(command, cid, version, now,
                CustomerPolicyCountUpdated{
                    .customer_id = cid, .policy_id = pid, .policy_count = count, .delta = 0}));
  }
  const std::optional<PolicyCountEntry>& current = d.entry.has_value() ? d.entry : entry;
  if (current.has_value() && current->status == PolicyCountStatus::kCounted) {
    return replies.Reply(
        ReplyTo(command, cid, version, now,
                CustomerPolicyCountUpdated{
                    .customer_id = cid, .policy_id = pid, .policy_count = count, .delta = 1}));
  }
  std::string reason = current.has_value() && current->status == PolicyCountStatus::kRejected
                           ? current->reason
                           : absl::StrCat("policy ", pid, " was released before it was counted");
  return replies.Reply(
      ReplyTo(command, cid, version, now,
              CustomerPolicyCountRejected{.customer_id = cid, .policy_id = pid, .reason = reason}));
}

bool QuoteCommandService::Wants(absl::string_view type) {
  return type == "IssueQuote" || type == "RejectQuote";
}

absl::Status QuoteCommandService::Handle(QuoteSagaStore& store, ReplySink& replies,
                                         const SagaCommand& command) {
  RETURN_IF_ERROR(RequireQuoteId(command));
  const absl::Time now = clock_.Now();
  if (std::holds_alternative<IssueQuote>(command.payload) ||
      std::holds_alternative<RejectQuote>(command.payload)) {
    ASSIGN_OR_RETURN(Quote quote, store.LockQuote(command.quote_id));
    const int64_t before = quote.version();
    if (const auto* issue = std::get_if<IssueQuote>(&command.payload)) {
      ASSIGN_OR_RETURN(bool changed, quote.MarkIssued(now));
      if (changed) RETURN_IF_ERROR(store.UpdateQuote(quote, before));
      return replies.Reply(
          ReplyTo(command, quote.quote_id(), quote.version(), now,
                  QuoteIssued{.customer_id = quote.customer_id(), .policy_id = issue->policy_id}));
    }
    const auto& reject = std::get<RejectQuote>(command.payload);
    ASSIGN_OR_RETURN(bool changed,
                     quote.Reject(reject.reason.empty() ? "rejected" : reject.reason, now));
    if (changed) RETURN_IF_ERROR(store.UpdateQuote(quote, before));
    return replies.Reply(ReplyTo(command, quote.quote_id(), quote.version(), now,
                                 QuoteRejected{.customer_id = quote.customer_id(),
                                               .reason = quote.rejection_reason(),
                                               .policy_id = reject.policy_id}));
  }
  return NotHandled(command, "quote-worker");
}

}  // namespace quoteflow
