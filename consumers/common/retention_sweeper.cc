#include "consumers/common/retention_sweeper.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consumers/common/pg_guard.h"
#include "platform/observability/log.h"

namespace quoteflow::workers {
namespace {

// One batch: the oldest `batch` expired rows (by the database's clock), deleted by ctid in one
// statement. $1 = retention in microseconds, $2 = batch, $3 = the table's parameter (if used).
std::string BatchSql(const RetentionTable& t) {
  return absl::StrCat(
      "DELETE FROM ", t.table, " WHERE ctid = ANY (ARRAY (SELECT ctid FROM ", t.table, " WHERE ",
      t.time_column, " < now() - $1::bigint * interval '1 microsecond' AND (",
      t.predicate.empty() ? "true" : t.predicate, ") ORDER BY ", t.time_column, " LIMIT $2))");
}

}  // namespace

RetentionTable InboxTable(const std::string& schema, const std::string& consumer) {
  return RetentionTable{.table = absl::StrCat(schema, ".inbox"),
                        .time_column = "received_at",
                        .predicate = "consumer = $3::text",
                        .param = consumer};
}

RetentionTable QuoteRequestsTable() {
  return RetentionTable{.table = "quote.requests", .time_column = "created_at"};
}

RetentionTable CustomerRequestsTable() {
  return RetentionTable{.table = "customer.requests", .time_column = "created_at"};
}

RetentionTable FinishedSagaHistoryTable() {
  return RetentionTable{
      .table = "saga.history",
      .time_column = "at",
      .predicate =
          "EXISTS (SELECT 1 FROM saga.sagas s WHERE s.quote_id = saga.history.quote_id"
          " AND s.state IN ('COMPLETED', 'COMPENSATED'))"};
}

void DeclareRetentionOptions(Config& config) {
  config.Declare("retention", "336h",
                 "how long inbox rows (and request ids, finished saga history) are kept; at "
                 "least --replay-window, or a replay would apply events twice");
  config.Declare("replay-window", "336h",
                 "age of the oldest record `quotectl replay` can make this worker read again: its "
                 "topics' retention.ms + segment.ms (Kafka defaults: 7d + 7d); the minimum of "
                 "--retention");
  config.Declare("retention-sweep-interval", "1m", "how often expired rows are deleted");
  config.Declare("retention-sweep-batch", "1000", "rows deleted per statement at most");
}

absl::Status ValidateRetention(const RetentionOptions& o) {
  if (o.replay_window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--replay-window: must be positive");
  }
  if (o.retention < o.replay_window) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--retention: ", absl::FormatDuration(o.retention), " is shorter than --replay-window ",
        absl::FormatDuration(o.replay_window),
        ": a replay would re-read events whose inbox rows are gone and apply them twice"));
  }
  if (o.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--retention-sweep-interval: must be positive");
  }
  if (o.batch < 1 || o.max_batches_per_pass < 1) {
    return absl::InvalidArgumentError("--retention-sweep-batch: must be at least 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<RetentionOptions> RetentionOptionsFromConfig(const Config& config) {
  auto retention = config.GetDuration("retention");
  auto replay_window = config.GetDuration("replay-window");
  auto interval = config.GetDuration("retention-sweep-interval");
  auto batch = config.GetInt("retention-sweep-batch", 1, 100000);
  for (const absl::Status& s :
       {retention.status(), replay_window.status(), interval.status(), batch.status()}) {
    if (!s.ok()) return s;
  }
  RetentionOptions o{.retention = *retention,
                     .replay_window = *replay_window,
                     .interval = *interval,
                     .batch = static_cast<int>(*batch)};
  if (absl::Status s = ValidateRetention(o); !s.ok()) return s;
  return o;
}

RetentionSweeper::RetentionSweeper(PgPool& pool, std::vector<RetentionTable> tables,
                                   RetentionOptions options)
    : pool_(pool), tables_(std::move(tables)), options_(options) {
  for (const RetentionTable& t : tables_) deleted_[t.table];
}

RetentionSweeper::~RetentionSweeper() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void RetentionSweeper::Start() {
  thread_ = std::thread([this] { Loop(); });
}

int64_t RetentionSweeper::deleted(const std::string& table) const {
  auto it = deleted_.find(table);
  return it == deleted_.end() ? 0 : it->second.load();
}

absl::StatusOr<int64_t> RetentionSweeper::SweepOnce() {
  int64_t total = 0;
  const int64_t retention_us = absl::ToInt64Microseconds(options_.retention);
  for (const RetentionTable& t : tables_) {
    const std::string sql = BatchSql(t);
    const bool with_param = absl::StrContains(t.predicate, "$3");
    for (int i = 0; i < options_.max_batches_per_pass && !stop_; ++i) {
      int64_t n = 0;
      absl::Status s = pool_.Run(
          absl::Now() + absl::Seconds(5), "sweeping expired rows", [&](pqxx::connection& c) {
            return PgGuard("sweeping expired rows", [&]() -> absl::Status {
              pqxx::work tx(c);
              pqxx::result r = with_param
                                   ? tx.exec_params(sql, retention_us, options_.batch, t.param)
                                   : tx.exec_params(sql, retention_us, options_.batch);
              tx.commit();
              n = r.affected_rows();
              return absl::OkStatus();
            });
          });
      if (!s.ok()) {
        ++errors_;
        return s;
      }
      deleted_.at(t.table) += n;
      total += n;
      if (n < options_.batch) break;  // the table is within its window
    }
  }
  ++passes_;
  return total;
}

void RetentionSweeper::Register(metrics::Registry& registry) {
  registry.AddGaugeFamilyCallback(
      "quoteflow_retention_deleted_rows", "Rows deleted by the retention sweep since start.",
      {"table"}, [this] {
        std::vector<metrics::LabeledValue> out;
        for (const auto& [table, n] : deleted_) {
          out.push_back(metrics::LabeledValue{{table}, static_cast<double>(n.load())});
        }
        return out;
      });
  registry.AddCounterCallback("quoteflow_retention_sweeps_total",
                              "Retention sweep passes completed.",
                              [this] { return static_cast<double>(passes_.load()); });
  registry.AddCounterCallback("quoteflow_retention_sweep_errors_total",
                              "Retention sweep passes that failed (retried next interval).",
                              [this] { return static_cast<double>(errors_.load()); });
}

void RetentionSweeper::Loop() {
  absl::Time next_error_log = absl::InfinitePast();
  while (!stop_) {
    absl::StatusOr<int64_t> n = SweepOnce();
    if (!n.ok() && absl::Now() >= next_error_log) {
      log::Warn("retention sweep failed", {{"error", n.status().ToString()}});
      next_error_log = absl::Now() + absl::Minutes(1);
    } else if (n.ok() && *n > 0) {
      log::Debug("retention sweep", {{"deleted", static_cast<long long>(*n)}});
    }
    const absl::Time until = absl::Now() + options_.interval;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace quoteflow::workers
