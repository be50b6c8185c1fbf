// outbox-relay when part of the world is unreachable (issue 14), against the real binary and a real
// PostgreSQL:
//  - one topic that cannot take messages (its partitions have no leader: every produce times out
//    after message.timeout.ms; on the mock cluster, see the test) must not stall the other
//    aggregates, its rows back off, and per-key order holds across the failure;
//  - a replica that reaches Postgres but not Kafka gives its shard leases up after
//    --kafka-failure-release, and a replica that reaches the run's real broker takes them over
//    and drains;
//  - /healthz turns 503 when the relay has work and makes no progress.
// The new options are passed as environment variables (every flag is one), so that the relay of
// an older commit runs these tests too (it ignores them) and shows what they catch.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/ops/ops_test_util.h"
#include "tests/relay/relay_test_util.h"

namespace quoteflow::relay::testing {
namespace {

using ops_testing::HttpGet;

class RelayPartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::quoteflow::testing::ResetDatabase().ok());
    ASSERT_FALSE(Env().bootstrap_servers().empty());
  }
};

// A Kafka address where nothing listens: every produce times out.
std::string UnreachableKafka() { return absl::StrCat("127.0.0.1:", process::FreeTcpPort()); }

std::set<std::string> Ids(const std::string& prefix, int aggregates, int versions, int first = 0) {
  std::set<std::string> ids;
  for (int a = first; a < first + aggregates; ++a) {
    for (int v = 1; v <= versions; ++v) ids.insert(OutboxRowWriter::EventId(prefix, a, v));
  }
  return ids;
}

// Writes the rows of Ids(prefix, aggregates, versions) in one transaction, each aggregate's in
// version order.
void InsertRows(const std::string& prefix, int aggregates, int versions) {
  pqxx::connection c(Env().database_url());
  pqxx::work tx(c);
  OutboxRowWriter w(prefix);
  for (int a = 0; a < aggregates; ++a) {
    for (int v = 1; v <= versions; ++v) w.Insert(tx, a, v);
  }
  tx.commit();
}

