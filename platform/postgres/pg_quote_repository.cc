#include "platform/postgres/pg_quote_repository.h"

#include <algorithm>
#include <array>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "domain/errors.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"
#include "platform/observability/log.h"
#include "platform/postgres/pg_array.h"
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
//   A batch of ApproveQuote calls (the group commit, pg_quote_repository.h): the same two
//     statements with an array per parameter, one element per call, so the batch costs two round
//     trips and one commit whatever its size.
// tests/bench/bench_api.cc runs the one-call statements verbatim under pgbench: keep them in sync.

// Timestamps cross the wire as RFC 3339 text and are read back as epoch microseconds.
constexpr char kQuoteColumns[] =
    "q.quote_id, q.customer_id, q.premium, q.status, q.version, q.rejection_reason,"
    " (extract(epoch from q.created_at) * 1000000)::bigint,"
    " (extract(epoch from q.updated_at) * 1000000)::bigint";

constexpr char kGetStatement[] = "quoteflow_quote_get";
constexpr char kCreateStatement[] = "quoteflow_quote_create";
constexpr char kReadStatement[] = "quoteflow_quote_read_for_command";
constexpr char kApproveStatement[] = "quoteflow_quote_write_with_event";
constexpr char kReadBatchStatement[] = "quoteflow_quote_read_batch_for_command";
constexpr char kWriteBatchStatement[] = "quoteflow_quote_write_batch_with_events";

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
// $7 request_id ('' = none), $8.. the outbox row in outbox_writer.h's OutboxValues order
// (event_id, event_type, aggregate_type, aggregate_id, aggregate_version, quote_id, topic ('' =
// mapped by the relay), payload, source, traceparent, occurred_at). Returns the number of quote
// rows updated (0 or 1).
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

// kReadSql for the commands of a batch: $1 their quote ids, $2 their request ids ('' = none), as
// arrays. One row per command in their order: kReadSql's columns, then the command's position.
const std::string& ReadBatchSql() {
  static const std::string* const sql = new std::string(absl::StrCat(
      "SELECT ", kQuoteColumns,
      ", r.operation, r.quote_id, r.status, r.version, r.rejection_reason,"
      " (extract(epoch from r.updated_at) * 1000000)::bigint, r.event_id, k.ord"
      " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k (quote_id, request_id, ord)"
      " LEFT JOIN quote.quotes q ON q.quote_id = k.quote_id"
      " LEFT JOIN quote.requests r ON r.request_id = k.request_id"
      " ORDER BY k.ord"));
  return *sql;
}

// kApproveSql for the commands of a batch, one element of each array per command (no quote and
// no request id twice): $1 quote_id, $2 status, $3 version, $4 rejection_reason, $5 updated_at,
// $6 version read, $7 request_id ('' = none), $8.. the outbox row in outbox_writer.h's
// OutboxValues order. Each command's quote is updated only if still at the version read, and its
// outbox row and request record are inserted only then, all in one statement (one transaction).
// Returns the positions of the commands written.
constexpr char kWriteBatchSql[] =
    "WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[],"
    " $5::timestamptz[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[],"
    " $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[],"
    " $17::text[], $18::timestamptz[]) WITH ORDINALITY AS k (quote_id, status, version,"
    " rejection_reason, updated_at, old_version, request_id, event_id, event_type,"
    " aggregate_type, aggregate_id, aggregate_version, event_quote_id, topic, payload, source,"
    " traceparent, occurred_at, ord)),"
    " upd AS ("
    " UPDATE quote.quotes q SET status = k.status, version = k.version,"
    " rejection_reason = k.rejection_reason, updated_at = k.updated_at FROM k"
    " WHERE q.quote_id = k.quote_id AND q.version = k.old_version RETURNING k.ord),"
    " w AS (SELECT k.* FROM k JOIN upd USING (ord)),"
    " ob AS ("
    " INSERT INTO quote.outbox (event_id, event_type, aggregate_type, aggregate_id,"
    " aggregate_version, quote_id, topic, payload, source, traceparent, occurred_at)"
    " SELECT event_id, event_type, aggregate_type, aggregate_id, aggregate_version,"
    " event_quote_id, NULLIF(topic, ''), payload, source, traceparent, occurred_at FROM w"
    " ORDER BY ord),"
    " req AS ("
    " INSERT INTO quote.requests (request_id, operation, quote_id, status, version,"
    " rejection_reason, updated_at, event_id)"
    " SELECT request_id, 'approve', quote_id, status, version, rejection_reason, updated_at,"
    " NULLIF(event_id, '') FROM w WHERE request_id <> '')"
    " SELECT ord FROM upd";

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
  const std::array<std::string, kOutboxRowValues> o = OutboxValues(outbox, e, e.traceparent);
  pqxx::result r = tx.exec_prepared(
      kApproveStatement, quote.quote_id(), std::string(QuoteStatusName(quote.status())),
      quote.version(), quote.rejection_reason(), FormatRfc3339(quote.updated_at()), old_version,
      rid, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9], o[10]);
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

