// BenchSystem: the pieces a benchmark starts and owns, all on this machine: a throwaway PostgreSQL
// cluster (LocalPostgres; durable by default, so commits pay a real fsync like production), a real
// single-node Apache Kafka (LocalKafka), and the quoteflow binaries as child processes with their logs in a
// work directory. Also: running pgbench with a script and reading its per-transaction log, SQL
// helpers, and the benchmark's output lines (figures, then `RATIO <name> <value> target=<t>`).
//
// Thread-safety: a BenchSystem is used by the benchmark's main thread only (children are tied to
// the thread that started them, see child_process.h). Sql() opens its own connection per call and
// may be called from any thread.
#ifndef QUOTEFLOW_TESTS_BENCH_BENCH_SYSTEM_H_
#define QUOTEFLOW_TESTS_BENCH_BENCH_SYSTEM_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/kafka/kafka_config.h"
#include "platform/local/local_kafka.h"
#include "platform/local/local_postgres.h"
#include "platform/process/child_process.h"
#include "tests/bench/latency_histogram.h"

namespace quoteflow::bench {

// Paths of the binaries the benchmarks run (filled from the build, overridable by flags).
struct BenchBinaries {
  std::string quote_api;
  std::string outbox_relay;
  std::string policy_worker;
  std::string customer_worker;
  std::string quote_worker;
  std::string saga_orchestrator;
  std::string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
};

struct PgbenchResult {
  double tps = 0;
  int64_t transactions = 0;
  int64_t failed = 0;
  LatencyHistogram latency;
};

class BenchSystem {
 public:
  BenchSystem(BenchBinaries binaries, std::string work_dir)
      : binaries_(std::move(binaries)), work_dir_(std::move(work_dir)) {}
  ~BenchSystem();

  // Starts PostgreSQL 15 and applies the migrations. `durable` false: fsync off (see
  // LocalPostgres::Options). Errors: LocalPostgres::Start's, or the migration error.
  absl::Status StartPostgres(bool durable,
                             std::vector<std::pair<std::string, std::string>> settings = {});
  // Starts a single-node Kafka (its data in the work directory) and creates `topics`
  // ("name:partitions,..."). LocalKafka::Start's and CreateTopics' errors.
  absl::Status StartBroker(const std::string& topics);

  // Starts a child with stderr in <work_dir>/<name>.log. ChildProcess::Start's errors.
  absl::Status Spawn(const std::string& name, const std::string& path,
                     std::vector<std::string> args);
  // SIGTERM to the named child and wait (up to 20 s); OK when it exited 0. NOT_FOUND for an
  // unknown name; INTERNAL with the exit status otherwise.
  absl::Status StopChild(const std::string& name);
  // Starts quote-api on a free port and waits until its health check says SERVING; returns the
  // address. UNAVAILABLE (with its log's tail) when it does not come up in 30 s.
  absl::StatusOr<std::string> StartQuoteApi(std::vector<std::string> extra_args = {},
                                            const std::string& name = "quote-api");
  // Waits until host:port answers a gRPC health check with SERVING. UNAVAILABLE on timeout.
  absl::Status WaitServing(const std::string& address, absl::Duration timeout = absl::Seconds(30));

  // Runs `sql` (one or more statements) on a fresh connection; returns the first result's first
  // column as text rows. INTERNAL / UNAVAILABLE from pqxx errors.
  absl::StatusOr<std::vector<std::string>> Sql(const std::string& sql) const;
  absl::StatusOr<int64_t> SqlInt(const std::string& sql) const;

  // Runs pgbench -n -M prepared with `script` at `clients` for `duration`, per-transaction log on.
  // `defines` become -D name=value. INTERNAL with pgbench's output when it fails or reports
  // nothing.
  absl::StatusOr<PgbenchResult> RunPgbench(const std::string& script, int clients,
                                           absl::Duration duration,
                                           const std::map<std::string, std::string>& defines);

  // Last bytes of a child's log.
  std::string LogTail(const std::string& name, size_t bytes = 3000) const;

  const std::string& database_url() const { return postgres_->database_url(); }
  const std::string& bootstrap_servers() const { return kafka_->bootstrap_servers(); }
  LocalPostgres* postgres() { return postgres_.get(); }
  const BenchBinaries& binaries() const { return binaries_; }
  const std::string& work_dir() const { return work_dir_; }
  std::string LogPath(const std::string& name) const;

 private:
  BenchBinaries binaries_;
  std::string work_dir_;
  std::unique_ptr<LocalPostgres> postgres_;
  std::unique_ptr<LocalKafka> kafka_;
  std::vector<std::pair<std::string, std::unique_ptr<process::ChildProcess>>> children_;
  int pgbench_runs_ = 0;
};

// Prints one figure line: "  <label>: <text>" (stdout, flushed).
void Figure(const std::string& label, const std::string& text);
// Prints "RATIO <name> <value> target=<target>" (stdout, flushed).
void Ratio(const std::string& name, double value, const std::string& target);
// Prints a benchmark heading.
void Heading(const std::string& text);
// Machine-readable lines for tests/bench/plot_bench.py (stdout, flushed):
//   "CDF <series> <q>:<ms>,..." - the latency distribution of `h` at fixed quantiles;
//   "POINT <series> <x> <y>"    - one point of a curve (e.g. TPS at a client count).
void Cdf(const std::string& series, const LatencyHistogram& h);
void Point(const std::string& series, double x, double y);

// CPU load of the machine: the 1-minute load average and the number of CPUs, as text.
std::string MachineLoad();

// A consumer (group `group`, fetch.wait.max.ms=1) assigned every partition 0..partitions-1 of
// `topics` from the beginning, polled through rd_kafka_consumer_poll: the arrival clock of the
// latency benchmarks.
absl::StatusOr<kafka::HandlePtr> ConsumerFromBeginning(const std::string& bootstrap,
                                                       const std::string& group,
                                                       const std::vector<std::string>& topics,
                                                       int partitions);

}  // namespace quoteflow::bench

#endif  // QUOTEFLOW_TESTS_BENCH_BENCH_SYSTEM_H_
