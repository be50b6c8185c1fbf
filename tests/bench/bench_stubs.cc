#include "tests/bench/benchmarks.h"
namespace quoteflow::bench {
absl::Status RunRelayBenchmark(const BenchContext&) { return absl::UnimplementedError("todo"); }
absl::Status RunLatencyBenchmark(const BenchContext&) { return absl::UnimplementedError("todo"); }
absl::Status RunRelayScaleBenchmark(const BenchContext&) { return absl::UnimplementedError("todo"); }
absl::Status RunSagaBenchmark(const BenchContext&) { return absl::UnimplementedError("todo"); }
}  // namespace quoteflow::bench