// kWriteBatchSql's arrays, filled command by command.
class BatchWriteColumns {
 public:
  void Add(const std::string& request_id, const Quote& quote, int64_t old_version,
           const DomainEvent& event, const OutboxTarget& outbox) {
    std::array<std::string, kStateColumns> state = {
        quote.quote_id(),
        std::string(QuoteStatusName(quote.status())),
        absl::StrCat(quote.version()),
        quote.rejection_reason(),
        FormatRfc3339(quote.updated_at()),
        absl::StrCat(old_version),
        request_id};
    std::array<std::string, kOutboxRowValues> row = OutboxValues(outbox, event, event.traceparent);
    for (size_t c = 0; c < kStateColumns; ++c) columns_[c].push_back(std::move(state[c]));
    for (size_t c = 0; c < kOutboxRowValues; ++c) {
      columns_[kStateColumns + c].push_back(std::move(row[c]));
    }
  }

  // The event id of the i-th command added.
  const std::string& event_id(size_t i) const { return columns_[kStateColumns][i]; }

  pqxx::result Write(pqxx::transaction_base& tx) const {
    std::array<std::string, kColumns> a;
    for (size_t c = 0; c < kColumns; ++c) a[c] = TextArrayLiteral(columns_[c]);
    return tx.exec_prepared(kWriteBatchStatement, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                            a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17]);
  }

 private:
  static constexpr size_t kStateColumns = 7;  // $1..$7
  static constexpr size_t kColumns = kStateColumns + kOutboxRowValues;
  std::array<std::vector<std::string>, kColumns> columns_;
};

}  // namespace

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

struct PendingQuoteUpdate {
  std::string request_id;
  std::string quote_id;
  QuoteRepository::OwnedDecide decide;
  QuoteRepository::UpdateDone done;  // called with `result` once the call is settled
  absl::Time queued_at;
  absl::StatusOr<QuoteCommandResult> result = absl::UnknownError("not run");
  bool resolved = false;          // `result` is the call's outcome
  bool committed_events = false;  // this call committed outbox rows
};

namespace {

// What a command decided to write: the quote as changed, its version as read, its events.
struct Decision {
  Quote quote;
  int64_t old_version;
  std::vector<DomainEvent> events;
};

// Decides `call` on the quote and request record of a kReadSql or kReadBatchSql row. Where the
// read or the decision settles the outcome (NOT_FOUND, the recorded result of a request already
// committed, a reused request id, the decision's error) it is set in `call` and nullopt returned.
absl::StatusOr<std::optional<Decision>> DecideOn(const pqxx::row& row, PendingQuoteUpdate& call) {
  call.resolved = true;
  if (row[0].is_null()) {
    call.result = NotFound(call.quote_id);
    return std::nullopt;
  }
  ASSIGN_OR_RETURN(Quote quote, QuoteFromRow(row));
  if (!row[8].is_null()) {
    // A committed request with this id: its recorded result, or a reuse error.
    if (row[8].as<std::string>() != "approve" || row[9].as<std::string>() != call.quote_id) {
      call.result = RequestIdReused();
      return std::nullopt;
    }
    ASSIGN_OR_RETURN(QuoteStatus recorded, ParseQuoteStatus(row[10].as<std::string>()));
    QuoteCommandResult recorded_result{
        Quote::Restore(quote.quote_id(), quote.customer_id(), quote.premium(), recorded,
                       row[11].as<int64_t>(), row[12].as<std::string>(), quote.created_at(),
                       absl::FromUnixMicros(row[13].as<int64_t>())),
        {}};
    if (!row[14].is_null()) recorded_result.event_ids.push_back(row[14].as<std::string>());
    call.result = std::move(recorded_result);
    return std::nullopt;
  }
  const int64_t old_version = quote.version();
  absl::StatusOr<std::vector<DomainEvent>> events = call.decide(quote);
  if (!events.ok()) {
    call.result = events.status();
    return std::nullopt;
  }
  call.resolved = false;
  return Decision{std::move(quote), old_version, *std::move(events)};
}

}  // namespace