// More rows for a failing topic than a batch holds sit at the lowest seqs. Rows of other
// aggregates, written after them, are published while the failing ones back off; the aggregate
// whose first event goes to the failing topic keeps its second event back; once the failing
// rows are routed to a working topic everything drains in per-key order.
// On librdkafka's mock cluster (Env().mock_broker()): a topic whose partitions have no leader
// while the other topics work is what a real single broker cannot be made to do (and Kafka 4.1
// bounds min.insync.replicas by the replica count, so a topic with min.insync.replicas=2 on one
// broker takes writes). Leaderless partitions on a real 3-node cluster are in tests/chaos.
TEST_F(RelayPartitionTest, FailingTopicDoesNotStallOtherAggregates) {
  process::BrokerProcess* broker = Env().mock_broker();
  ASSERT_NE(broker, nullptr);
  const std::string good = CreateTestTopic(6, broker);
  const std::string bad = good + "-leaderless";
  ASSERT_TRUE(broker->Control(absl::StrCat("create-topic ", bad, " 3")).ok());
  for (int p = 0; p < 3; ++p) {
    ASSERT_TRUE(broker->Control(absl::StrCat("leader ", bad, " ", p, " -1")).ok());
  }
  auto relay = RelayProcess::Start(
      {.relay_id = "stall",
       .topic = good,
       .bootstrap_servers = broker->bootstrap_servers(),
       .extra_args = {"--max-batch=50", "--kafka-properties=message.timeout.ms=2000"},
       .env = {
           {"KAFKA_FAILURE_RELEASE", "0"}, {"ROW_BACKOFF", "200ms"}, {"MAX_ROW_BACKOFF", "2s"}}});
  ASSERT_NE(relay, nullptr);
  TopicReader reader(good, broker->bootstrap_servers());
  OutboxRowWriter failing("fail"), mixed("mixed"), flowing("flow");
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    for (int a = 0; a < 80; ++a) failing.Insert(tx, a, 1, bad);  // more than --max-batch
    mixed.Insert(tx, 0, 1, bad);
    mixed.Insert(tx, 0, 2);  // the good topic, behind its aggregate's failing first event
    tx.commit();
  }
  const absl::Time t0 = absl::Now();
  {
    pqxx::connection c(Env().database_url());
    for (int v = 1; v <= 10; ++v) {
      pqxx::work tx(c);
      for (int a = 0; a < 20; ++a) flowing.Insert(tx, a, v);
      tx.commit();
    }
  }
  const std::set<std::string> flow_ids = Ids("flow", 20, 10);
  absl::Status flowed = reader.WaitForAll(flow_ids, absl::Seconds(30));
  ASSERT_TRUE(flowed.ok()) << flowed << "\nrelay log:\n" << RelayProcess::ReadLog("stall");
  const absl::Duration flow_time = absl::Now() - t0;
  EXPECT_FALSE(reader.Seen(OutboxRowWriter::EventId("mixed", 0, 2)))
      << "published before the earlier event of its aggregate";

  // The failing rows are in backoff with their error, and were retried.
  absl::Status backed_off = WaitFor(
      [&]() -> absl::Status {
        pqxx::connection c(Env().database_url());
        pqxx::nontransaction tx(c);
        pqxx::row r = tx.exec_params1(
            "SELECT count(*), count(*) FILTER (WHERE retries >= 2 AND last_error IS NOT NULL), "
            "min(last_error) FROM quote.outbox WHERE topic = $1",
            bad);
        if (r[0].as<int>() == 81 && r[1].as<int>() == 81) return absl::OkStatus();
        return absl::UnavailableError(
            absl::StrCat(r[1].as<int>(), " of ", r[0].as<int>(),
                         " retried twice; error: ", r[2].is_null() ? "" : r[2].c_str()));
      },
      absl::Seconds(30), "failing rows retried with backoff");
  EXPECT_TRUE(backed_off.ok()) << backed_off;
  EXPECT_FALSE(reader.Seen(OutboxRowWriter::EventId("mixed", 0, 2)));

  // The operator routes the rows to a working topic: everything drains, in order per key.
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    tx.exec_params("UPDATE quote.outbox SET topic = NULL WHERE topic = $1", bad);
    tx.commit();
  }
  absl::Status drained =
      WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(60), "outbox drained");
  ASSERT_TRUE(drained.ok()) << drained << " " << OutboxRows() << " rows left\n"
                            << RelayProcess::ReadLog("stall");
  std::set<std::string> all = flow_ids;
  for (const std::string& id : Ids("fail", 80, 1)) all.insert(id);
  for (const std::string& id : Ids("mixed", 1, 2)) all.insert(id);
  ASSERT_TRUE(reader.WaitForAll(all, absl::Seconds(20)).ok());
  reader.Poll(absl::Milliseconds(300));
  Verdict v = Verify(reader, all);
  std::printf(
      "[figures] failing-topic: 200 rows of 20 other aggregates published in %s while 81 "
      "rows failed; %s\n",
      absl::FormatDuration(flow_time).c_str(), v.ToString().c_str());
  EXPECT_EQ(v.missing, 0u) << v.ToString();
  EXPECT_EQ(v.reordered, 0u) << v.ToString();
  EXPECT_EQ(relay->Terminate(), 0);
}

