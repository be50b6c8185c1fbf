#include "outbox-relay/outbox_store.h"

#include <algorithm>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <string_view>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/status_macros.h"
#include "platform/postgres/migrations.h"
#include "platform/postgres/pg_array.h"
#include "platform/postgres/pg_errors.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {
namespace {

// Advisory locks of this database with the two-int4 key form (classid = key1, objid = key2).
constexpr char kAdvisoryLocks[] =
    "FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND "
    "database = (SELECT oid FROM pg_database WHERE datname = current_database())";
constexpr char kAdvisoryLocksOf[] =
    "FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND "
    "database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
    "classid = $1::int4::oid";

// Prepared statements of the relay's session (names are per connection).
constexpr char kCountLocks[] = "quoteflow_relay_count_locks";
constexpr char kFetchAll[] = "quoteflow_relay_fetch_all";
constexpr char kFetchSome[] = "quoteflow_relay_fetch_some";
constexpr char kFetchRetries[] = "quoteflow_relay_fetch_retries";
constexpr char kDelete[] = "quoteflow_relay_delete";
constexpr char kRegister[] = "quoteflow_relay_register";
constexpr char kBacklogStats[] = "quoteflow_relay_backlog_stats";
constexpr absl::Duration kGaugesConnectTimeout = absl::Seconds(3);

// BacklogStatsSql counts the backlog exactly up to this many rows, and estimates it beyond.
constexpr int kExactBacklog = 100000;

// The columns of OutboxRow, in its order, of the outbox row `o`.
constexpr char kRowColumns[] =
    "o.seq, o.event_id, o.event_type, o.aggregate_type, o.aggregate_id, o.aggregate_version, "
    "coalesce(o.topic, '') AS topic, o.payload, o.source, o.traceparent, "
    "to_char(o.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
    "AS occurred_at, "
    "o.shard, o.attempts";

// A row may be read when it is not in flight (`skip`, bigint[]), its aggregate does not already
// have all the rows it may have in flight (`busy`, text[]), and no earlier row of its aggregate is
// parked (outbox_parked index) or failed and not yet delivered (next_attempt_at set: in backoff,
// or due and read by the retry statement first, through outbox_retry; outbox_backoff index).
std::string Readable(const std::string& outbox, const std::string& skip, const std::string& busy) {
  return absl::StrCat(
      "o.seq <> ALL(", skip, "::bigint[]) AND o.aggregate_id <> ALL(", busy,
      "::text[]) AND NOT EXISTS (SELECT 1 FROM ", outbox,
      " p WHERE p.parked_at IS NOT NULL AND p.aggregate_id = o.aggregate_id AND p.seq < o.seq) "
      "AND NOT EXISTS (SELECT 1 FROM ",
      outbox,
      " b WHERE b.next_attempt_at IS NOT NULL AND b.aggregate_id = o.aggregate_id AND "
      "b.seq < o.seq)");
}

// next_attempt_at for the `failures`-th failure: `min_ms` doubled per earlier failure, at most
// `max_ms` (both parameter references).
std::string BackoffSql(const std::string& failures, const std::string& min_ms,
                       const std::string& max_ms) {
  return absl::StrCat("clock_timestamp() + least(", max_ms, "::int8, ", min_ms,
                      "::int8 * (2::int8 ^ least(greatest(", failures,
                      " - 1, 0), 30))::int8) * interval '1 millisecond'");
}

int Millis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

std::string IntArray(const std::vector<int>& v) { return absl::StrCat("{", absl::StrJoin(v, ","), "}"); }
std::string IntArray(const std::vector<int64_t>& v) {
  return absl::StrCat("{", absl::StrJoin(v, ","), "}");
}

}  // namespace

