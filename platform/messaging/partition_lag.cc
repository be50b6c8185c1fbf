#include "platform/messaging/partition_lag.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace quoteflow::messaging {

std::optional<int64_t> StartingOffset(int64_t committed, int64_t low_watermark) {
  if (committed >= 0) return committed;
  if (low_watermark >= 0) return low_watermark;
  return std::nullopt;
}

std::optional<int64_t> LagMessages(int64_t high_watermark, int64_t next_offset) {
  if (high_watermark < 0 || next_offset < 0) return std::nullopt;
  return std::max<int64_t>(0, high_watermark - next_offset);
}

int64_t TotalLag(const std::vector<PartitionLag>& lags) {
  int64_t total = 0;
  for (const PartitionLag& l : lags) total += l.messages;
  return total;
}

std::string DescribeLag(const std::vector<PartitionLag>& lags) {
  std::string out;
  for (const PartitionLag& l : lags) {
    if (l.messages <= 0) continue;
    absl::StrAppend(&out, out.empty() ? "" : ",", l.topic, "[", l.partition, "]=", l.messages);
  }
  return out;
}

}  // namespace quoteflow::messaging