// Replica "cut-off" reaches Postgres but not Kafka and holds every shard; replica "reaching" joins.
// cut-off gives its leases up after --kafka-failure-release (and stays away for the holdoff), so
// reaching takes all 64 shards and drains the outbox.
TEST_F(RelayPartitionTest, KafkaFailureHandsShardsToAReplicaThatReachesKafka) {
  const std::string topic = CreateTestTopic(6);
  auto cut_off = RelayProcess::Start(
      {.relay_id = "cut-off",
       .topic = topic,
       .bootstrap_servers = UnreachableKafka(),
       .extra_args = {"--kafka-properties=message.timeout.ms=2000"},
       .env = {{"KAFKA_FAILURE_RELEASE", "3s"}, {"KAFKA_FAILURE_HOLDOFF", "120s"}}});
  ASSERT_NE(cut_off, nullptr);
  ASSERT_EQ(RelayRegistration("cut-off").second, 64);
  InsertRows("cut", 40, 5);
  TopicReader reader(topic);
  const absl::Time joined = absl::Now();
  auto reaching = RelayProcess::Start({.relay_id = "reaching", .topic = topic});
  ASSERT_NE(reaching, nullptr);
  absl::Status drained =
      WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(40), "outbox drained");
  ASSERT_TRUE(drained.ok()) << drained << ": " << OutboxRows() << " rows left; leases "
                            << RelayRegistration("cut-off").second << " / "
                            << RelayRegistration("reaching").second << "\ncut-off log:\n"
                            << RelayProcess::ReadLog("cut-off");
  const absl::Duration drain_time = absl::Now() - joined;
  const std::set<std::string> expected = Ids("cut", 40, 5);
  ASSERT_TRUE(reader.WaitForAll(expected, absl::Seconds(20)).ok());
  Verdict v = Verify(reader, expected);
  EXPECT_EQ(v.missing, 0u) << v.ToString();
  EXPECT_EQ(v.reordered, 0u) << v.ToString();
  EXPECT_EQ(RelayRegistration("reaching").second, 64);
  EXPECT_TRUE(cut_off->child().Running());
  const std::string log = RelayProcess::ReadLog("cut-off");
  EXPECT_TRUE(absl::StrContains(log, "releasing shard leases: no successful Kafka delivery"))
      << log;
  EXPECT_TRUE(absl::StrContains(log, "kafka_failing_s")) << log;
  std::printf(
      "[figures] kafka-failure-takeover: release after 3s, outbox of 200 rows drained %s "
      "after the reaching replica joined; %s\n",
      absl::FormatDuration(drain_time).c_str(), v.ToString().c_str());
  EXPECT_EQ(cut_off->Terminate(), 0);
  EXPECT_EQ(reaching->Terminate(), 0);
}

// A relay alone on its outbox keeps its leases through a Kafka outage longer than
// KAFKA_FAILURE_RELEASE: releasing would hand the shards to nobody and stop publishing for the
// whole holdoff after Kafka is back (the full-size chaos broker-storms scenario lost 30 s so).
// Whole-cluster outage on the mock cluster (Env().mock_broker()): the run's real broker is shared.
TEST_F(RelayPartitionTest, LoneRelayKeepsItsShardsThroughAKafkaOutage) {
  process::BrokerProcess* broker = Env().mock_broker();
  ASSERT_NE(broker, nullptr);
  const std::string topic = CreateTestTopic(6, broker);
  auto relay = RelayProcess::Start(
      {.relay_id = "alone",
       .topic = topic,
       .bootstrap_servers = broker->bootstrap_servers(),
       .extra_args = {"--kafka-properties=message.timeout.ms=1000"},
       .env = {{"KAFKA_FAILURE_RELEASE", "2s"}, {"KAFKA_FAILURE_HOLDOFF", "120s"}}});
  ASSERT_NE(relay, nullptr);
  ASSERT_TRUE(broker->Control("broker-down -1").ok());
  InsertRows("alone", 20, 3);
  absl::SleepFor(absl::Seconds(6));  // the outage: three times KAFKA_FAILURE_RELEASE
  EXPECT_EQ(RelayRegistration("alone").second, 64);
  ASSERT_TRUE(broker->Control("broker-up -1").ok());
  const absl::Time recovered = absl::Now();
  TopicReader reader(topic, broker->bootstrap_servers());
  absl::Status drained =
      WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(30), "outbox drained");
  const absl::Duration drain_time = absl::Now() - recovered;
  ASSERT_TRUE(drained.ok()) << drained << ": " << OutboxRows() << " rows left\n"
                            << RelayProcess::ReadLog("alone");
  const std::set<std::string> expected = Ids("alone", 20, 3);
  ASSERT_TRUE(reader.WaitForAll(expected, absl::Seconds(20)).ok());
  Verdict v = Verify(reader, expected);
  EXPECT_EQ(v.missing, 0u) << v.ToString();
  EXPECT_EQ(v.reordered, 0u) << v.ToString();
  EXPECT_FALSE(absl::StrContains(RelayProcess::ReadLog("alone"), "releasing shard leases"));
  std::printf("[figures] lone relay: 6s Kafka outage (release after 2s, holdoff 120s), 60 rows "
              "drained %s after recovery; %s\n",
              absl::FormatDuration(drain_time).c_str(), v.ToString().c_str());
  EXPECT_EQ(relay->Terminate(), 0);
}

