// Writes domain events into a service's transactional outbox (<schema>.outbox) inside the caller's
// transaction, as the JSON envelope the relay publishes verbatim. Stateless; thread-safe as long as
// each transaction is used by one thread.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_WRITER_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_WRITER_H_

#include <pqxx/pqxx>
#include <string>

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

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_WRITER_H_
