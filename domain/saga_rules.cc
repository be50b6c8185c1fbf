#include "domain/saga_rules.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"
#include "domain/status_macros.h"

namespace quoteflow {
namespace {

template <class T>
absl::StatusOr<const T*> PayloadAs(const DomainEvent& event) {
  const T* payload = std::get_if<T>(&event.payload);
  if (payload == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", event.event_id, " is a ", event.type(), ", not the expected type"));
  }
  return payload;
}

absl::Status RequireQuoteId(const DomainEvent& event) {
  if (event.quote_id.empty()) return InvalidField("quoteID", "is required on saga events");
  return absl::OkStatus();
}

absl::Status ValidatePolicyId(absl::string_view policy_id) {
  if (policy_id.empty()) return InvalidField("policy_id", "is required");
  if (policy_id.size() > kMaxIdLength + 4) return InvalidField("policy_id", "is too long");
  return absl::OkStatus();
}

}  // namespace

std::string DerivedEventId(absl::string_view aggregate_id, absl::string_view fact) {
  return absl::StrCat(aggregate_id, "/", fact);
}

std::optional<std::string> UnderwritingRefusal(int64_t premium, int64_t underwriting_limit) {
  if (premium <= underwriting_limit) return std::nullopt;
  return absl::StrCat("premium ", premium, " exceeds the underwriting limit ", underwriting_limit);
}

absl::StatusOr<QuoteApprovedDecision> DecideOnQuoteApproved(const DomainEvent& event,
                                                            const std::optional<Policy>& existing,
                                                            bool declined,
                                                            int64_t underwriting_limit,
                                                            absl::Time now) {
  ASSIGN_OR_RETURN(const QuoteApproved* approved, PayloadAs<QuoteApproved>(event));
  // The policy is derived from the quote being approved: the aggregate id is the quote id.
  ASSIGN_OR_RETURN(Policy policy, Policy::Create(event.aggregate_id, approved->customer_id,
                                                 approved->premium, event.aggregate_version, now));
  QuoteApprovedDecision decision;
  if (existing.has_value() || declined) return decision;
  if (std::optional<std::string> refusal =
          UnderwritingRefusal(approved->premium, underwriting_limit)) {
    decision.decline = QuoteDecline{.quote_id = event.aggregate_id,
                                    .customer_id = approved->customer_id,
                                    .premium = approved->premium,
                                    .reason = *refusal,
                                    .declined_at = now};
    decision.events.push_back(DomainEvent{
        .event_id = DerivedEventId(event.aggregate_id, "rejected"),
        .aggregate_id = event.aggregate_id,
        .quote_id = event.aggregate_id,
        // The quote's next version: quote-worker's REJECTED state will have it.
        .aggregate_version = event.aggregate_version + 1,
        .occurred_at = now,
        .payload = QuoteRejected{.customer_id = approved->customer_id, .reason = *refusal}});
    return decision;
  }
  decision.events.push_back(
      DomainEvent{.event_id = DerivedEventId(policy.policy_id(), "created"),
                  .aggregate_id = policy.policy_id(),
                  .quote_id = policy.quote_id(),
                  .aggregate_version = policy.version(),
                  .occurred_at = now,
                  .payload = PolicyCreated{.policy_id = policy.policy_id(),
                                           .customer_id = policy.customer_id(),
                                           .premium = policy.premium()}});
  decision.new_policy = std::move(policy);
  return decision;
}

absl::StatusOr<PolicyCancellationDecision> DecideOnCustomerPolicyCountRejected(
    const DomainEvent& event, const std::optional<Policy>& policy, absl::Time now) {
  ASSIGN_OR_RETURN(const CustomerPolicyCountRejected* rejected,
                   PayloadAs<CustomerPolicyCountRejected>(event));
  RETURN_IF_ERROR(ValidatePolicyId(rejected->policy_id));
  if (!policy.has_value()) {
    return absl::NotFoundError(absl::StrCat("policy ", rejected->policy_id, " not found"));
  }
  if (policy->customer_id() != rejected->customer_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy ", policy->policy_id(), " belongs to customer ", policy->customer_id(),
                     ", not to ", rejected->customer_id));
  }
  PolicyCancellationDecision decision;
  Policy cancelled = *policy;
  const std::string reason =
      rejected->reason.empty()
          ? absl::StrCat("customer ", rejected->customer_id, " refused the policy")
          : rejected->reason;
  ASSIGN_OR_RETURN(bool changed, cancelled.Cancel(reason, now));
  if (!changed) return decision;
  decision.events.push_back(
      DomainEvent{.event_id = DerivedEventId(cancelled.policy_id(), "cancelled"),
                  .aggregate_id = cancelled.policy_id(),
                  .quote_id = cancelled.quote_id(),
                  .aggregate_version = cancelled.version(),
                  .occurred_at = now,
                  .payload = PolicyCancelled{.policy_id = cancelled.policy_id(),
                                             .customer_id = cancelled.customer_id(),
                                             .reason = reason}});
  decision.events.push_back(DomainEvent{
      .event_id = DerivedEventId(cancelled.quote_id(), "rejected"),
      .aggregate_id = cancelled.quote_id(),
      .quote_id = cancelled.quote_id(),
      .aggregate_version = cancelled.quote_version() + 1,
      .occurred_at = now,
      .payload = QuoteRejected{
          .customer_id = cancelled.customer_id(),
          .reason = absl::StrCat("policy ", cancelled.policy_id(), " cancelled: ", reason),
          .policy_id = cancelled.policy_id()}});
  decision.cancelled = std::move(cancelled);
  return decision;
}

