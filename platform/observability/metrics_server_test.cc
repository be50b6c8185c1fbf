#include "platform/observability/metrics_server.h"

#include <httplib.h>

#include <atomic>

#include "gtest/gtest.h"

namespace quoteflow::metrics {
namespace {

TEST(ParseListenAddressTest, Forms) {
  EXPECT_EQ(*ParseListenAddress("127.0.0.1:9464"), std::make_pair(std::string("127.0.0.1"), 9464));
  EXPECT_EQ(*ParseListenAddress(":9464"), std::make_pair(std::string("0.0.0.0"), 9464));
  EXPECT_EQ(*ParseListenAddress("[::1]:0"), std::make_pair(std::string("::1"), 0));
  for (const char* bad : {"9464", "host:", "host:x", "host:70000", "::1:9464"}) {
    absl::StatusOr<std::pair<std::string, int>> r = ParseListenAddress(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("--metrics-address"), absl::string_view::npos);
  }
}

TEST(MetricsServerTest, ServesMetricsHealthAndReadiness) {
  Registry registry;
  registry.AddCounter("test_requests_total", "requests", {"k"}).WithLabels({"v"}).Increment(3);
  std::atomic<bool> ready{false};
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry, [&ready] {
        return ready ? absl::OkStatus() : absl::UnavailableError("postgres unreachable");
      });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), kTextContentType);
  EXPECT_NE(metrics->body.find("test_requests_total{k=\"v\"} 3\n"), std::string::npos);

  httplib::Result healthz = client.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);

  httplib::Result not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body, "postgres unreachable\n");
  ready = true;
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  (*server)->SetShuttingDown();
  httplib::Result stopping = client.Get("/readyz");
  EXPECT_EQ(stopping->status, 503);
  EXPECT_EQ(stopping->body, "shutting down\n");

  EXPECT_EQ(client.Get("/nope")->status, 404);
}

TEST(MetricsServerTest, BusyPortIsUnavailable) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsServer>> first =
      MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<MetricsServer>> second =
      MetricsServer::Start("127.0.0.1:" + std::to_string((*first)->port()), registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(MetricsServerTest, StopsRightAfterStart) {
  Registry registry;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> s =
        MetricsServer::Start("127.0.0.1:0", registry);
    ASSERT_TRUE(s.ok()) << s.status();
  }  // each destructor stops its listener thread, whether or not it had started listening
}

TEST(MetricsServerTest, DisabledWhenAddressEmpty) {
  Config config("test", "test");
  DeclareMetricsAddress(config, "");
  char arg0[] = "test";
  char* argv[] = {arg0};
  ASSERT_TRUE(config.Parse(1, argv).ok());
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsServer>> s = StartFromConfig(config, registry);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, nullptr);
}

}  // namespace
}  // namespace quoteflow::metrics
