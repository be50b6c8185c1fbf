#include "platform/postgres/pg_quote_repository.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/pg_errors.h"

namespace quoteflow {
namespace {

// Every statement of the command path is a prepared statement (pqxx registers it on a connection
// the first time it is used there), and each command takes as few round trips as it can:
//   CreateQuote: one statement (claim the request id + insert the quote).
//   ApproveQuote: two statements, neither inside an explicit transaction: read the quote and any
//     record of the request in one snapshot, decide in C++, then one data-modifying statement
//     that updates the quote only if its version is still the one read, and in the same statement
//     (so the same transaction) inserts the outbox row and the request record. If the version
//     moved (a concurrent command committed first), nothing was written and the command starts
//     over from the read, where it now sees the other command's request record or the new state.
//     The UPDATE's row lock orders concurrent writers of one quote, so its events enter the outbox
//     in commit order (DESIGN.md section 3).
// tests/bench/bench_api.cc runs these statements verbatim under pgbench: keep them in sync.

// Timestamps cross the wire as RFC 3339 text and are read back as epoch microseconds.
constexpr char kQuoteColumns[] =
    "q.quote_id, q.customer_id, q.premium, q.status, q.version, q.rejection_reason,"
    " (extract(epoch from q.created_at) * 1000000)::bigint,"
    " (extract(epoch from q.updated_at) * 1000000)::bigint";

constexpr char kGetStatement[] = "quoteflow_quote_get";
constexpr char kCreateStatement[] = "quoteflow_quote_create";
constexpr char kReadStatement[] = "quoteflow_quote_read_for_command";
constexpr char kApproveStatement[] = "quoteflow_quote_write_with_event";

constexpr char kCreateSql[] =
    "WITH claimed AS ("
    " INSERT INTO quote.requests (request_id, operation, quote_id, status, version, updated_at)"
    " SELECT $1::text, 'create', $2::text, $4::text, $5::bigint, $8::timestamptz"
    " WHERE $1::text <> ''"
    " ON CONFLICT (request_id) DO NOTHING RETURNING 1),"
    " ins AS ("
    " INSERT INTO quote.quotes (quote_id, customer_id, premium, status, version,"
    " rejection_reason, created_at, updated_at)"
    " SELECT $2::text, $3::text, $9::bigint, $4::text, $5::bigint, $6::text,"
    " $7::timestamptz, $8::timestamptz"
    " WHERE $1::text = '' OR EXISTS (SELECT 1 FROM claimed) RETURNING 1)"
    " SELECT count(*) FROM ins";

// Column names are given so that pgbench's \gset can read the same statement.
constexpr char kReadSql[] =
    "SELECT q.quote_id AS quote_id, q.customer_id AS customer_id, q.premium AS premium,"
    " q.status AS status, q.version AS version, q.rejection_reason AS rejection_reason,"
    " (extract(epoch from q.created_at) * 1000000)::bigint AS created_us,"
    " (extract(epoch from q.updated_at) * 1000000)::bigint AS updated_us,"
    " r.operation AS r_operation, r.quote_id AS r_quote_id, r.status AS r_status,"
    " r.version AS r_version, r.rejection_reason AS r_rejection_reason,"
    " (extract(epoch from r.updated_at) * 1000000)::bigint AS r_updated_us,"
    " r.event_id AS r_event_id"
    " FROM (SELECT $1::text AS quote_id) k"
    " LEFT JOIN quote.quotes q ON q.quote_id = k.quote_id"
    " LEFT JOIN quote.requests r ON r.request_id = $2::text";

// $1 quote_id, $2 status, $3 version, $4 rejection_reason, $5 updated_at, $6 version read,
// $7 request_id ('' = none), $8.. the outbox row (event_id, event_type, aggregate_type,
// aggregate_id, aggregate_version, quote_id, topic ('' = mapped by the relay), payload, source,
// traceparent, occurred_at). Returns the number of quote rows updated (0 or 1).
constexpr char kApproveSql[] =
    "WITH upd AS ("
    " UPDATE quote.quotes SET status = $2::text, version = $3::bigint,"
    " rejection_reason = $4::text, updated_at = $5::timestamptz"
    " WHERE quote_id = $1::text AND version = $6::bigint RETURNING 1),"
    " ob AS ("
    " INSERT INTO quote.outbox (event_id, event_type, aggregate_type, aggregate_id,"
    " aggregate_version, quote_id, topic, payload, source, traceparent, occurred_at)"
    " SELECT $8::text, $9::text, $10::text, $11::text, $12::bigint, $13::text,"
    " NULLIF($14::text, ''), $15::text, $16::text, $17::text, $18::timestamptz FROM upd),"
    " req AS ("
    " INSERT INTO quote.requests (request_id, operation, quote_id, status, version,"
    " rejection_reason, updated_at, event_id)"
    " SELECT $7::text, 'approve', $1::text, $2::text, $3::bigint, $4::text, $5::timestamptz,"
    " NULLIF($8::text, '') FROM upd WHERE $7::text <> '')"
    " SELECT count(*) FROM upd";

// A command that keeps losing the race for its quote gives up after this many reads.
constexpr int kMaxAttempts = 20;

absl::StatusOr<Quote> QuoteFromRow(const pqxx::row& r) {
  ASSIGN_OR_RETURN(QuoteStatus status, ParseQuoteStatus(r[3].as<std::string>()));
  return Quote::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(), status,
                        r[4].as<int64_t>(), r[5].as<std::string>(),
                        absl::FromUnixMicros(r[6].as<int64_t>()),
                        absl::FromUnixMicros(r[7].as<int64_t>()));
}

absl::Status RequestIdReused() {
  return InvalidField("request_id", "was already used for a different request");
}

absl::Status NotFound(absl::string_view quote_id) {
  return absl::NotFoundError(absl::StrCat("quote ", quote_id, " not found"));
}

// Registers the statement on this connection (a no-op after the first time: pqxx keeps the
// definition and prepares it on the server at its first use).
void Prepare(pqxx::connection_base& conn, const char* name, const char* sql) {
  conn.prepare(name, sql);
}

// Writes the decided state and its single event in one statement. Returns whether the quote was
// still at `old_version` (false: nothing was written).
bool WriteWithEvent(pqxx::transaction_base& tx, const std::string& rid, const Quote& quote,
                    int64_t old_version, const DomainEvent& e, const OutboxTarget& outbox) {
  Prepare(tx.conn(), kApproveStatement, kApproveSql);
  const std::string updated_at = FormatRfc3339(quote.updated_at());
  pqxx::result r = tx.exec_prepared(
      kApproveStatement, quote.quote_id(), std::string(QuoteStatusName(quote.status())),
      quote.version(), quote.rejection_reason(), updated_at, old_version, rid, e.event_id,
      std::string(e.type()), std::string(e.aggregate_type()), e.aggregate_id, e.aggregate_version,
      e.quote_id, std::string(), EncodeEnvelope(e), outbox.source,
      e.traceparent.empty() ? NewTraceparent() : e.traceparent, FormatRfc3339(e.occurred_at));
  return !r.empty() && r[0][0].as<int64_t>() == 1;
}

// The general write for any number of events, statement by statement (no command of the API
// decides more than one event today; kept so that the repository contract holds for any Decide).
bool WriteStatementByStatement(pqxx::transaction_base& tx, const std::string& rid,
                               const Quote& quote, int64_t old_version,
                               const std::vector<DomainEvent>& events, const OutboxTarget& outbox,
                               std::vector<std::string>* event_ids) {
  pqxx::result updated = tx.exec_params(
      "UPDATE quote.quotes SET status = $2, version = $3, rejection_reason = $4,"
      " updated_at = $5::timestamptz WHERE quote_id = $1 AND version = $6",
      quote.quote_id(), std::string(QuoteStatusName(quote.status())), quote.version(),
      quote.rejection_reason(), FormatRfc3339(quote.updated_at()), old_version);
  if (updated.affected_rows() != 1) return false;
  for (const DomainEvent& e : events) {
    InsertOutboxRow(tx, outbox, e, e.traceparent);
    event_ids->push_back(e.event_id);
  }
  if (!rid.empty()) {
    tx.exec_params(
        "INSERT INTO quote.requests (request_id, operation, quote_id, status, version,"
        " rejection_reason, updated_at, event_id)"
        " VALUES ($1, 'approve', $2, $3, $4, $5, $6::timestamptz, NULLIF($7, ''))",
        rid, quote.quote_id(), std::string(QuoteStatusName(quote.status())), quote.version(),
        quote.rejection_reason(), FormatRfc3339(quote.updated_at()),
        event_ids->empty() ? std::string() : event_ids->front());
  }
  return true;
}

}  // namespace

