// Writes domain events into a service's transactional outbox (<schema>.outbox) inside the caller's
// transaction, as the JSON envelope the relay publishes verbatim. Stateless; thread-safe as long as
// each transaction is used by one thread.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_WRITER_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_WRITER_H_

#include <array>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "domain/events.h"
#include "platform/observability/trace_context.h"

namespace quoteflow {

struct OutboxTarget {
  std::string schema;  // "quote", "policy", "customer", "saga"
  std::string source;  // CloudEvents ce_source, e.g. "/quoteflow/quote-api"
};

// Inserts one outbox row for `event`. `traceparent` may be empty (a new trace is started).
// `topic` empty means the relay maps the aggregate type to a topic. Throws pqxx exceptions (the
// caller's adapter maps them).
void InsertOutboxRow(pqxx::transaction_base& tx, const OutboxTarget& target,
                     const DomainEvent& event, absl::string_view traceparent = "",
                     absl::string_view topic = "");

constexpr size_t kOutboxRowValues = 11;

// One outbox row's values as text, in the outbox table's column order (event_id, event_type,
// aggregate_type, aggregate_id, aggregate_version, quote_id, topic, payload, source, traceparent,
// occurred_at); topic "" stands for NULL, an empty `traceparent` starts a new trace.
std::array<std::string, kOutboxRowValues> OutboxValues(const OutboxTarget& target,
                                                       const DomainEvent& event,
                                                       absl::string_view traceparent = "",
                                                       absl::string_view topic = "");

// The outbox rows of one transaction, held so that they go in as one INSERT per outbox just before
// COMMIT instead of one round trip each: the consumer runtime keeps one per transaction, so a batch
// of events costs one outbox statement. Each outbox gets its rows in the order they were added
// (its seq follows that order).
class PendingOutboxRows {
 public:
  // As InsertOutboxRow's arguments.
  void Add(const OutboxTarget& target, const DomainEvent& event, absl::string_view traceparent = "",
           absl::string_view topic = "");
  // Inserts the rows held (one statement per outbox) and forgets them. Throws pqxx exceptions.
  void Flush(pqxx::transaction_base& tx);
  void Clear() { outboxes_.clear(); }
  bool empty() const { return outboxes_.empty(); }

  static constexpr size_t kColumns = kOutboxRowValues;

 private:
  // The rows held for one outbox: each column's values, row by row.
  struct Outbox {
    std::string schema;
    std::array<std::vector<std::string>, kColumns> columns;
  };
  std::vector<Outbox> outboxes_;  // in the order first written to
};

// Adds the row to `pending` if there is one (it is written at Flush), else inserts it now.
void WriteOutboxRow(pqxx::transaction_base& tx, PendingOutboxRows* pending,
                    const OutboxTarget& target, const DomainEvent& event,
                    absl::string_view traceparent = "", absl::string_view topic = "");

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_WRITER_H_