absl::StatusOr<CustomerDecision> DecideOnPolicyCreated(const DomainEvent& event,
                                                       const std::optional<Customer>& customer,
                                                       const std::optional<PolicyCountEntry>& entry,
                                                       absl::Time now) {
  ASSIGN_OR_RETURN(const PolicyCreated* created, PayloadAs<PolicyCreated>(event));
  RETURN_IF_ERROR(RequireQuoteId(event));
  RETURN_IF_ERROR(ValidatePolicyId(created->policy_id));
  RETURN_IF_ERROR(ValidateId("customer_id", created->customer_id));
  CustomerDecision decision;
  if (entry.has_value()) return decision;
  const std::string& cid = created->customer_id;
  const std::string& pid = created->policy_id;
  PolicyCountEntry new_entry{.policy_id = pid,
                             .customer_id = cid,
                             .quote_id = event.quote_id,
                             .status = PolicyCountStatus::kCounted,
                             .updated_at = now};
  auto reject = [&](std::string reason, int64_t version) {
    new_entry.status = PolicyCountStatus::kRejected;
    new_entry.reason = reason;
    decision.events.push_back(
        DomainEvent{.event_id = DerivedEventId(absl::StrCat(cid, "/", pid), "count-rejected"),
                    .aggregate_id = cid,
                    .quote_id = event.quote_id,
                    .aggregate_version = version,
                    .occurred_at = now,
                    .payload = CustomerPolicyCountRejected{
                        .customer_id = cid, .policy_id = pid, .reason = std::move(reason)}});
    decision.entry = std::move(new_entry);
  };
  if (!customer.has_value()) {
    reject(absl::StrCat("customer ", cid, " is not registered"), 0);
    return decision;
  }
  Customer changed = *customer;
  if (absl::Status counted = changed.CountPolicy(now); !counted.ok()) {
    changed.RecordRejection(now);
    reject(std::string(counted.message()), changed.version());
    decision.customer = std::move(changed);
    return decision;
  }
  decision.events.push_back(
      DomainEvent{.event_id = DerivedEventId(absl::StrCat(cid, "/", pid), "counted"),
                  .aggregate_id = cid,
                  .quote_id = event.quote_id,
                  .aggregate_version = changed.version(),
                  .occurred_at = now,
                  .payload = CustomerPolicyCountUpdated{.customer_id = cid,
                                                        .policy_id = pid,
                                                        .policy_count = changed.policy_count(),
                                                        .delta = 1}});
  decision.customer = std::move(changed);
  decision.entry = std::move(new_entry);
  return decision;
}