std::string FetchAllShardsSql(const std::string& outbox) {
  // Walks the outbox_ready index (0011_outbox_ready_index.sql), whose rows are exactly those that
  // pass the first two tests, in seq order. Without it the planner guessed how many rows pass them
  // (0.5 % of the table, or a product of two such guesses before the first ANALYZE) and, whenever
  // that guess fell below the batch, read and sorted the whole outbox for every batch: 0.3-3.3 s
  // per read of a 100k-300k-row backlog (issue 13), against 9-20 ms this way.
  return absl::StrCat("SELECT ", kRowColumns, " FROM ", outbox,
                      " o WHERE o.parked_at IS NULL AND o.next_attempt_at IS NULL AND ",
                      Readable(outbox, "$2", "$3"), " ORDER BY o.seq LIMIT $1");
}

std::string FetchSomeShardsSql(const std::string& outbox) {
  // A nested loop over the shards: for each, an index range scan of outbox_shard_seq (shard, seq)
  // in seq order; the inner LIMIT lets one shard fill the batch, the outer one stops the loop as
  // soon as the batch is full. (`shard = ANY(...) ORDER BY seq` instead either walks the primary
  // key past every other shard's backlog or sorts the held shards' whole backlog: 383 ms for 16
  // rows with 250k rows in other replicas' shards, issue 13.)
  return absl::StrCat("SELECT b.* FROM (SELECT ", kRowColumns,
                      " FROM unnest($1::int[]) AS h(shard) CROSS JOIN LATERAL (SELECT * FROM ",
                      outbox, " o WHERE o.shard = h.shard AND o.parked_at IS NULL AND ",
                      "o.next_attempt_at IS NULL AND ", Readable(outbox, "$3", "$4"),
                      " ORDER BY o.seq LIMIT $2) o LIMIT $2) b ORDER BY b.seq");
}

std::string FetchRetriesSql(const std::string& outbox) {
  return absl::StrCat("SELECT ", kRowColumns, " FROM ", outbox,
                      " o WHERE o.next_attempt_at <= now() AND o.parked_at IS NULL AND "
                      "o.shard = ANY($2::int[]) AND ",
                      Readable(outbox, "$3", "$4"), " ORDER BY o.seq LIMIT $1");
}

// The backlog counted up to kExactBacklog rows (the outbox is small when the relays keep up),
// beyond that estimated from the table statistics; parked rows through outbox_parked; the age of
// the lowest seq waiting (or of the oldest row in backoff); whether the shards $1 (int[]) hold
// unparked rows. The counts and the age walk the indexes a relay holding every shard walks
// itself (outbox_ready, outbox_retry), and the shard probes the one a relay holding some shards
// walks (outbox_shard_seq): the entries of rows the relay deleted are dead there, and its own
// reads already marked them, so a read right after a drain skips them instead of visiting the
// deleted rows one by one (71 ms for 100,000 deleted rows with per-shard probes and a count
// through outbox_shard_seq, 5 ms this way).
std::string BacklogStatsSql(const std::string& outbox) {
  const std::string ready = absl::StrCat(
      " FROM ", outbox, " WHERE parked_at IS NULL AND next_attempt_at IS NULL ORDER BY seq");
  const std::string in_backoff =
      absl::StrCat(" FROM ", outbox, " WHERE next_attempt_at IS NOT NULL AND parked_at IS NULL");
  return absl::StrCat(
      "WITH c AS MATERIALIZED (SELECT (SELECT count(*) FROM (SELECT 1", ready, " LIMIT ",
      kExactBacklog + 1, ") x) + (SELECT count(*)", in_backoff, ") AS n), ",
      "p AS MATERIALIZED (SELECT count(*) AS n FROM ", outbox, " WHERE parked_at IS NOT NULL) ",
      "SELECT CASE WHEN c.n <= ", kExactBacklog, " THEN c.n ELSE greatest(c.n, ",
      "pg_stat_get_live_tuples('", outbox, "'::regclass) - p.n) END, p.n, ",
      "coalesce(extract(epoch FROM clock_timestamp() - least((SELECT created_at", ready,
      " LIMIT 1), (SELECT min(created_at)", in_backoff, "))), 0)::float8, ",
      "EXISTS (SELECT 1 FROM unnest($1::int[]) AS h(shard) CROSS JOIN LATERAL (SELECT 1 FROM ",
      outbox, " WHERE shard = h.shard AND parked_at IS NULL LIMIT 1) x) FROM c, p");
}