PgQuoteRepository::PgQuoteRepository(PgPool& pool, OutboxTarget outbox,
                                     absl::Duration acquire_timeout, OutboxDoorbell* doorbell)
    : pool_(pool),
      outbox_(std::move(outbox)),
      acquire_timeout_(acquire_timeout),
      doorbell_(doorbell) {}

absl::StatusOr<Quote> PgQuoteRepository::Insert(absl::string_view request_id, const Quote& quote) {
  absl::StatusOr<Quote> result = absl::UnknownError("not run");
  absl::Status status =
      pool_.Run(absl::Now() + acquire_timeout_, "creating a quote", [&](pqxx::connection& conn) {
        const std::string rid(request_id);
        Prepare(conn, kCreateStatement, kCreateSql);
        pqxx::nontransaction tx(conn);
        // A concurrent duplicate of the request id waits on the primary key until the first
        // request's transaction ends, then inserts nothing.
        pqxx::result inserted = tx.exec_prepared(
            kCreateStatement, rid, quote.quote_id(), quote.customer_id(),
            std::string(QuoteStatusName(quote.status())), quote.version(), quote.rejection_reason(),
            FormatRfc3339(quote.created_at()), FormatRfc3339(quote.updated_at()), quote.premium());
        if (!inserted.empty() && inserted[0][0].as<int64_t>() == 1) {
          result = quote;
          return absl::OkStatus();
        }
        pqxx::result prior = tx.exec_params(
            absl::StrCat("SELECT ", kQuoteColumns,
                         ", r.operation, r.status, r.version, r.rejection_reason,"
                         " (extract(epoch from r.updated_at) * 1000000)::bigint"
                         " FROM quote.requests r JOIN quote.quotes q USING (quote_id)"
                         " WHERE r.request_id = $1"),
            rid);
        if (prior.empty() || prior[0][8].as<std::string>() != "create") {
          result = RequestIdReused();
          return absl::OkStatus();
        }
        // The quote as this request left it, not as later commands changed it.
        const pqxx::row r = prior[0];
        ASSIGN_OR_RETURN(QuoteStatus recorded, ParseQuoteStatus(r[9].as<std::string>()));
        result = Quote::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                                recorded, r[10].as<int64_t>(), r[11].as<std::string>(),
                                absl::FromUnixMicros(r[6].as<int64_t>()),
                                absl::FromUnixMicros(r[12].as<int64_t>()));
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<QuoteCommandResult> PgQuoteRepository::Update(absl::string_view request_id,
                                                             absl::string_view quote_id,
                                                             Decide decide) {
  absl::StatusOr<QuoteCommandResult> result = absl::UnknownError("not run");
  bool committed_events = false;  // this call committed outbox rows
  absl::Status status = pool_.Run(
      absl::Now() + acquire_timeout_, absl::StrCat("changing quote ", quote_id),
      [&](pqxx::connection& conn) -> absl::Status {
        const std::string rid(request_id);
        const std::string qid(quote_id);
        Prepare(conn, kReadStatement, kReadSql);
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
          pqxx::result rows;
          {
            pqxx::nontransaction read(conn);
            rows = read.exec_prepared(kReadStatement, qid, rid);
          }
          if (rows.empty() || rows[0][0].is_null()) {
            result = NotFound(quote_id);
            return absl::OkStatus();
          }
          const pqxx::row row = rows[0];
          ASSIGN_OR_RETURN(Quote quote, QuoteFromRow(row));
          if (!row[8].is_null()) {
            // A committed request with this id: its recorded result, or a reuse error.
            if (row[8].as<std::string>() != "approve" || row[9].as<std::string>() != qid) {
              result = RequestIdReused();
              return absl::OkStatus();
            }
            ASSIGN_OR_RETURN(QuoteStatus recorded, ParseQuoteStatus(row[10].as<std::string>()));
            QuoteCommandResult recorded_result{
                Quote::Restore(quote.quote_id(), quote.customer_id(), quote.premium(), recorded,
                               row[11].as<int64_t>(), row[12].as<std::string>(), quote.created_at(),
                               absl::FromUnixMicros(row[13].as<int64_t>())),
                {}};
            if (!row[14].is_null()) recorded_result.event_ids.push_back(row[14].as<std::string>());
            result = std::move(recorded_result);
            return absl::OkStatus();
          }
          const int64_t old_version = quote.version();
          absl::StatusOr<std::vector<DomainEvent>> events = decide(quote);
          if (!events.ok()) {
            result = events.status();
            return absl::OkStatus();
          }
          QuoteCommandResult done{quote, {}};
          bool written = false;
          if (events->size() == 1) {
            // The common path: one statement, committed on its own.
            pqxx::nontransaction tx(conn);
            written = WriteWithEvent(tx, rid, quote, old_version, events->front(), outbox_);
            if (written) done.event_ids.push_back(events->front().event_id);
          } else {
            pqxx::work tx(conn);
            written = WriteStatementByStatement(tx, rid, quote, old_version, *events, outbox_,
                                                &done.event_ids);
            if (!written) continue;  // the work rolls back (nothing was written anyway)
            tx.commit();
          }
          if (!written) continue;  // the quote moved on since the read: read it again
          committed_events = !done.event_ids.empty();
          result = std::move(done);
          return absl::OkStatus();
        }
        return absl::AbortedError(
            absl::StrCat("quote ", quote_id, " kept changing concurrently; try again"));
      });
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    // The request id was claimed concurrently by a request for another quote.
    return RequestIdReused();
  }
  if (!status.ok()) return status;
  // Committed (the statement in autocommit, or the explicit transaction): wake the relays. Never
  // before the commit, so that a relay woken by it sees the row.
  if (doorbell_ != nullptr && committed_events) doorbell_->Ring();
  return result;
}

absl::StatusOr<Quote> PgQuoteRepository::Get(absl::string_view quote_id) {
  absl::StatusOr<Quote> result = absl::UnknownError("not run");
  absl::Status status = pool_.Run(
      absl::Now() + acquire_timeout_, absl::StrCat("reading quote ", quote_id),
      [&](pqxx::connection& conn) {
        Prepare(conn, kGetStatement,
                absl::StrCat("SELECT ", kQuoteColumns, " FROM quote.quotes q WHERE q.quote_id = $1")
                    .c_str());
        pqxx::nontransaction tx(conn);
        pqxx::result rows = tx.exec_prepared(kGetStatement, std::string(quote_id));
        result = rows.empty() ? absl::StatusOr<Quote>(NotFound(quote_id)) : QuoteFromRow(rows[0]);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

}  // namespace quoteflow