absl::StatusOr<CustomerDecision> DecideOnPolicyCancelled(
    const DomainEvent& event, const std::optional<Customer>& customer,
    const std::optional<PolicyCountEntry>& entry, absl::Time now) {
  ASSIGN_OR_RETURN(const PolicyCancelled* cancelled, PayloadAs<PolicyCancelled>(event));
  RETURN_IF_ERROR(ValidatePolicyId(cancelled->policy_id));
  RETURN_IF_ERROR(ValidateId("customer_id", cancelled->customer_id));
  const std::string& cid = cancelled->customer_id;
  const std::string& pid = cancelled->policy_id;
  CustomerDecision decision;
  if (!entry.has_value()) {
    decision.entry = PolicyCountEntry{.policy_id = pid,
                                      .customer_id = cid,
                                      .quote_id = event.quote_id,
                                      .status = PolicyCountStatus::kUncounted,
                                      .reason = "cancelled before it was counted",
                                      .updated_at = now};
    return decision;
  }
  if (entry->status != PolicyCountStatus::kCounted) return decision;
  if (!customer.has_value() || customer->customer_id() != entry->customer_id) {
    return absl::FailedPreconditionError(absl::StrCat("policy ", pid, " is counted for customer ",
                                                      entry->customer_id, ", which is not loaded"));
  }
  Customer changed = *customer;
  RETURN_IF_ERROR(changed.UncountPolicy(now));
  PolicyCountEntry updated = *entry;
  updated.status = PolicyCountStatus::kUncounted;
  updated.updated_at = now;
  decision.events.push_back(DomainEvent{
      .event_id = DerivedEventId(absl::StrCat(changed.customer_id(), "/", pid), "uncounted"),
      .aggregate_id = changed.customer_id(),
      .quote_id = event.quote_id.empty() ? entry->quote_id : event.quote_id,
      .aggregate_version = changed.version(),
      .occurred_at = now,
      .payload = CustomerPolicyCountUpdated{.customer_id = changed.customer_id(),
                                            .policy_id = pid,
                                            .policy_count = changed.policy_count(),
                                            .delta = -1}});
  decision.customer = std::move(changed);
  decision.entry = std::move(updated);
  return decision;
}

absl::StatusOr<bool> ApplyQuoteRejected(const DomainEvent& event, Quote& quote, absl::Time now) {
  ASSIGN_OR_RETURN(const QuoteRejected* rejected, PayloadAs<QuoteRejected>(event));
  const std::string reason = rejected->reason.empty() ? "rejected" : rejected->reason;
  return quote.Reject(reason, now);
}

absl::StatusOr<std::optional<std::string>> QuoteIssuedBy(const DomainEvent& event) {
  ASSIGN_OR_RETURN(const CustomerPolicyCountUpdated* updated,
                   PayloadAs<CustomerPolicyCountUpdated>(event));
  if (updated->delta <= 0) return std::optional<std::string>();
  RETURN_IF_ERROR(RequireQuoteId(event));
  return std::optional<std::string>(event.quote_id);
}

absl::StatusOr<bool> ApplyPolicyCounted(const DomainEvent& event, Quote& quote, absl::Time now) {
  ASSIGN_OR_RETURN(std::optional<std::string> quote_id, QuoteIssuedBy(event));
  if (!quote_id.has_value()) return false;
  if (*quote_id != quote.quote_id()) {
    return absl::InvalidArgumentError(absl::StrCat("event ", event.event_id, " concerns quote ",
                                                   *quote_id, ", not ", quote.quote_id()));
  }
  return quote.MarkIssued(now);
}

}  // namespace quoteflow