class PgOutboxStore::Listener : public pqxx::notification_receiver {
 public:
  Listener(pqxx::connection_base& c, const std::string& channel) : notification_receiver(c, channel) {}
  void operator()(const std::string&, int) override { ++received; }
  int received = 0;
};

absl::Status CheckOutboxTable(pqxx::connection_base& conn, const std::string& schema) {
  try {
    pqxx::nontransaction tx(conn);
    if (tx.exec_params1("SELECT to_regclass(format('%I.outbox', $1::text)) IS NULL", schema)[0]
            .as<bool>()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "schema '", schema, "' has no outbox table (check --outbox-schema, or run quotectl migrate)"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "checking the outbox table");
  }
}

PgOutboxStore::PgOutboxStore(Options options)
    : options_(std::move(options)), channel_(options_.schema + "_outbox") {}

PgOutboxStore::~PgOutboxStore() { Disconnect(); }

void PgOutboxStore::Disconnect() {
  listener_.reset();
  if (conn_ != nullptr) {
    try {
      conn_->disconnect();
    } catch (const std::exception&) {
    }
  }
  conn_.reset();
  held_.clear();
}

absl::Status PgOutboxStore::Broken(const std::exception& e, const std::string& what) {
  absl::Status s = StatusFromPqxx(e, what);
  // Whatever went wrong, the session state (leases) can no longer be trusted: start over.
  Disconnect();
  return s;
}

absl::Status PgOutboxStore::Connect() {
  Disconnect();
  try {
    conn_ = std::make_unique<pqxx::connection>(
        WithClientLiveness(options_.database_url, options_.liveness));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // A silently re-opened session would have lost our advisory locks: never reactivate.
    conn_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    backend_pid_ = conn_->backendpid();
  } catch (const std::exception& e) {
    conn_.reset();
    return StatusFromPqxx(e, "connecting to Postgres");
  }
  absl::Status s = CheckMigrations(options_.database_url);
  if (s.ok()) s = CheckOutboxTable(*conn_, options_.schema);
  if (!s.ok()) {
    Disconnect();
    return s;
  }
  try {
    outbox_ = absl::StrCat(conn_->quote_name(options_.schema), ".outbox");
    pqxx::nontransaction tx(*conn_);
    std::string expr = tx.exec_params1(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "WHERE d.adrelid = format('%I.outbox', $1::text)::regclass AND a.attname = 'shard'",
        options_.schema)[0].as<std::string>();
    if (expr.find(absl::StrCat("% ", options_.shards, ")")) == std::string::npos) {
      Disconnect();
      return absl::FailedPreconditionError(absl::StrCat("--shards=", options_.shards,
                                                        " does not match the outbox shard column: ",
                                                        expr));
    }
    pqxx::row keys = tx.exec_params1(
        "SELECT hashtext('quoteflow.outbox.' || $1), hashtext('quoteflow.outbox-relay.' || $1)",
        options_.schema);
    shard_key_ = keys[0].as<int>();
    presence_key_ = keys[1].as<int>();
    tx.exec_params("SELECT set_config('application_name', $1, false)",
                   ("outbox-relay " + options_.relay_id).substr(0, 63));
    if (std::string sql = ServerLivenessSql(options_.liveness); !sql.empty()) tx.exec(sql);
    // The relay's reads stop after a batch (LIMIT): parallel workers only add their start-up,
    // about 10 ms per read when the planner picks a Gather Merge for a large backlog.
    tx.exec("SET max_parallel_workers_per_gather = 0");
    // Every execution of a prepared statement is planned for the outbox as it is now. A generic
    // plan is cached after a few executions, and a relay that started on an empty outbox kept the
    // one made then (nested loops of sequential scans, harmless on no rows) while a backlog grew
    // faster than autovacuum analyzed it: 4.2 s for a 1,024-row read of a 5,000-row outbox,
    // 7.7 ms planned afresh (0.3-1 ms of planning). The chaos broker-storms customer relay read
    // for 5.4-5.9 s per batch until autovacuum's ANALYZE replaced the plan.
    tx.exec("SET plan_cache_mode = force_custom_plan");
    tx.exec_params("SELECT pg_advisory_lock($1, pg_backend_pid())", presence_key_);
    tx.commit();
    conn_->prepare(kCountLocks,
                   absl::StrCat("SELECT count(*) FILTER (WHERE classid = $1::int4::oid), "
                                "count(*) FILTER (WHERE classid = $2::int4::oid) ",
                                kAdvisoryLocks));
    conn_->prepare(kFetchAll, FetchAllShardsSql(outbox_));
    conn_->prepare(kFetchSome, FetchSomeShardsSql(outbox_));
    conn_->prepare(kFetchRetries, FetchRetriesSql(outbox_));
    conn_->prepare(kDelete,
                   absl::StrCat("DELETE FROM ", outbox_, " WHERE seq = ANY($1::bigint[])"));
    // The registration row, and the removal of rows whose relay's presence lock is gone, in one
    // statement (the DELETE leaves this relay's own row to the INSERT).
    conn_->prepare(
        kRegister,
        absl::StrCat(
            "WITH up AS (INSERT INTO public.quoteflow_outbox_relays AS r "
            "(schema_name, relay_id, backend_pid, shards, published, parked, heartbeat_at) "
            "VALUES ($1, $2, $3, $4::int[], $5, $6, now()) "
            "ON CONFLICT (schema_name, relay_id) DO UPDATE SET backend_pid = EXCLUDED.backend_pid, "
            "shards = EXCLUDED.shards, published = EXCLUDED.published, parked = EXCLUDED.parked, "
            "heartbeat_at = now() RETURNING 1), "
            "gone AS (DELETE FROM public.quoteflow_outbox_relays r WHERE r.schema_name = $1 AND "
            "r.relay_id <> $2 AND NOT EXISTS (SELECT 1 ",
            kAdvisoryLocks,
            " AND classid = $7::int4::oid AND objid = r.backend_pid::oid) RETURNING 1) "
            "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM gone)"));
    listener_ = std::make_unique<Listener>(*conn_, channel_);
  } catch (const std::exception& e) {
    return Broken(e, "preparing the relay session");
  }
  held_.clear();
  registered_ = false;
  fetch_start_ = 0;
  log::Info("connected to Postgres",
            {{"schema", options_.schema}, {"backend_pid", backend_pid_}, {"channel", channel_}});
  return absl::OkStatus();
}