PgQuoteRepository::PgQuoteRepository(PgPool& pool, OutboxTarget outbox,
                                     absl::Duration acquire_timeout, OutboxDoorbell* doorbell,
                                     QuoteWriteBatching batching)
    : pool_(pool),
      outbox_(std::move(outbox)),
      acquire_timeout_(acquire_timeout),
      doorbell_(doorbell),
      batching_(batching) {
  if (batching_.max_concurrent_batches <= 0) return;  // every call written on its caller's thread
  for (int i = 0; i < batching_.max_concurrent_batches; ++i) {
    threads_.emplace_back([this] { RunWriter(); });
  }
  threads_.emplace_back([this] { RunExpiry(); });
}

PgQuoteRepository::~PgQuoteRepository() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

absl::StatusOr<QuoteCommandResult> PgQuoteRepository::Update(absl::string_view request_id,
                                                             absl::string_view quote_id,
                                                             Decide decide) {
  absl::StatusOr<QuoteCommandResult> result = absl::UnknownError("not run");
  absl::Notification settled;
  UpdateThen(std::string(request_id), std::string(quote_id), decide,
             [&](absl::StatusOr<QuoteCommandResult> r) {
               result = std::move(r);
               settled.Notify();
             });
  settled.WaitForNotification();
  return result;
}

void PgQuoteRepository::UpdateThen(std::string request_id, std::string quote_id,
                                   OwnedDecide decide, UpdateDone done) {
  auto call = std::make_unique<PendingQuoteUpdate>(PendingQuoteUpdate{
      std::move(request_id), std::move(quote_id), std::move(decide), std::move(done)});
  if (batching_.max_concurrent_batches <= 0) {
    WriteBatch({call.get()});
    Settle(*call);
    return;
  }
  absl::MutexLock lock(&mu_);
  call->queued_at = absl::Now();
  queue_.push_back(std::move(call));
  stats_.queued.fetch_add(1, std::memory_order_relaxed);
}

void PgQuoteRepository::RunWriter() {
  // Group commit: each writer takes everything queued (up to max_batch_size) as one batch, so
  // under load many commands share one read, one write statement and one commit.
  for (;;) {
    std::vector<std::unique_ptr<PendingQuoteUpdate>> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &PgQuoteRepository::StoppingOrQueued));
      if (queue_.empty()) return;  // stopping, and every call written
      batch = TakeBatch();
    }
    std::vector<PendingQuoteUpdate*> calls;
    for (auto& call : batch) calls.push_back(call.get());
    WriteBatch(calls);
    for (auto& call : batch) Settle(*call);
  }
}

void PgQuoteRepository::RunExpiry() {
  // A call no batch took within the acquire timeout gives up, as one waiting as long for a pooled
  // connection would: nothing of it was written. The writers may all be stuck in a batch, so this
  // is a thread of its own, asleep until the oldest queued call's time is up.
  for (;;) {
    std::vector<std::unique_ptr<PendingQuoteUpdate>> expired;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &PgQuoteRepository::StoppingOrQueued));
      if (stopping_) return;  // the writers write what is left
      mu_.AwaitWithDeadline(absl::Condition(&stopping_),
                            queue_.front()->queued_at + acquire_timeout_);
      expired = TakeExpired(absl::Now() - acquire_timeout_);
    }
    for (auto& call : expired) {
      call->result = absl::DeadlineExceededError(
          absl::StrCat("changing quote ", call->quote_id, ": no write batch took the call within ",
                       absl::FormatDuration(acquire_timeout_)));
      Settle(*call);
    }
  }
}

void PgQuoteRepository::Settle(PendingQuoteUpdate& call) {
  if (call.result.status().code() == absl::StatusCode::kAlreadyExists) {
    // The request id was claimed concurrently by a request for another quote.
    call.result = RequestIdReused();
  }
  call.done(std::move(call.result));
}

