#include "platform/observability/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace quoteflow::metrics {
namespace {

TEST(FormatValueTest, ShortestRoundTrip) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(1234567), "1234567");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(EscapeTest, LabelValueAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("a\"b\\c\nd"), "a\"b\\\\c\\nd");
}

TEST(RegistryTest, ExpositionFormat) {
  Registry registry;
  CounterFamily& calls =
      registry.AddCounter("test_calls_total", "calls\nby method", {"method", "code"});
  calls.WithLabels({"/a.B/C", "OK"}).Increment();
  calls.WithLabels({"/a.B/C", "OK"}).Increment(2);
  calls.WithLabels({"/a.B/C", "NOT_FOUND"}).Increment();
  calls.WithLabels({"/a.B/C", "NOT_FOUND"}).Increment(-5);  // ignored: counters only go up
  registry.AddGauge("test_queue", "queued items").WithLabels({}).Set(7.5);
  HistogramFamily& latency = registry.AddHistogram("test_seconds", "latency", {"q"}, {0.1, 1});
  Histogram& h = latency.WithLabels({"say \"hi\""});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(3);
  registry.AddGaugeCallback("test_backlog", "rows", [] { return 42.0; });
  registry.AddCounterCallback("test_published_total", "rows published", [] { return 1e6; });

  EXPECT_EQ(registry.Serialize(),
            "# HELP test_backlog rows\n"
            "# TYPE test_backlog gauge\n"
            "test_backlog 42\n"
            "# HELP test_calls_total calls\\nby method\n"
            "# TYPE test_calls_total counter\n"
            "test_calls_total{method=\"/a.B/C\",code=\"NOT_FOUND\"} 1\n"
            "test_calls_total{method=\"/a.B/C\",code=\"OK\"} 3\n"
            "# HELP test_published_total rows published\n"
            "# TYPE test_published_total counter\n"
            "test_published_total 1000000\n"
            "# HELP test_queue queued items\n"
            "# TYPE test_queue gauge\n"
            "test_queue 7.5\n"
            "# HELP test_seconds latency\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{q=\"say \\\"hi\\\"\",le=\"0.1\"} 2\n"
            "test_seconds_bucket{q=\"say \\\"hi\\\"\",le=\"1\"} 3\n"
            "test_seconds_bucket{q=\"say \\\"hi\\\"\",le=\"+Inf\"} 4\n"
            "test_seconds_sum{q=\"say \\\"hi\\\"\"} 3.65\n"
            "test_seconds_count{q=\"say \\\"hi\\\"\"} 4\n");
}

TEST(RegistryTest, FamilyWithoutChildrenHasOnlyHeaders) {
  Registry registry;
  registry.AddCounter("test_empty_total", "nothing yet", {"x"});
  EXPECT_EQ(registry.Serialize(),
            "# HELP test_empty_total nothing yet\n# TYPE test_empty_total counter\n");
}

TEST(RegistryTest, SameRegistrationReturnsSameFamily) {
  Registry registry;
  CounterFamily& a = registry.AddCounter("test_total", "h", {"l"});
  CounterFamily& b = registry.AddCounter("test_total", "h", {"l"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.WithLabels({"v"}), &b.WithLabels({"v"}));
}

TEST(RegistryTest, GaugeFamilyCallbackExposesWhatReadReturnsNow) {
  Registry registry;
  std::vector<LabeledValue> now = {
      {{"customers", "0"}, 0}, {{"quotes", "2"}, 7}, {{"quotes", "10"}, 2}};
  registry.AddGaugeFamilyCallback("test_lag_messages", "lag \"per\" partition",
                                  {"topic", "partition"}, [&now] { return now; });
  // In read()'s order (partition 2 before 10).
  EXPECT_EQ(registry.Serialize(),
            "# HELP test_lag_messages lag \"per\" partition\n"
            "# TYPE test_lag_messages gauge\n"
            "test_lag_messages{topic=\"customers\",partition=\"0\"} 0\n"
            "test_lag_messages{topic=\"quotes\",partition=\"2\"} 7\n"
            "test_lag_messages{topic=\"quotes\",partition=\"10\"} 2\n");
  // A child that read() no longer returns disappears (a partition lost in a rebalance).
  now = {{{"quotes", "10"}, 0}};
  EXPECT_EQ(registry.Serialize(),
            "# HELP test_lag_messages lag \"per\" partition\n"
            "# TYPE test_lag_messages gauge\n"
            "test_lag_messages{topic=\"quotes\",partition=\"10\"} 0\n");
  now.clear();
  EXPECT_EQ(registry.Serialize(),
            "# HELP test_lag_messages lag \"per\" partition\n# TYPE test_lag_messages gauge\n");
}

TEST(RegistryDeathTest, GaugeFamilyCallbackMisuseAborts) {
  Registry registry;
  registry.AddGaugeFamilyCallback("test_g", "h", {"a"}, [] {
    return std::vector<LabeledValue>{{{"x", "y"}, 1}};
  });
  EXPECT_DEATH(registry.Serialize(), "wrong number of label values");
  EXPECT_DEATH(registry.AddGauge("test_g", "h", {"a"}), "registered twice");
  EXPECT_DEATH(registry.AddGaugeFamilyCallback("test_g", "h", {"a"}, nullptr), "registered twice");
}

TEST(RegistryDeathTest, MisuseAborts) {
  Registry registry;
  registry.AddCounter("test_total", "h", {"l"});
  EXPECT_DEATH(registry.AddGauge("test_total", "h", {"l"}), "registered twice");
  EXPECT_DEATH(registry.AddCounter("test_total", "h", {"other"}), "registered twice");
  EXPECT_DEATH(registry.AddCounter("9bad", "h"), "invalid metric name");
  EXPECT_DEATH(registry.AddCounter("test_x_total", "h", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(registry.AddCounter("test_total", "h", {"l"}).WithLabels({"a", "b"}),
               "wrong number of label values");
  EXPECT_DEATH(registry.AddHistogram("test_h", "h", {}, {1, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("test_count", "h", {}), "must not end");
}

TEST(RegistryTest, ConcurrentUpdatesAreAllCounted) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("test_total", "h", {"t"});
  Histogram& h = registry.AddHistogram("test_seconds", "h", {}).WithLabels({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        family.WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
        h.Observe(0.002);
        if (i % 1000 == 0) registry.Serialize();  // scrapes while updating
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(family.WithLabels({"even"}).Value(), 20000);
  EXPECT_EQ(family.WithLabels({"odd"}).Value(), 20000);
  EXPECT_EQ(h.Read().cumulative.back(), 40000u);
}

}  // namespace
}  // namespace quoteflow::metrics
