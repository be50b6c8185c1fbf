#include "consumers/common/consumer_metrics.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace quoteflow::workers {
namespace {

TEST(ConsumerMetricsTest, LagPerAssignedPartitionAndInTotal) {
  messaging::InboxConsumerStats stats;
  metrics::Registry registry;
  RegisterConsumerMetrics(registry, stats);

  // Sorted by topic, then partition number.
  stats.SetPartitionLags(
      {{"quotes", 10, 1}, {"quotes", 3, 5}, {"customers", 0, 0}, {"quotes", 1, 2}});
  std::string text = registry.Serialize();
  EXPECT_TRUE(absl::StrContains(
      text,
      "# TYPE quoteflow_consumer_partition_lag_messages gauge\n"
      "quoteflow_consumer_partition_lag_messages{topic=\"customers\",partition=\"0\"} 0\n"
      "quoteflow_consumer_partition_lag_messages{topic=\"quotes\",partition=\"1\"} 2\n"
      "quoteflow_consumer_partition_lag_messages{topic=\"quotes\",partition=\"3\"} 5\n"
      "quoteflow_consumer_partition_lag_messages{topic=\"quotes\",partition=\"10\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "\nquoteflow_consumer_lag_messages 8\n")) << text;

  // After a rebalance that took the quotes partitions away, their series are gone.
  stats.SetPartitionLags({{"customers", 0, 4}});
  text = registry.Serialize();
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_consumer_partition_lag_messages{topic=\"customers\",partition=\"0\"} 4\n"))
      << text;
  EXPECT_FALSE(absl::StrContains(text, "topic=\"quotes\"")) << text;
  EXPECT_TRUE(absl::StrContains(text, "\nquoteflow_consumer_lag_messages 4\n")) << text;

  // Stopped: no partition, no lag.
  stats.SetPartitionLags({});
  text = registry.Serialize();
  EXPECT_FALSE(absl::StrContains(text, "quoteflow_consumer_partition_lag_messages{")) << text;
  EXPECT_TRUE(absl::StrContains(text, "\nquoteflow_consumer_lag_messages 0\n")) << text;
}

}  // namespace
}  // namespace quoteflow::workers
