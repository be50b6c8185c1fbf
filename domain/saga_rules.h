// The rules of the quote saga by choreography, as pure functions from (incoming event, current
// state) to a decision: the new state to store and the events to emit. No I/O, no clock reads (the
// caller passes `now`); thread-safe.
//
// The chain (DESIGN.md section 1):
//   QuoteApproved --policy--> PolicyCreated | QuoteRejected (premium above the underwriting limit)
//   PolicyCreated --customer--> CustomerPolicyCountUpdated(+1) | CustomerPolicyCountRejected
//                               (customer not registered, or at its maximum; count unchanged)
//   CustomerPolicyCountRejected --policy--> policy CANCELLED + PolicyCancelled + QuoteRejected
//   PolicyCancelled --customer--> CustomerPolicyCountUpdated(-1) if the policy was counted
//   CustomerPolicyCountUpdated(+1) --quote--> quote ISSUED
//   QuoteRejected --quote--> quote REJECTED with the reason
// The quote is marked ISSUED only once the customer counted the policy, i.e. when nothing can fail
// any more; PolicyCreated alone does not issue it. So a quote never goes ISSUED -> REJECTED, and
// every approved quote ends ISSUED (policy ACTIVE, count +1) or REJECTED (no active policy, count
// unchanged): invariant I5.
//
// Idempotency: every decision looks at the state first; an event whose effect is already there
// decides "nothing to do" (no state change, no event). Emitted events get deterministic ids derived
// from the business fact they state (DerivedEventId), so even a fact reached twice has one id and
// downstream inboxes drop the copy.
#ifndef QUOTEFLOW_DOMAIN_SAGA_RULES_H_
#define QUOTEFLOW_DOMAIN_SAGA_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "domain/customer.h"
#include "domain/events.h"
#include "domain/policy.h"
#include "domain/quote.h"

namespace quoteflow {

// Default underwriting limit in minor units; premiums above it are refused.
inline constexpr int64_t kDefaultUnderwritingLimit = 1'000'000;
// Default maximum of active policies for a customer created without one.
inline constexpr int64_t kDefaultMaxPolicies = 3;

// "<aggregate_id>/<fact>", e.g. "pol-q1/created" or "cust-1/pol-q1/counted". Ids never contain
// '/', so distinct facts never share an id.
std::string DerivedEventId(absl::string_view aggregate_id, absl::string_view fact);

// ---- Policy side (policy-worker) ----

// A quote the policy side refused to insure; kept so that a repeated QuoteApproved is recognised.
struct QuoteDecline {
  std::string quote_id;
  std::string customer_id;
  int64_t premium = 0;
  std::string reason;
  absl::Time declined_at;

  friend bool operator==(const QuoteDecline&, const QuoteDecline&) = default;
};

// The reason a premium is refused ("premium 5000000 exceeds the underwriting limit 1000000"), or
// nullopt when it is acceptable (premium <= limit).
std::optional<std::string> UnderwritingRefusal(int64_t premium, int64_t underwriting_limit);

struct QuoteApprovedDecision {
  std::optional<Policy> new_policy;     // insert this policy ...
  std::optional<QuoteDecline> decline;  // ... or record this refusal (never both)
  std::vector<DomainEvent> events;      // PolicyCreated, or QuoteRejected
};

// On QuoteApproved. `existing` is the quote's policy if one exists; `declined` whether the quote
// was already refused. Either means the event was handled before: an empty decision.
// INVALID_ARGUMENT (field named) when the event is not a QuoteApproved or its payload is invalid.
absl::StatusOr<QuoteApprovedDecision> DecideOnQuoteApproved(const DomainEvent& event,
                                                            const std::optional<Policy>& existing,
                                                            bool declined,
                                                            int64_t underwriting_limit,
                                                            absl::Time now);

struct PolicyCancellationDecision {
  std::optional<Policy> cancelled;  // the policy to store (CANCELLED), if it changed
  std::vector<DomainEvent> events;  // PolicyCancelled, then QuoteRejected
};

// On CustomerPolicyCountRejected for `policy` (the policy named by the event): ACTIVE -> CANCELLED,
// emitting PolicyCancelled (policy aggregate) and QuoteRejected (quote aggregate, at the version
// after the quote's approval). Already CANCELLED: empty decision. INVALID_ARGUMENT for another
// event type or a payload naming no policy; NOT_FOUND when `policy` is nullopt;
// FAILED_PRECONDITION when the event's customer is not the policy's.
absl::StatusOr<PolicyCancellationDecision> DecideOnCustomerPolicyCountRejected(
    const DomainEvent& event, const std::optional<Policy>& policy, absl::Time now);

// ---- Customer side (customer-worker) ----

struct CustomerDecision {
  std::optional<Customer> customer;       // the customer to store, if it changed
  std::optional<PolicyCountEntry> entry;  // the policy's entry to insert or update, if it changed
  std::vector<DomainEvent> events;
};

// On PolicyCreated. `customer` is the registered customer (nullopt: not registered); `entry` the
// policy's existing entry (any entry: handled before, empty decision). Counts the policy
// (CustomerPolicyCountUpdated, delta +1) or rejects it (CustomerPolicyCountRejected; the count is
// unchanged; an unregistered customer's event has aggregate version 0).
// INVALID_ARGUMENT for another event type, a missing quote id or an invalid payload.
absl::StatusOr<CustomerDecision> DecideOnPolicyCreated(const DomainEvent& event,
                                                       const std::optional<Customer>& customer,
                                                       const std::optional<PolicyCountEntry>& entry,
                                                       absl::Time now);

// On PolicyCancelled. A COUNTED policy is subtracted (CustomerPolicyCountUpdated, delta -1) and its
// entry becomes UNCOUNTED; REJECTED or UNCOUNTED: empty decision; no entry yet (cancelled before it
// was seen): an UNCOUNTED entry is recorded, so a late PolicyCreated is not counted, and nothing is
// emitted. INVALID_ARGUMENT for another event type or an invalid payload; FAILED_PRECONDITION when
// a COUNTED policy's customer is missing or has no count to subtract.
absl::StatusOr<CustomerDecision> DecideOnPolicyCancelled(
    const DomainEvent& event, const std::optional<Customer>& customer,
    const std::optional<PolicyCountEntry>& entry, absl::Time now);

// ---- Quote side (quote-worker) ----

// On QuoteRejected: APPROVED (or DRAFT) -> REJECTED with the event's reason. Returns whether the
// quote changed (false: already REJECTED). INVALID_ARGUMENT for another event type;
// FAILED_PRECONDITION when the quote is ISSUED (cannot happen by the rules above).
absl::StatusOr<bool> ApplyQuoteRejected(const DomainEvent& event, Quote& quote, absl::Time now);

// The quote a CustomerPolicyCountUpdated concerns, if it issues one: delta > 0 names the envelope's
// quote id; delta <= 0 (an uncounted cancelled policy) issues nothing (nullopt).
// INVALID_ARGUMENT for another event type or a missing quote id.
absl::StatusOr<std::optional<std::string>> QuoteIssuedBy(const DomainEvent& event);

// On CustomerPolicyCountUpdated(+1): APPROVED -> ISSUED. Returns whether the quote changed (false:
// already ISSUED). FAILED_PRECONDITION when the quote is DRAFT or REJECTED.
absl::StatusOr<bool> ApplyPolicyCounted(const DomainEvent& event, Quote& quote, absl::Time now);

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_SAGA_RULES_H_
