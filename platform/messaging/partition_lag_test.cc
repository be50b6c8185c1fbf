#include "platform/messaging/partition_lag.h"

#include <librdkafka/rdkafka.h>

#include "gtest/gtest.h"

namespace quoteflow::messaging {
namespace {

TEST(StartingOffsetTest, CommittedFirstThenLowWatermark) {
  EXPECT_EQ(StartingOffset(17, 3), 17);
  EXPECT_EQ(StartingOffset(0, 5), 0);
  // No committed offset (librdkafka's RD_KAFKA_OFFSET_INVALID): auto.offset.reset=earliest.
  EXPECT_EQ(StartingOffset(RD_KAFKA_OFFSET_INVALID, 5), 5);
  EXPECT_EQ(StartingOffset(RD_KAFKA_OFFSET_INVALID, 0), 0);
  EXPECT_EQ(StartingOffset(RD_KAFKA_OFFSET_INVALID, -1), std::nullopt);
}

TEST(LagMessagesTest, HighWatermarkMinusNextOffset) {
  EXPECT_EQ(LagMessages(10, 4), 6);
  EXPECT_EQ(LagMessages(10, 10), 0);
  EXPECT_EQ(LagMessages(0, 0), 0);  // an empty partition
  // A stale (cached) high watermark below what was applied is not a negative lag.
  EXPECT_EQ(LagMessages(8, 10), 0);
  EXPECT_EQ(LagMessages(-1, 4), std::nullopt);  // no fetch response yet
  EXPECT_EQ(LagMessages(RD_KAFKA_OFFSET_INVALID, 4), std::nullopt);
  EXPECT_EQ(LagMessages(10, RD_KAFKA_OFFSET_INVALID), std::nullopt);
}

TEST(DescribeLagTest, TotalAndPartitionsWithLag) {
  const std::vector<PartitionLag> lags = {{"quotes", 0, 0}, {"quotes", 3, 5}, {"customers", 1, 2}};
  EXPECT_EQ(TotalLag(lags), 7);
  EXPECT_EQ(DescribeLag(lags), "quotes[3]=5,customers[1]=2");
  EXPECT_EQ(TotalLag({}), 0);
  EXPECT_EQ(DescribeLag({{"quotes", 0, 0}}), "");
}

}  // namespace
}  // namespace quoteflow::messaging