void PgOutboxStore::WriteRegistration(pqxx::transaction_base& tx, int64_t published_total,
                                      int64_t parked_total) {
  tx.exec_prepared(kRegister, options_.schema, options_.relay_id, backend_pid_, IntArray(held_),
                   published_total, parked_total, presence_key_);
  registered_ = true;
}

absl::StatusOr<RebalanceResult> PgOutboxStore::Rebalance(int64_t published_total,
                                                         int64_t parked_total) {
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  RebalanceResult result;
  try {
    pqxx::nontransaction tx(*conn_);
    // One read of pg_locks: live relays (presence locks) and leased shards.
    pqxx::row counts = tx.exec_prepared1(kCountLocks, presence_key_, shard_key_);
    result.live_relays = std::max(1, counts[0].as<int>());
    const int leased = counts[1].as<int>();
    result.target = (options_.shards + result.live_relays - 1) / result.live_relays;
    if (static_cast<int>(held_.size()) > result.target) {
      // Release extras, highest shard first.
      while (static_cast<int>(held_.size()) > result.target) {
        result.released.push_back(held_.back());
        held_.pop_back();
      }
      tx.exec_params("SELECT pg_advisory_unlock($1, s) FROM unnest($2::int[]) AS s", shard_key_,
                     IntArray(result.released));
    } else if (static_cast<int>(held_.size()) < result.target && leased < options_.shards) {
      std::set<int> taken;
      for (const auto& row : tx.exec_params(absl::StrCat("SELECT objid::bigint ", kAdvisoryLocksOf),
                                            shard_key_)) {
        taken.insert(static_cast<int>(row[0].as<int64_t>()));
      }
      // Start at a relay-specific offset so that replicas starting together try different shards.
      int start = static_cast<int>(std::hash<std::string>{}(options_.relay_id) % options_.shards);
      for (int i = 0; i < options_.shards && static_cast<int>(held_.size()) < result.target; ++i) {
        int s = (start + i) % options_.shards;
        if (taken.count(s)) continue;
        if (tx.exec_params1("SELECT pg_try_advisory_lock($1, $2)", shard_key_, s)[0].as<bool>()) {
          held_.push_back(s);
          result.acquired.push_back(s);
        }
      }
      std::sort(held_.begin(), held_.end());
    }
    if (!result.acquired.empty() || !result.released.empty()) fetch_start_ = 0;
    // Rows of the new shards may be in backoff (left by their last holder): look at once.
    if (!result.acquired.empty()) next_retries_read_ = absl::InfinitePast();
    if (!registered_ || !result.acquired.empty() || !result.released.empty()) {
      WriteRegistration(tx, published_total, parked_total);
    }
  } catch (const std::exception& e) {
    return Broken(e, "rebalancing shard leases");
  }
  return result;
}

