// Consumer lag per partition, as the inbox consumer (inbox_consumer.h) computes and exports it:
// lag = high watermark - the next offset the consumer will apply. "Next to apply" is the offset
// after the last record whose offset was stored (applied, skipped or dead-lettered); before any,
// the offset of the first record fetched in this assignment; before that, where consumption
// starts: the group's committed offset, or (none committed, auto.offset.reset=earliest) the low
// watermark. Records fetched but not applied yet (held in memory, or retried) count as lag.
//
// Pure functions over librdkafka's offsets (negative = a logical offset: unknown); thread-safe.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_PARTITION_LAG_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_PARTITION_LAG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quoteflow::messaging {

struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t messages = 0;  // >= 0

  friend bool operator==(const PartitionLag&, const PartitionLag&) = default;
};

// Where consumption of a partition starts: `committed` when the group has one (>= 0), else the
// low watermark (>= 0); nullopt when neither is known.
std::optional<int64_t> StartingOffset(int64_t committed, int64_t low_watermark);

// high_watermark - next_offset, at least 0; nullopt when either offset is unknown (negative).
std::optional<int64_t> LagMessages(int64_t high_watermark, int64_t next_offset);

// The sum of `lags`' messages.
int64_t TotalLag(const std::vector<PartitionLag>& lags);

// "quotes[3]=5,customers[0]=1": the partitions with a lag above 0, for logs ("" when none).
std::string DescribeLag(const std::vector<PartitionLag>& lags);

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_PARTITION_LAG_H_
