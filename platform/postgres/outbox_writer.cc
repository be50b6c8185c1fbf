#include "platform/postgres/outbox_writer.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/pg_array.h"

namespace quoteflow {
namespace {

constexpr char kOutboxColumns[] =
    "event_id, event_type, aggregate_type, aggregate_id, aggregate_version, quote_id, topic,"
    " payload, source, traceparent, occurred_at";
constexpr size_t kColumns = PendingOutboxRows::kColumns;

}  // namespace

std::array<std::string, kColumns> OutboxValues(const OutboxTarget& target, const DomainEvent& event,
                                               absl::string_view traceparent,
                                               absl::string_view topic) {
  return {event.event_id,
          std::string(event.type()),
          std::string(event.aggregate_type()),
          event.aggregate_id,
          absl::StrCat(event.aggregate_version),
          event.quote_id,
          std::string(topic),
          EncodeEnvelope(event),
          target.source,
          traceparent.empty() ? NewTraceparent() : std::string(traceparent),
          FormatRfc3339(event.occurred_at)};
}

void InsertOutboxRow(pqxx::transaction_base& tx, const OutboxTarget& target,
                     const DomainEvent& event, absl::string_view traceparent,
                     absl::string_view topic) {
  // A prepared statement per outbox schema: pqxx registers it on the connection the first time it
  // runs there, later calls skip parsing and planning.
  const std::string statement = absl::StrCat("quoteflow_outbox_insert_", target.schema);
  tx.conn().prepare(statement, absl::StrCat("INSERT INTO ", tx.quote_name(target.schema),
                                            ".outbox (", kOutboxColumns, ")"
                                            " VALUES ($1, $2, $3, $4, $5::bigint, $6,"
                                            " NULLIF($7, ''), $8, $9, $10, $11::timestamptz)"));
  const std::array<std::string, kColumns> v = OutboxValues(target, event, traceparent, topic);
  tx.exec_prepared(statement, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
}

void PendingOutboxRows::Add(const OutboxTarget& target, const DomainEvent& event,
                            absl::string_view traceparent, absl::string_view topic) {
  auto it = std::find_if(outboxes_.begin(), outboxes_.end(),
                         [&](const Outbox& o) { return o.schema == target.schema; });
  if (it == outboxes_.end()) it = outboxes_.insert(outboxes_.end(), Outbox{target.schema, {}});
  std::array<std::string, kColumns> values = OutboxValues(target, event, traceparent, topic);
  for (size_t c = 0; c < kColumns; ++c) it->columns[c].push_back(std::move(values[c]));
}

void PendingOutboxRows::Flush(pqxx::transaction_base& tx) {
  std::vector<Outbox> outboxes;
  outboxes.swap(outboxes_);
  for (const Outbox& outbox : outboxes) {
    const std::string statement = absl::StrCat("quoteflow_outbox_insert_many_", outbox.schema);
    // ORDER BY the ordinality: seq is drawn in that order, so the relay publishes the rows in the
    // order the handlers emitted them.
    tx.conn().prepare(
        statement,
        absl::StrCat("INSERT INTO ", tx.quote_name(outbox.schema), ".outbox (", kOutboxColumns,
                     ") SELECT event_id, event_type, aggregate_type, aggregate_id,"
                     " aggregate_version, quote_id, NULLIF(topic, ''), payload, source,"
                     " traceparent, occurred_at FROM unnest($1::text[], $2::text[], $3::text[],"
                     " $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],"
                     " $10::text[], $11::timestamptz[]) WITH ORDINALITY AS u (",
                     kOutboxColumns, ", n) ORDER BY n"));
    std::array<std::string, kColumns> a;
    for (size_t c = 0; c < kColumns; ++c) a[c] = TextArrayLiteral(outbox.columns[c]);
    tx.exec_prepared(statement, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]);
  }
}

void WriteOutboxRow(pqxx::transaction_base& tx, PendingOutboxRows* pending,
                    const OutboxTarget& target, const DomainEvent& event,
                    absl::string_view traceparent, absl::string_view topic) {
  if (pending != nullptr) {
    pending->Add(target, event, traceparent, topic);
  } else {
    InsertOutboxRow(tx, target, event, traceparent, topic);
  }
}

}  // namespace quoteflow
