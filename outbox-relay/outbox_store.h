// PgOutboxStore: the relay's Postgres side. One dedicated connection carries the shard leases (session
// advisory locks), the LISTEN for new rows, the batch reads and the deletes. Because leases and work
// share the connection, losing it loses the leases and every later read/delete fails: the relay then
// reconnects and starts over with no shards (fencing). libpqxx's silent reconnection is disabled for
// that reason.
//
// Liveness of replicas for the fair split comes from a "presence" advisory lock each relay holds on its
// connection: a dead relay's locks (and shards) disappear as soon as Postgres notices its connection is
// gone. public.quoteflow_outbox_relays records, for people and `quotectl outbox stats`, who runs and
// which shards each holds.
//
// Cost (issue 13): every statement is prepared once per session. A lease tick that changes nothing
// is one statement (one read of pg_locks); the registration row is written when the held shards
// change and on Heartbeat(). The backlog gauges (PgBacklogReader, on a second connection) count
// at most 100,000 rows instead of the whole outbox. An idle relay with the default intervals makes
// about 3.2 statements per second: 2 lease ticks, 1 fallback poll, and the gauges + Heartbeat()
// every 10 s.
//
// Not thread-safe: owned and used by the relay's single worker thread.
#ifndef QUOTEFLOW_OUTBOX_RELAY_OUTBOX_STORE_H_
#define QUOTEFLOW_OUTBOX_RELAY_OUTBOX_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::relay {

// One unpublished outbox row, as the relay needs it.
struct OutboxRow {
  int64_t seq = 0;
  std::string event_id;
  std::string event_type;
  std::string aggregate_type;
  std::string aggregate_id;
  int64_t aggregate_version = 0;
  std::string topic;  // empty: resolve through the topic map
  std::string payload;
  std::string source;
  std::string traceparent;
  std::string occurred_at;  // RFC 3339, UTC
  int shard = 0;
  int attempts = 0;
};

struct PermanentFailure {
  int64_t seq = 0;
  std::string error;
};

struct RebalanceResult {
  int live_relays = 0;
  int target = 0;
  std::vector<int> acquired;
  std::vector<int> released;
};

struct BacklogStats {
  // Unparked rows of the whole outbox: counted up to 100,000 (the outbox is small while the relays
  // keep up), estimated beyond from Postgres' table statistics (live tuples minus parked rows)
  // rather than reading a large backlog every stats tick.
  int64_t backlog = 0;
  int64_t parked = 0;  // exact
  // Age of the oldest unparked row (the lowest seq waiting, or the oldest row in backoff); 0 when
  // none.
  double oldest_age_seconds = 0;
  // Whether the shards this relay holds have unparked rows (waiting, in flight or in backoff).
  bool held_backlog = false;
};

class PgOutboxStore {
 public:
  struct Options {
    std::string database_url;
    std::string schema;  // holds the outbox table
    std::string relay_id;
    int shards = 64;
    // At most this many rows of one aggregate in flight (see RelayOptions::max_in_flight_per_key).
    int max_per_key = 1;
    // Both ends of the lease session: when this relay's host is cut off, the server ends the
    // session (and so frees its leases for the other replicas) within keepalive_idle + 3 *
    // keepalive_interval, instead of Linux's 2 h 11 min; this relay's own statements fail after
    // tcp_user_timeout and it reconnects.
    PgLinkLiveness liveness;
    // Backoff of a row after a failed delivery: row_backoff * 2^(failures - 1), at most
    // max_row_backoff.
    absl::Duration row_backoff = absl::Milliseconds(500);
    absl::Duration max_row_backoff = absl::Seconds(30);
  };

  explicit PgOutboxStore(Options options);
  ~PgOutboxStore();
  PgOutboxStore(const PgOutboxStore&) = delete;
  PgOutboxStore& operator=(const PgOutboxStore&) = delete;

  // Opens the connection, checks the schema is migrated, takes the presence lock, prepares the
  // statements and LISTENs.
  // UNAVAILABLE when Postgres cannot be reached (retry later); FAILED_PRECONDITION when the database is
  // not migrated ("run quotectl migrate"), the outbox table is missing or its shard count differs from
  // options.shards (do not retry: configuration or deployment error).
  absl::Status Connect();
  bool connected() const { return conn_ != nullptr; }
  // Closes the connection; Postgres drops every lease held on it.
  void Disconnect();

  // Moves towards holding ceil(shards / live relays) shards: counts live relays and leased shards
  // (one statement), releases extras, tries to lock free ones; writes the registration row when the
  // held shards changed (or none was written yet on this connection). UNAVAILABLE when the
  // connection broke (the store is then disconnected and holds nothing).
  absl::StatusOr<RebalanceResult> Rebalance(int64_t published_total, int64_t parked_total);
  const std::vector<int>& held_shards() const { return held_; }

  // Writes the registration row (counters, heartbeat_at) and removes the rows of relays whose
  // presence lock is gone, in one statement. UNAVAILABLE as above.
  absl::Status Heartbeat(int64_t published_total, int64_t parked_total);

