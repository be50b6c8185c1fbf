#include "domain/saga_services.h"

#include "domain/status_macros.h"

namespace quoteflow {
namespace {

template <class Store>
absl::Status EmitAll(Store& store, const std::vector<DomainEvent>& events) {
  for (const DomainEvent& e : events) RETURN_IF_ERROR(store.Emit(e));
  return absl::OkStatus();
}

}  // namespace

const char* SagaOutcomeName(SagaOutcome outcome) {
  switch (outcome) {
    case SagaOutcome::kIgnored:
      return "ignored";
    case SagaOutcome::kDuplicate:
      return "duplicate";
    case SagaOutcome::kApplied:
      return "applied";
  }
  return "unknown";
}

bool PolicySaga::Wants(absl::string_view event_type) {
  return event_type == "QuoteApproved" || event_type == "CustomerPolicyCountRejected";
}

absl::StatusOr<SagaOutcome> PolicySaga::Apply(PolicySagaStore& store, const DomainEvent& event) {
  const absl::Time now = clock_.Now();
  if (std::holds_alternative<QuoteApproved>(event.payload)) {
    const std::string policy_id = PolicyIdForQuote(event.aggregate_id);
    ASSIGN_OR_RETURN(std::optional<Policy> existing, store.LockPolicy(policy_id));
    bool declined = false;
    if (!existing.has_value()) {
      ASSIGN_OR_RETURN(declined, store.IsDeclined(event.aggregate_id));
    }
    ASSIGN_OR_RETURN(QuoteApprovedDecision d,
                     DecideOnQuoteApproved(event, existing, declined, underwriting_limit_, now));
    if (d.new_policy.has_value()) RETURN_IF_ERROR(store.InsertPolicy(*d.new_policy));
    if (d.decline.has_value()) RETURN_IF_ERROR(store.InsertDecline(*d.decline));
    RETURN_IF_ERROR(EmitAll(store, d.events));
    return d.events.empty() ? SagaOutcome::kDuplicate : SagaOutcome::kApplied;
  }
  if (const auto* rejected = std::get_if<CustomerPolicyCountRejected>(&event.payload)) {
    std::optional<Policy> policy;
    if (!rejected->policy_id.empty()) {
      ASSIGN_OR_RETURN(policy, store.LockPolicy(rejected->policy_id));
    }
    ASSIGN_OR_RETURN(PolicyCancellationDecision d,
                     DecideOnCustomerPolicyCountRejected(event, policy, now));
    if (d.cancelled.has_value()) {
      RETURN_IF_ERROR(store.UpdatePolicy(*d.cancelled, policy->version()));
    }
    RETURN_IF_ERROR(EmitAll(store, d.events));
    return d.events.empty() ? SagaOutcome::kDuplicate : SagaOutcome::kApplied;
  }
  return SagaOutcome::kIgnored;
}

bool CustomerSaga::Wants(absl::string_view event_type) {
  return event_type == "PolicyCreated" || event_type == "PolicyCancelled";
}

absl::StatusOr<SagaOutcome> CustomerSaga::Apply(CustomerSagaStore& store,
                                                const DomainEvent& event) {
  const absl::Time now = clock_.Now();
  std::string customer_id;
  std::string policy_id;
  if (const auto* created = std::get_if<PolicyCreated>(&event.payload)) {
    customer_id = created->customer_id;
    policy_id = created->policy_id;
  } else if (const auto* cancelled = std::get_if<PolicyCancelled>(&event.payload)) {
    customer_id = cancelled->customer_id;
    policy_id = cancelled->policy_id;
  } else {
    return SagaOutcome::kIgnored;
  }
  // Lock the customer first: concurrent events of one customer (policies of several partitions)
  // queue here, and the entry is read after the lock, so it is current.
  std::optional<Customer> customer;
  if (!customer_id.empty()) {
    ASSIGN_OR_RETURN(customer, store.LockCustomer(customer_id));
  }
  std::optional<PolicyCountEntry> entry;
  if (!policy_id.empty()) {
    ASSIGN_OR_RETURN(entry, store.FindEntry(policy_id));
  }
  absl::StatusOr<CustomerDecision> decided =
      std::holds_alternative<PolicyCreated>(event.payload)
          ? DecideOnPolicyCreated(event, customer, entry, now)
          : DecideOnPolicyCancelled(event, customer, entry, now);
  if (!decided.ok()) return decided.status();
  CustomerDecision& d = *decided;
  if (d.customer.has_value())
    RETURN_IF_ERROR(store.UpdateCustomer(*d.customer, customer->version()));
  if (d.entry.has_value()) RETURN_IF_ERROR(store.SaveEntry(*d.entry));
  RETURN_IF_ERROR(EmitAll(store, d.events));
  return d.customer.has_value() || d.entry.has_value() || !d.events.empty()
             ? SagaOutcome::kApplied
             : SagaOutcome::kDuplicate;
}

bool QuoteSaga::Wants(absl::string_view event_type) {
  return event_type == "QuoteRejected" || event_type == "CustomerPolicyCountUpdated";
}

absl::StatusOr<SagaOutcome> QuoteSaga::Apply(QuoteSagaStore& store, const DomainEvent& event) {
  const absl::Time now = clock_.Now();
  std::string quote_id;
  if (std::holds_alternative<QuoteRejected>(event.payload)) {
    quote_id = event.aggregate_id;
  } else if (std::holds_alternative<CustomerPolicyCountUpdated>(event.payload)) {
    ASSIGN_OR_RETURN(std::optional<std::string> issued, QuoteIssuedBy(event));
    if (!issued.has_value()) return SagaOutcome::kIgnored;
    quote_id = *issued;
  } else {
    return SagaOutcome::kIgnored;
  }
  ASSIGN_OR_RETURN(Quote quote, store.LockQuote(quote_id));
  const int64_t old_version = quote.version();
  absl::StatusOr<bool> changed = std::holds_alternative<QuoteRejected>(event.payload)
                                     ? ApplyQuoteRejected(event, quote, now)
                                     : ApplyPolicyCounted(event, quote, now);
  if (!changed.ok()) return changed.status();
  if (!*changed) return SagaOutcome::kDuplicate;
  RETURN_IF_ERROR(store.UpdateQuote(quote, old_version));
  return SagaOutcome::kApplied;
}

}  // namespace quoteflow