// /healthz through the real endpoint: 200 while idle, 503 once the relay has rows it cannot
// publish and made no progress for --liveness-timeout.
TEST_F(RelayPartitionTest, LivenessTurnsUnhealthyWithoutProgress) {
  const std::string topic = CreateTestTopic(3);
  const int port = process::FreeTcpPort();
  auto relay = RelayProcess::Start({.relay_id = "stuck",
                                    .topic = topic,
                                    .bootstrap_servers = UnreachableKafka(),
                                    .extra_args = {"--kafka-properties=message.timeout.ms=1000"},
                                    .env = {{"METRICS_ADDRESS", absl::StrCat("127.0.0.1:", port)},
                                            {"LIVENESS_TIMEOUT", "3s"},
                                            {"KAFKA_FAILURE_RELEASE", "0"}}});
  ASSERT_NE(relay, nullptr);
  auto healthz = [port]() -> int {
    std::optional<ops_testing::HttpResponse> r = HttpGet(port, "/healthz");
    return r.has_value() ? r->status : 0;
  };
  ASSERT_TRUE(WaitFor([&] { return healthz() == 200; }, absl::Seconds(10), "/healthz 200").ok());
  // Idle past the liveness timeout and a stats tick (--stats-interval=2s): still healthy.
  const absl::Time idle_until = absl::Now() + absl::Seconds(5);
  while (absl::Now() < idle_until) {
    ASSERT_EQ(healthz(), 200) << "an idle relay is not stalled";
    absl::SleepFor(absl::Milliseconds(500));
  }
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    OutboxRowWriter w("stuck");
    for (int a = 0; a < 10; ++a) w.Insert(tx, a, 1);
    tx.commit();
  }
  const absl::Time t0 = absl::Now();
  absl::Status unhealthy =
      WaitFor([&] { return healthz() == 503; }, absl::Seconds(20), "/healthz 503");
  ASSERT_TRUE(unhealthy.ok()) << unhealthy << "\n" << RelayProcess::ReadLog("stuck");
  std::optional<ops_testing::HttpResponse> r = HttpGet(port, "/healthz");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(absl::StrContains(r->body, "no progress for")) << r->body;
  std::optional<ops_testing::HttpResponse> metrics = HttpGet(port, "/metrics");
  ASSERT_TRUE(metrics.has_value());
  std::optional<double> since =
      ops_testing::Sample(metrics->body, "quoteflow_outbox_seconds_since_progress");
  ASSERT_TRUE(since.has_value()) << metrics->body;
  EXPECT_GE(*since, 3.0);
  std::printf(
      "[figures] liveness: /healthz 503 %s after 10 unpublishable rows were written "
      "(--liveness-timeout=3s): %s",
      absl::FormatDuration(absl::Now() - t0).c_str(), r->body.c_str());
  EXPECT_EQ(relay->Terminate(), 0);
  EXPECT_EQ(OutboxRows(), 10) << "nothing deleted without a delivery report";
}

}  // namespace
}  // namespace quoteflow::relay::testing
