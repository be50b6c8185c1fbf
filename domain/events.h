// Domain events of the quote saga, as plain values. The wire schema of each payload is defined in
// proto/quoteflow/v1/events.proto; platform/ maps between the two. Value types: thread-compatible.
#ifndef QUOTEFLOW_DOMAIN_EVENTS_H_
#define QUOTEFLOW_DOMAIN_EVENTS_H_

#include <cstdint>
#include <string>
#include <variant>

#include "absl/time/time.h"

namespace quoteflow {

struct QuoteApproved {
  std::string customer_id;
  int64_t premium = 0;
};
struct QuoteRejected {
  std::string customer_id;
  std::string reason;
  std::string policy_id;
};
struct PolicyCreated {
  std::string policy_id;
  std::string customer_id;
  int64_t premium = 0;
};
struct PolicyCancelled {
  std::string policy_id;
  std::string customer_id;
  std::string reason;
};
struct CustomerPolicyCountUpdated {
  std::string customer_id;
  std::string policy_id;
  int64_t policy_count = 0;
  int64_t delta = 0;
};
struct CustomerPolicyCountRejected {
  std::string customer_id;
  std::string policy_id;
  std::string reason;
};
// The quote was issued (orchestration: quote-worker's reply to IssueQuote; choreography issues the
// quote on CustomerPolicyCountUpdated and emits nothing).
struct QuoteIssued {
  std::string customer_id;
  std::string policy_id;
};

using EventPayload =
    std::variant<QuoteApproved, QuoteRejected, PolicyCreated, PolicyCancelled,
                 CustomerPolicyCountUpdated, CustomerPolicyCountRejected, QuoteIssued>;

// The event type name used on the wire ("QuoteApproved", ...).
const char* EventTypeName(const EventPayload& payload);

// The aggregate type that emits the payload: "quote", "policy" or "customer".
const char* AggregateTypeOf(const EventPayload& payload);

// One event with its envelope: which aggregate emitted it, at which version, when.
struct DomainEvent {
  std::string event_id;
  std::string aggregate_id;
  // The saga's correlation id: every event of one quote's saga carries it.
  std::string quote_id;
  int64_t aggregate_version = 0;
  absl::Time occurred_at;
  EventPayload payload;
  // W3C trace context of the work that caused the event ("": the outbox writer starts a new trace).
  std::string traceparent;

  const char* type() const { return EventTypeName(payload); }
  const char* aggregate_type() const { return AggregateTypeOf(payload); }
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_EVENTS_H_
