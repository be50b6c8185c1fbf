// LatencyHistogram: exact latency samples (nanoseconds) of one benchmark phase, with percentiles
// computed by sorting. Benchmarks record at most a few million samples, so keeping them all is
// cheaper and more honest than bucketing. Not thread-safe: record into one histogram per thread
// (or per stream) and Merge() them afterwards.
#ifndef QUOTEFLOW_TESTS_BENCH_LATENCY_HISTOGRAM_H_
#define QUOTEFLOW_TESTS_BENCH_LATENCY_HISTOGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace quoteflow::bench {

class LatencyHistogram {
 public:
  void Record(absl::Duration d) { samples_.push_back(absl::ToInt64Nanoseconds(d)); }
  void RecordNanos(int64_t ns) { samples_.push_back(ns); }
  void Merge(const LatencyHistogram& other);

  int64_t count() const { return static_cast<int64_t>(samples_.size()); }
  // The q-quantile (0 < q <= 1, nearest rank) in milliseconds; 0 when empty.
  double PercentileMs(double q) const;
  double MeanMs() const;
  double MaxMs() const;
  // "p50=0.52ms p90=... p99=... p99.9=... max=..." for reports.
  std::string Summary() const;
  // {"count":N,"mean_ms":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"p999_ms":..,"max_ms":..}
  std::string ToJson() const;

 private:
  void SortIfNeeded() const;
  mutable std::vector<int64_t> samples_;
  mutable bool sorted_ = false;
  mutable size_t sorted_size_ = 0;
};

}  // namespace quoteflow::bench

#endif  // QUOTEFLOW_TESTS_BENCH_LATENCY_HISTOGRAM_H_
