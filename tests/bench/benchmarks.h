// The benchmarks of quoteflow-bench. Each runs against its own throwaway Postgres (and broker and
// quoteflow processes), prints its absolute figures and ends with one or more
// `RATIO <name> <value> target=<target>` lines comparing them with a baseline measured in the same
// run (docs/performance.md explains each). A failure to set up returns an error status; a missed
// target is not an error (benchmarks measure, they do not judge).
//
// Thread-safety: run one benchmark at a time, from the main thread.
#ifndef QUOTEFLOW_TESTS_BENCH_BENCHMARKS_H_
#define QUOTEFLOW_TESTS_BENCH_BENCHMARKS_H_

#include <string>

#include "absl/status/status.h"
#include "tests/bench/bench_flags.h"
#include "tests/bench/bench_system.h"

namespace quoteflow::bench {

// Figures a benchmark leaves for a later one of the same run (`all`): the saga benchmark judges its
// flat-out rate against the api's. 0 = not measured in this run.
struct BenchResults {
  double api_tps_at_16_clients = 0;
};

// Everything a benchmark needs: flags, binaries, a fresh work directory, and `tiny` for the
// seconds-long smoke run (sizes shrink; the output has the same shape).
struct BenchContext {
  const BenchFlags* flags = nullptr;
  BenchBinaries binaries;
  std::string work_dir;
  bool tiny = false;
  bool durable = true;
  BenchResults* results = nullptr;
};

// (a) ApproveQuote through quote-api vs pgbench running the same SQL, at 1/16/64 clients.
absl::Status RunApiBenchmark(const BenchContext& ctx);
// (b) outbox-relay draining N rows vs a plain producer and vs Postgres alone.
absl::Status RunRelayBenchmark(const BenchContext& ctx);
// (c) commit -> on Kafka latency at 20% of the maximum rate, NOTIFY on and off.
absl::Status RunLatencyBenchmark(const BenchContext& ctx);
// (d) relay throughput with 1, 2 and 4 replicas over 64 shards.
absl::Status RunRelayScaleBenchmark(const BenchContext& ctx);
// (e) sagas flat out and approve -> ISSUED at half of that rate, by choreography and by
// orchestration, and worker throughput with 1 and 2 instances (choreography).
absl::Status RunSagaBenchmark(const BenchContext& ctx);
// (f) outbox-relay vs Debezium (Kafka Connect standalone and the embedded engine) on the same
// Postgres and broker: drain throughput and commit -> consumed latency.
absl::Status RunDebeziumBenchmark(const BenchContext& ctx);

}  // namespace quoteflow::bench

#endif  // QUOTEFLOW_TESTS_BENCH_BENCHMARKS_H_