absl::Status PgOutboxStore::Heartbeat(int64_t published_total, int64_t parked_total) {
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  try {
    pqxx::nontransaction tx(*conn_);
    WriteRegistration(tx, published_total, parked_total);
  } catch (const std::exception& e) {
    return Broken(e, "writing the relay's registration");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxRow>> PgOutboxStore::FetchBatch(
    int limit, int* scanned, const std::vector<int64_t>& in_flight,
    const std::map<std::string, int>& in_flight_per_key, bool retries_pending) {
  if (scanned != nullptr) *scanned = 0;
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  std::vector<OutboxRow> rows;
  if (held_.empty() || limit <= 0) return rows;
  // Aggregates that may not have another row in flight: the query skips all their rows (else a
  // batch could come back full of rows that the cap below drops, while other aggregates wait).
  std::vector<std::string> busy;
  for (const auto& [aggregate_id, n] : in_flight_per_key) {
    if (n >= options_.max_per_key) busy.push_back(aggregate_id);
  }
  try {
    pqxx::nontransaction tx(*conn_);
    const std::string skip = IntArray(in_flight);
    const std::string busy_keys = TextArrayLiteral(busy);
    // Rows due for a retry take at most half the batch: failing rows hold the lowest seqs, and
    // would otherwise fill every batch while the other aggregates wait.
    pqxx::result retries;
    if (const absl::Time now = absl::Now(); retries_pending || now >= next_retries_read_) {
      retries = tx.exec_prepared(kFetchRetries, std::max(1, limit / 2), IntArray(held_), skip,
                                 busy_keys);
      next_retries_read_ = now + kRetriesReadInterval;
    }
    const int fresh_limit = limit - static_cast<int>(retries.size());
    pqxx::result fresh;
    const bool all = static_cast<int>(held_.size()) == options_.shards;
    std::vector<int> order;  // held shards, starting at fetch_start_
    if (fresh_limit > 0 && all) {
      fresh = tx.exec_prepared(kFetchAll, fresh_limit, skip, busy_keys);
    } else if (fresh_limit > 0) {
      const size_t n = held_.size();
      order.reserve(n);
      for (size_t i = 0; i < n; ++i) order.push_back(held_[(fetch_start_ + i) % n]);
      fresh = tx.exec_prepared(kFetchSome, IntArray(order), fresh_limit, skip, busy_keys);
      if (static_cast<int>(fresh.size()) >= fresh_limit) {
        // A full batch: the next one starts after the last shard read, so that a shard with a
        // large backlog does not hold the others back.
        std::map<int, size_t> position;
        for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
        size_t last = 0;
        for (const auto& row : fresh) last = std::max(last, position[row[11].as<int>()]);
        fetch_start_ = (fetch_start_ + last + 1) % order.size();
      }
    }
    if (scanned != nullptr) *scanned = static_cast<int>(retries.size() + fresh.size());
    // Rows per aggregate: in flight, then taken here (keys point into the map and the results).
    std::unordered_map<std::string_view, int> per_key(in_flight_per_key.begin(),
                                                       in_flight_per_key.end());
    rows.reserve(retries.size() + fresh.size());
    // The two reads in one seq order, sorted as (seq, position): a pqxx::row is a counted
    // reference to its result, too dear to copy and re-parse for each comparison of 5,000 rows.
    struct RowRef {
      int64_t seq;
      const pqxx::result* result;
      pqxx::result::size_type index;
    };
    std::vector<RowRef> read;
    read.reserve(retries.size() + fresh.size());
    for (const pqxx::result* r : {&retries, &fresh}) {
      for (pqxx::result::size_type i = 0; i < r->size(); ++i) {
        read.push_back({(*r)[i][0].as<int64_t>(), r, i});
      }
    }
    std::sort(read.begin(), read.end(),
              [](const RowRef& x, const RowRef& y) { return x.seq < y.seq; });
    for (const RowRef& ref : read) {
      const pqxx::row row = (*ref.result)[ref.index];
      const std::string_view aggregate_id(row[4].c_str(), row[4].size());
      if (++per_key[aggregate_id] > options_.max_per_key) continue;
      OutboxRow o;
      o.seq = ref.seq;
      o.event_id = row[1].as<std::string>();
      o.event_type = row[2].as<std::string>();
      o.aggregate_type = row[3].as<std::string>();
      o.aggregate_id = std::string(aggregate_id);
      o.aggregate_version = row[5].as<int64_t>();
      o.topic = row[6].as<std::string>();
      o.payload = row[7].as<std::string>();
      o.source = row[8].as<std::string>();
      o.traceparent = row[9].as<std::string>();
      o.occurred_at = row[10].as<std::string>();
      o.shard = row[11].as<int>();
      o.attempts = row[12].as<int>();
      rows.push_back(std::move(o));
    }
  } catch (const std::exception& e) {
    return Broken(e, "reading the outbox");
  }
  return rows;
}

absl::Status PgOutboxStore::DeletePublished(const std::vector<int64_t>& seqs) {
  if (seqs.empty()) return absl::OkStatus();
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec_prepared(kDelete, IntArray(seqs));
  } catch (const std::exception& e) {
    return Broken(e, "deleting published rows");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PgOutboxStore::RecordPermanentFailures(
    const std::vector<PermanentFailure>& failures, int max_attempts) {
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  int parked = 0;
  try {
    pqxx::work tx(*conn_);
    for (const PermanentFailure& f : failures) {
      pqxx::result r = tx.exec_params(
          absl::StrCat("UPDATE ", outbox_,
                       " SET attempts = attempts + 1, last_error = $2, parked_at = CASE WHEN "
                       "attempts + 1 >= $3 THEN now() END, next_attempt_at = CASE WHEN "
                       "attempts + 1 < $3 THEN ",
                       BackoffSql("attempts + 1", "$4", "$5"),
                       " END WHERE seq = $1 RETURNING parked_at IS NOT NULL, attempts"),
          f.seq, f.error.substr(0, 2000), max_attempts, Millis(options_.row_backoff),
          Millis(options_.max_row_backoff));
      if (!r.empty() && r[0][0].as<bool>()) ++parked;
    }
    tx.commit();
  } catch (const std::exception& e) {
    return Broken(e, "recording failed deliveries");
  }
  return parked;
}

absl::Status PgOutboxStore::RecordTransientFailures(const std::vector<PermanentFailure>& failures) {
  if (failures.empty()) return absl::OkStatus();
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  // One statement per distinct error (usually one: a partition or the whole cluster is down).
  std::map<std::string, std::vector<int64_t>> by_error;
  for (const PermanentFailure& f : failures) by_error[f.error.substr(0, 2000)].push_back(f.seq);
  try {
    pqxx::work tx(*conn_);
    for (const auto& [error, seqs] : by_error) {
      tx.exec_params(
          absl::StrCat("UPDATE ", outbox_,
                       " SET retries = retries + 1, last_error = $2, next_attempt_at = ",
                       BackoffSql("retries + 1", "$3", "$4"), " WHERE seq = ANY($1::bigint[])"),
          IntArray(seqs), error, Millis(options_.row_backoff), Millis(options_.max_row_backoff));
    }
    tx.commit();
  } catch (const std::exception& e) {
    return Broken(e, "recording failed deliveries");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PgOutboxStore::WaitForNotification(absl::Duration max,
                                                        const std::atomic<bool>& stop) {
  if (conn_ == nullptr) return absl::UnavailableError("not connected");
  absl::Time deadline = absl::Now() + max;
  try {
    if (conn_->get_notifs() > 0) return true;
    while (!stop.load()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      long usec = static_cast<long>(
          absl::ToInt64Microseconds(std::min(left, absl::Milliseconds(100))));
      if (conn_->await_notification(0, usec) > 0) return true;
    }
  } catch (const std::exception& e) {
    return Broken(e, "waiting for notifications");
  }
  return false;
}

absl::Status PgOutboxStore::ReleaseAndDisconnect() {
  if (conn_ == nullptr) return absl::OkStatus();
  absl::Status status;
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec("SELECT pg_advisory_unlock_all()");
    tx.exec_params("DELETE FROM public.quoteflow_outbox_relays WHERE schema_name = $1 AND relay_id = $2",
                   options_.schema, options_.relay_id);
  } catch (const std::exception& e) {
    status = StatusFromPqxx(e, "releasing leases");
  }
  Disconnect();
  return status;
}

PgBacklogReader::PgBacklogReader(Options options) : options_(std::move(options)) {}

PgBacklogReader::~PgBacklogReader() = default;

absl::StatusOr<BacklogStats> PgBacklogReader::Read(const std::vector<int>& held) {
  try {
    if (conn_ == nullptr) {
      // A bounded connect: on SIGTERM the relay waits for this thread's read under way.
      ASSIGN_OR_RETURN(
          std::unique_ptr<pqxx::connection> conn,
          OpenPgConnection(WithClientLiveness(options_.database_url, options_.liveness),
                           kGaugesConnectTimeout));
      pqxx::nontransaction tx(*conn);
      tx.exec_params("SELECT set_config('application_name', $1, false)",
                     ("outbox-relay " + options_.relay_id + " gauges").substr(0, 63));
      if (std::string sql = ServerLivenessSql(options_.liveness); !sql.empty()) tx.exec(sql);
      // As on the lease session: planned for the outbox as it is now, without parallel workers.
      tx.exec("SET max_parallel_workers_per_gather = 0");
      tx.exec("SET plan_cache_mode = force_custom_plan");
      // And through the indexes: until autovacuum, the table statistics still count the rows a
      // drain deleted, and a sequential scan planned for them reads every dead row on every read
      // (28 ms per read after 100,000 rows were deleted).
      tx.exec("SET enable_seqscan = off");
      tx.commit();
      conn->prepare(kBacklogStats,
                    BacklogStatsSql(absl::StrCat(conn->quote_name(options_.schema), ".outbox")));
      conn_ = std::move(conn);
    }
    // Holding every shard, the held shards have a backlog when the outbox has one (and their
    // probes would walk an index the relay does not read).
    const bool all = static_cast<int>(held.size()) >= options_.shards;
    pqxx::nontransaction tx(*conn_);
    pqxx::row r =
        tx.exec_prepared1(kBacklogStats, all ? IntArray(std::vector<int>{}) : IntArray(held));
    BacklogStats s;
    s.backlog = r[0].as<int64_t>();
    s.parked = r[1].as<int64_t>();
    s.oldest_age_seconds = r[2].as<double>();
    s.held_backlog = all ? s.backlog > 0 : r[3].as<bool>();
    return s;
  } catch (const std::exception& e) {
    conn_.reset();  // the next read reconnects
    return StatusFromPqxx(e, "reading the outbox backlog gauges");
  }
}

}  // namespace quoteflow::relay
