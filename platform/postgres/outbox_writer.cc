#include "platform/postgres/outbox_writer.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "platform/events/event_codec.h"

namespace quoteflow {

void InsertOutboxRow(pqxx::transaction_base& tx, const OutboxTarget& target,
                     const DomainEvent& event, absl::string_view traceparent,
                     absl::string_view topic) {
  // A prepared statement per outbox schema: pqxx registers it on the connection the first time it
  // runs there, later calls skip parsing and planning.
  const std::string statement = absl::StrCat("quoteflow_outbox_insert_", target.schema);
  tx.conn().prepare(
      statement,
      absl::StrCat(
          "INSERT INTO ", tx.quote_name(target.schema), ".outbox",
          " (event_id, event_type, aggregate_type, aggregate_id, aggregate_version,"
          "  quote_id, topic, payload, source, traceparent, occurred_at)"
          " VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, $11::timestamptz)"));
  std::string trace = traceparent.empty() ? NewTraceparent() : std::string(traceparent);
  tx.exec_prepared(statement, event.event_id, std::string(event.type()),
                   std::string(event.aggregate_type()), event.aggregate_id, event.aggregate_version,
                   event.quote_id, std::string(topic), EncodeEnvelope(event), target.source, trace,
                   FormatRfc3339(event.occurred_at));
}

}  // namespace quoteflow