  // Up to `limit` unparked rows of the held shards, in seq order within each shard (so per
  // aggregate): first the rows due for a retry (a failed delivery whose backoff has passed), at
  // most half of `limit`, then rows never tried. Skipped: rows in backoff, rows behind a parked
  // or failed row of the same aggregate, and the rows in `in_flight` (seqs produced and not yet
  // reported); at most max_per_key rows per aggregate, counting `in_flight_per_key` (rows of that
  // aggregate already in flight). Holding every shard, it reads the outbox in seq order; holding
  // some, it reads each held shard's range of the outbox_shard_seq index in turn (starting after
  // the shard where the last full batch ended, so that every held shard gets its turn), and
  // stops at `limit` rows: the work is bounded by the rows returned plus one index probe per held
  // shard, whatever the other shards hold. `*scanned` (optional) receives how many rows were read
  // before the per-aggregate cap (== limit: there is more). Rows due for a retry are looked for on
  // every call while `retries_pending` (the caller has rows in backoff), else at once after newly
  // acquired shards and then at most every kRetriesReadInterval: rows that another relay (or an
  // earlier run) left in backoff are retried at most that much late, and never out of order
  // (their aggregates' later rows wait behind them). UNAVAILABLE when the connection broke (store
  // disconnected).
  absl::StatusOr<std::vector<OutboxRow>> FetchBatch(
      int limit, int* scanned = nullptr, const std::vector<int64_t>& in_flight = {},
      const std::map<std::string, int>& in_flight_per_key = {}, bool retries_pending = false);
  // The retries read costs about as much as the read of fresh rows (mostly planning: every read
  // is planned afresh), so an idle or healthy relay skips it between these.
  static constexpr absl::Duration kRetriesReadInterval = absl::Seconds(2);

  // Deletes published rows. UNAVAILABLE when the connection broke (the rows stay and are published
  // again, by this relay after reconnecting or by whoever takes the shards).
  absl::Status DeletePublished(const std::vector<int64_t>& seqs);

  // Counts an attempt and records the error of each row; parks it when its attempts reach
  // max_attempts. Returns how many rows were parked now. UNAVAILABLE as above.
  absl::StatusOr<int> RecordPermanentFailures(const std::vector<PermanentFailure>& failures,
                                              int max_attempts);

  // Records a transient delivery failure of each row (retries + 1, last_error) and puts it in
  // backoff (next_attempt_at): until then neither it nor a later row of its aggregate is read.
  // UNAVAILABLE as above.
  absl::Status RecordTransientFailures(const std::vector<PermanentFailure>& failures);

  // Waits until a NOTIFY on "<schema>_outbox" arrived (true), `max` passed or *stop became true (false).
  // UNAVAILABLE when the connection broke.
  absl::StatusOr<bool> WaitForNotification(absl::Duration max, const std::atomic<bool>& stop);

  // Releases every lease, removes this relay's heartbeat row and disconnects. Best effort: errors are
  // returned for logging only, the leases go with the connection anyway.
  absl::Status ReleaseAndDisconnect();

 private:
  class Listener;
  absl::Status Broken(const std::exception& e, const std::string& what);
  void WriteRegistration(pqxx::transaction_base& tx, int64_t published_total, int64_t parked_total);

  Options options_;
  std::string outbox_;   // quoted "schema".outbox
  std::string channel_;  // <schema>_outbox
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Listener> listener_;
  int backend_pid_ = 0;
  int shard_key_ = 0;
  int presence_key_ = 0;
  std::vector<int> held_;
  bool registered_ = false;  // the registration row was written on this connection
  size_t fetch_start_ = 0;   // FetchBatch of some shards starts at held_[fetch_start_]
  absl::Time next_retries_read_ = absl::InfinitePast();  // see FetchBatch
};

// PgBacklogReader: reads BacklogStats on a connection of its own, apart from the lease session:
// a read may take tens of milliseconds (up to 100,000 rows counted), which on the publishing
// connection would hold up every row behind it (BacklogMonitor runs it on a thread of its own).
// Not thread-safe.
class PgBacklogReader {
 public:
  // The relay's store options: its database, schema, relay id (in application_name), shard count
  // and link liveness (the other fields are not used).
  using Options = PgOutboxStore::Options;

  explicit PgBacklogReader(Options options);
  ~PgBacklogReader();
  PgBacklogReader(const PgBacklogReader&) = delete;
  PgBacklogReader& operator=(const PgBacklogReader&) = delete;

  // The backlog of the whole outbox (all shards), without reading it all; held_backlog for the
  // shards `held`. Connects first when it has no connection. UNAVAILABLE when Postgres cannot be
  // reached or the connection broke (the next call reconnects).
  absl::StatusOr<BacklogStats> Read(const std::vector<int>& held);

 private:
  Options options_;
  std::unique_ptr<pqxx::connection> conn_;
};

// FetchBatch's statements (exposed for tests and benchmarks), for the outbox table `outbox`
// ("schema".outbox). Both return the columns of OutboxRow in its order.
// All shards: $1 = limit, $2 = seqs to skip (bigint[]), $3 = aggregates to skip (text[]). Reads
// the primary key in seq order.
std::string FetchAllShardsSql(const std::string& outbox);
// Some shards: $1 = the shards (int[]), in the order to read them; $2 = limit; $3 = seqs to skip
// (bigint[]); $4 = aggregates to skip (text[]). Rows come back in seq order.
std::string FetchSomeShardsSql(const std::string& outbox);
// Rows due for a retry: $1 = limit, $2 = the held shards (int[]), $3 and $4 as above.
std::string FetchRetriesSql(const std::string& outbox);

// FAILED_PRECONDITION when `schema`.outbox does not exist; UNAVAILABLE / INTERNAL from the database.
absl::Status CheckOutboxTable(pqxx::connection_base& conn, const std::string& schema);

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_OUTBOX_STORE_H_
