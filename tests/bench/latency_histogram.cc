#include "tests/bench/latency_histogram.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace quoteflow::bench {

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

void LatencyHistogram::SortIfNeeded() const {
  if (sorted_ && sorted_size_ == samples_.size()) return;
  std::sort(samples_.begin(), samples_.end());
  sorted_ = true;
  sorted_size_ = samples_.size();
}

double LatencyHistogram::PercentileMs(double q) const {
  if (samples_.empty()) return 0;
  SortIfNeeded();
  const double rank = std::ceil(q * static_cast<double>(samples_.size()));
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  index = std::min(index, samples_.size() - 1);
  return static_cast<double>(samples_[index]) / 1e6;
}

double LatencyHistogram::MeanMs() const {
  if (samples_.empty()) return 0;
  long double sum = 0;
  for (int64_t s : samples_) sum += s;
  return static_cast<double>(sum / samples_.size()) / 1e6;
}

double LatencyHistogram::MaxMs() const { return PercentileMs(1.0); }

std::string LatencyHistogram::Summary() const {
  return absl::StrFormat("p50=%.2fms p90=%.2fms p99=%.2fms p99.9=%.2fms max=%.2fms (n=%d)",
                         PercentileMs(0.5), PercentileMs(0.9), PercentileMs(0.99),
                         PercentileMs(0.999), MaxMs(), count());
}

std::string LatencyHistogram::ToJson() const {
  return absl::StrFormat(
      "{\"count\":%d,\"mean_ms\":%.4f,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,"
      "\"p999_ms\":%.4f,\"max_ms\":%.4f}",
      count(), MeanMs(), PercentileMs(0.5), PercentileMs(0.9), PercentileMs(0.99),
      PercentileMs(0.999), MaxMs());
}

}  // namespace quoteflow::bench