std::vector<std::unique_ptr<PendingQuoteUpdate>> PgQuoteRepository::TakeExpired(
    absl::Time queued_before) {
  std::vector<std::unique_ptr<PendingQuoteUpdate>> expired;
  while (!queue_.empty() && queue_.front()->queued_at < queued_before) {
    expired.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  stats_.queued.fetch_sub(static_cast<int64_t>(expired.size()), std::memory_order_relaxed);
  return expired;
}

std::vector<std::unique_ptr<PendingQuoteUpdate>> PgQuoteRepository::TakeBatch() {
  // One command per quote and per request id in a batch: the batch's statement writes each quote
  // row and each request record at most once. Later commands for them wait for the next batch.
  std::vector<std::unique_ptr<PendingQuoteUpdate>> batch;
  absl::flat_hash_set<absl::string_view> quotes, requests;
  std::deque<std::unique_ptr<PendingQuoteUpdate>> left;
  for (std::unique_ptr<PendingQuoteUpdate>& call : queue_) {
    const bool fits = static_cast<int>(batch.size()) < batching_.max_batch_size &&
                      !quotes.contains(call->quote_id) &&
                      (call->request_id.empty() || !requests.contains(call->request_id));
    if (!fits) {
      left.push_back(std::move(call));
      continue;
    }
    quotes.insert(call->quote_id);
    if (!call->request_id.empty()) requests.insert(call->request_id);
    batch.push_back(std::move(call));
  }
  queue_.swap(left);
  stats_.queued.fetch_sub(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
  return batch;
}

namespace {
bool CommittedEvents(const std::vector<PendingQuoteUpdate*>& batch) {
  return std::any_of(batch.begin(), batch.end(),
                     [](const PendingQuoteUpdate* call) { return call->committed_events; });
}
}  // namespace

void PgQuoteRepository::WriteBatch(const std::vector<PendingQuoteUpdate*>& batch) {
  bool rang = false;
  absl::Status status = pool_.Run(
      absl::Now() + acquire_timeout_,
      batch.size() == 1 ? absl::StrCat("changing quote ", batch.front()->quote_id)
                        : absl::StrCat("changing ", batch.size(), " quotes"),
      [&](pqxx::connection& conn) {
        absl::Status s =
            batch.size() == 1 ? UpdateOne(conn, *batch.front()) : UpdateMany(conn, batch);
        // Committed (in autocommit, or the explicit transaction): wake the relays, on this
        // connection when the doorbell sends at once, before the calls are answered, as a NOTIFY
        // made by the commit itself would. Never before the commit, so that a relay woken by it
        // sees the rows. A connection lost meanwhile is reported, so that the pool drops it.
        if (doorbell_ == nullptr || !CommittedEvents(batch)) return s;
        rang = true;
        absl::Status ring = doorbell_->RingOn(conn);
        return s.ok() ? ring : s;
      });
  for (PendingQuoteUpdate* call : batch) {
    if (!call->resolved) {
      call->result = status.ok() ? absl::InternalError(absl::StrCat(
                                       "changing quote ", call->quote_id, ": no outcome recorded"))
                                 : status;
    }
  }
  // Calls committed before a statement threw (written one by one after a batch statement failed).
  if (doorbell_ != nullptr && !rang && CommittedEvents(batch)) doorbell_->Ring();
  stats_.batches.fetch_add(1, std::memory_order_relaxed);
  stats_.commands.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
}

absl::Status PgQuoteRepository::UpdateOne(pqxx::connection& conn, PendingQuoteUpdate& call) {
  Prepare(conn, kReadStatement, kReadSql);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    pqxx::result rows;
    {
      pqxx::nontransaction read(conn);
      rows = read.exec_prepared(kReadStatement, call.quote_id, call.request_id);
    }
    if (rows.empty()) return absl::InternalError("the quote read returned no row");
    ASSIGN_OR_RETURN(std::optional<Decision> decision, DecideOn(rows[0], call));
    if (!decision.has_value()) return absl::OkStatus();
    const Quote& quote = decision->quote;
    const std::vector<DomainEvent>& events = decision->events;
    QuoteCommandResult done{quote, {}};
    bool written = false;
    if (events.size() == 1) {
      // The common path: one statement, committed on its own.
      pqxx::nontransaction tx(conn);
      written = WriteWithEvent(tx, call.request_id, quote, decision->old_version, events.front(),
                               outbox_);
      if (written) done.event_ids.push_back(events.front().event_id);
    } else {
      pqxx::work tx(conn);
      written = WriteStatementByStatement(tx, call.request_id, quote, decision->old_version,
                                          events, outbox_, &done.event_ids);
      if (written) tx.commit();  // otherwise the work rolls back (nothing was written anyway)
    }
    if (!written) continue;  // the quote moved on since the read: read it again
    call.committed_events = !done.event_ids.empty();
    call.result = std::move(done);
    call.resolved = true;
    return absl::OkStatus();
  }
  return absl::AbortedError(
      absl::StrCat("quote ", call.quote_id, " kept changing concurrently; try again"));
}

absl::Status PgQuoteRepository::UpdateMany(pqxx::connection& conn,
                                           const std::vector<PendingQuoteUpdate*>& batch) {
  Prepare(conn, kReadBatchStatement, ReadBatchSql().c_str());
  Prepare(conn, kWriteBatchStatement, kWriteBatchSql);
  std::vector<std::string> quote_ids, request_ids;
  for (const PendingQuoteUpdate* call : batch) {
    quote_ids.push_back(call->quote_id);
    request_ids.push_back(call->request_id);
  }
  pqxx::result rows;
  {
    pqxx::nontransaction read(conn);
    rows = read.exec_prepared(kReadBatchStatement, TextArrayLiteral(quote_ids),
                              TextArrayLiteral(request_ids));
  }
  // What the read did not settle is decided here and written in one statement; a command that
  // decided other than exactly one event, or whose quote moved on since the read, is written on
  // its own afterwards (UpdateOne reads again).
  std::vector<PendingQuoteUpdate*> alone;
  std::vector<PendingQuoteUpdate*> written;
  std::vector<Quote> quotes;
  BatchWriteColumns columns;
  for (const pqxx::row& row : rows) {
    PendingQuoteUpdate& call = *batch.at(row[15].as<size_t>() - 1);
    ASSIGN_OR_RETURN(std::optional<Decision> decision, DecideOn(row, call));
    if (!decision.has_value()) continue;
    if (decision->events.size() != 1) {
      alone.push_back(&call);
      continue;
    }
    columns.Add(call.request_id, decision->quote, decision->old_version,
                decision->events.front(), outbox_);
    written.push_back(&call);
    quotes.push_back(std::move(decision->quote));
  }
  if (!written.empty()) {
    absl::flat_hash_set<int64_t> updated;  // positions in `written`, from 1
    try {
      pqxx::nontransaction tx(conn);
      for (const pqxx::row& row : columns.Write(tx)) updated.insert(row[0].as<int64_t>());
    } catch (const std::exception& e) {
      // A broken connection fails the batch. Any other error (a request id claimed meanwhile by
      // another process, a deadlock with another batch) rolled the whole statement back: each
      // command is then written on its own, where that error is its alone.
      absl::Status status = StatusFromPqxx(e, "writing a batch of quote changes");
      if (IsConnectionLoss(status)) return status;
      log::Warn("quote batch write failed, writing its commands one by one",
                {{"commands", static_cast<int64_t>(written.size())},
                 {"error", status.ToString()}});
    }
    for (size_t i = 0; i < written.size(); ++i) {
      PendingQuoteUpdate& call = *written[i];
      if (!updated.contains(static_cast<int64_t>(i) + 1)) {
        alone.push_back(&call);
        continue;
      }
      call.result = QuoteCommandResult{std::move(quotes[i]), {columns.event_id(i)}};
      call.committed_events = true;
      call.resolved = true;
    }
  }
  for (PendingQuoteUpdate* call : alone) {
    // Its error is its alone, except a lost connection, which ends the batch.
    absl::Status status;
    try {
      status = UpdateOne(conn, *call);
    } catch (const std::exception& e) {
      status = StatusFromPqxx(e, absl::StrCat("changing quote ", call->quote_id));
    }
    if (IsConnectionLoss(status)) return status;
    if (!status.ok()) {
      call->result = status;
      call->resolved = true;
    }
  }
  return absl::OkStatus();
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
