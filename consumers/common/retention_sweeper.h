// Bounded tables: the RetentionSweeper deletes the rows of a process's bookkeeping tables that are
// older than the retention window, in bounded batches on a timer, in the process that owns them:
//   every worker       <schema>.inbox rows of its --consumer-name (received_at)
//   customer-worker    customer.requests (CreateCustomer idempotency keys, created_at)
//   quote-worker       quote.requests (quote-api's idempotency keys, created_at; swept by the
//                      quote schema's worker, which holds the same grants, so that quote-api's
//                      request path stays free of background work)
//   saga-orchestrator  saga.history of COMPLETED / COMPENSATED sagas (at); the saga rows stay (they
//                      are what makes a redelivered QuoteApproved start nothing)
// Each batch is one statement, `DELETE FROM t WHERE ctid = ANY (ARRAY (SELECT ctid FROM t WHERE
// <time> < now() - retention ... LIMIT batch))`, by the database's clock, through an index on the
// time column; a pass repeats it per table until a batch comes back short (at most
// max_batches_per_pass), so a sweep never holds locks or a transaction for long.
//
// The retention window and the replay window. An inbox row is what makes a redelivered event a
// no-op. `quotectl replay --to-earliest` (or --to-time) makes a worker read again every record its
// topics still hold, so every event that can be read again must still have its inbox row: the
// retention must be at least the replay window, the age of the oldest record a topic can still
// hand out. On Kafka that is retention.ms plus segment.ms (a segment is deleted only once its
// newest record is past retention.ms): 7 d + 7 d with Kafka's defaults, hence the defaults
// --replay-window=336h --retention=336h. RetentionOptionsFromConfig refuses a retention shorter
// than the replay window; lower both only for topics whose retention.ms + segment.ms is lower.
// The same window bounds how long a client may repeat a request id (quote.requests,
// customer.requests) and how long a finished saga's history can be read (`quotectl saga show`).
//
// Thread-safety: SweepOnce() may be called from any thread, one call at a time; Start() runs a
// thread until the destructor stops and joins it; stats are atomic.
#ifndef QUOTEFLOW_CONSUMERS_COMMON_RETENTION_SWEEPER_H_
#define QUOTEFLOW_CONSUMERS_COMMON_RETENTION_SWEEPER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/config/config.h"
#include "platform/observability/metrics.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::workers {

// One table to sweep: rows whose `time_column` is older than the retention and that match
// `predicate` (SQL over the table's columns; it may use $3 = `param`) are deleted.
struct RetentionTable {
  std::string table;        // "policy.inbox"
  std::string time_column;  // indexed: "received_at"
  std::string predicate;    // "" or e.g. "consumer = $3"
  std::string param;        // $3
};

// The inbox of `schema` for `consumer`; quote.requests; customer.requests; saga.history of
// finished sagas.
RetentionTable InboxTable(const std::string& schema, const std::string& consumer);
RetentionTable QuoteRequestsTable();
RetentionTable CustomerRequestsTable();
RetentionTable FinishedSagaHistoryTable();

struct RetentionOptions {
  absl::Duration retention = absl::Hours(336);
  absl::Duration replay_window = absl::Hours(336);
  absl::Duration interval = absl::Minutes(1);
  int batch = 1000;
  int max_batches_per_pass = 100;  // per table, per pass
};

// --retention, --replay-window, --retention-sweep-interval, --retention-sweep-batch (and their
// environment variables RETENTION, ...).
void DeclareRetentionOptions(Config& config);
// INVALID_ARGUMENT naming the option: unparsable values, a non-positive window, interval or batch,
// and a retention shorter than the replay window (the stated minimum).
absl::StatusOr<RetentionOptions> RetentionOptionsFromConfig(const Config& config);
// The same checks on options built in code.
absl::Status ValidateRetention(const RetentionOptions& options);

class RetentionSweeper {
 public:
  // `pool` must outlive the sweeper. Call ValidateRetention first: the sweeper trusts its options.
  RetentionSweeper(PgPool& pool, std::vector<RetentionTable> tables, RetentionOptions options);
  ~RetentionSweeper();  // stops and joins the thread, if started

  // Runs the sweep every options.interval on its own thread (errors are logged and retried).
  void Start();
  // One pass over every table; returns the rows deleted. UNAVAILABLE (and other mapped pqxx
  // errors) when the database fails; the rows deleted by earlier batches stay deleted.
  absl::StatusOr<int64_t> SweepOnce();

  // quoteflow_retention_deleted_rows_total{table}, quoteflow_retention_sweeps_total,
  // quoteflow_retention_sweep_errors_total. Call once, before Start().
  void Register(metrics::Registry& registry);

  int64_t passes() const { return passes_.load(); }
  int64_t deleted(const std::string& table) const;

 private:
  void Loop();

  PgPool& pool_;
  const std::vector<RetentionTable> tables_;
  const RetentionOptions options_;
  std::map<std::string, std::atomic<int64_t>> deleted_;  // keys fixed at construction
  std::atomic<int64_t> passes_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_RETENTION_SWEEPER_H_
