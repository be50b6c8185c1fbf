// Unit tests of the relay's pure parts: topic map, fail-point spec, option validation, error
// classification, the lease session's keepalive parameters, the liveness verdict. No Postgres or
// Kafka needed.
#include <gtest/gtest.h>

#include "outbox-relay/fail_point.h"
#include "outbox-relay/kafka_publisher.h"
#include "outbox-relay/outbox_store.h"
#include "outbox-relay/relay_config.h"
#include "outbox-relay/relay_metrics.h"
#include "outbox-relay/topic_map.h"

namespace quoteflow::relay {
namespace {

TEST(TopicMapTest, DefaultsMapAggregateTypes) {
  absl::StatusOr<TopicMap> m = TopicMap::Parse(kDefaultTopicMap);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Resolve("", "QuoteApproved", "quote"), "quotes");
  EXPECT_EQ(m->Resolve("", "PolicyCreated", "policy"), "policies");
  EXPECT_EQ(m->Resolve("", "X", "customer"), "customers");
  EXPECT_EQ(m->Resolve("", "X", "saga"), std::nullopt);
}

TEST(TopicMapTest, ExplicitTopicThenEventTypeThenAggregateType) {
  absl::StatusOr<TopicMap> m = TopicMap::Parse(" quote = quotes , QuoteRejected=quote-rejections");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Resolve("commands", "QuoteRejected", "quote"), "commands");
  EXPECT_EQ(m->Resolve("", "QuoteRejected", "quote"), "quote-rejections");
  EXPECT_EQ(m->Resolve("", "QuoteApproved", "quote"), "quotes");
  EXPECT_EQ(m->ToString(), "QuoteRejected=quote-rejections,quote=quotes");
}

TEST(TopicMapTest, PrefixGoesBeforeEveryTopicExplicitOnesIncluded) {
  absl::StatusOr<TopicMap> m = TopicMap::Parse(kDefaultTopicMap, "run-7.");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Resolve("", "QuoteApproved", "quote"), "run-7.quotes");
  EXPECT_EQ(m->Resolve("saga-replies", "PolicyCreated", "policy"), "run-7.saga-replies");
  EXPECT_EQ(m->Resolve("", "X", "saga"), std::nullopt);
  EXPECT_EQ(TopicMap::Parse(kDefaultTopicMap, "bad prefix").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TopicMap::Parse(kDefaultTopicMap, std::string(245, 'p')).status().code(),
            absl::StatusCode::kInvalidArgument);  // "quotes" no longer fits in 249 characters
}

TEST(TopicMapTest, RejectsBadSpecs) {
  for (const char* spec : {"", "quote", "=quotes", "quote=", "quote=bad topic", "a=x,a=y"}) {
    EXPECT_EQ(TopicMap::Parse(spec).status().code(), absl::StatusCode::kInvalidArgument) << spec;
  }
}

TEST(FailPointsTest, ParsesAndRejects) {
  EXPECT_TRUE(FailPoints::Parse("").ok());
  EXPECT_TRUE(FailPoints::Parse("after-produce-before-delete:abort").ok());
  EXPECT_TRUE(FailPoints::Parse("a:exit@3;b:abort").ok());
  EXPECT_FALSE(FailPoints::Parse("a").ok());
  EXPECT_FALSE(FailPoints::Parse("a:explode").ok());
  EXPECT_FALSE(FailPoints::Parse("a:abort@0").ok());
  EXPECT_FALSE(FailPoints::Parse("a:abort@x").ok());
}

TEST(FailPointsTest, FiresOnTheConfiguredHit) {
  absl::StatusOr<FailPoints> fp = FailPoints::Parse("p:exit@2");
  ASSERT_TRUE(fp.ok());
  fp->Hit("other");
  fp->Hit("p");  // first hit: nothing
  EXPECT_EXIT(fp->Hit("p"), ::testing::ExitedWithCode(86), "");
}

Config MakeConfig(std::vector<std::string> args) {
  Config config("outbox-relay", "test");
  DeclareRelayFlags(config);
  std::vector<char*> argv = {const_cast<char*>("outbox-relay")};
  for (std::string& a : args) argv.push_back(a.data());
  EXPECT_TRUE(config.Parse(static_cast<int>(argv.size()), argv.data()).ok());
  return config;
}

TEST(RelayConfigTest, ValidConfiguration) {
  Config c = MakeConfig({"--database-url=postgresql://x@h/db", "--outbox-schema=policy",
                         "--relay-id=r1", "--max-batch=100", "--poll-interval=250ms"});
  absl::StatusOr<RelayOptions> o = RelayOptionsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->schema, "policy");
  EXPECT_EQ(o->relay_id, "r1");
  EXPECT_EQ(o->max_batch, 100);
  EXPECT_EQ(o->poll_interval, absl::Milliseconds(250));
  EXPECT_EQ(o->max_in_flight_per_key, 1);
}

TEST(RelayConfigTest, DefaultRelayIdIsHostAndPid) {
  Config c = MakeConfig({"--database-url=postgresql://x@h/db", "--outbox-schema=quote"});
  absl::StatusOr<RelayOptions> o = RelayOptionsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_NE(o->relay_id.find(std::to_string(getpid())), std::string::npos);
}

TEST(RelayConfigTest, RefusesInvalidConfiguration) {
  const std::vector<std::vector<std::string>> bad = {
      {"--outbox-schema=quote"},
      {"--database-url=postgresql://x@h/db"},
      {"--database-url=postgresql://x@h/db", "--outbox-schema=Quote; drop"},
      {"--database-url=postgresql://x@h/db", "--outbox-schema=quote", "--max-batch=0"},
      {"--database-url=postgresql://x@h/db", "--outbox-schema=quote", "--poll-interval=0s"},
      {"--database-url=postgresql://x@h/db", "--outbox-schema=quote", "--topic-map=quote"},
  };
  for (const auto& args : bad) {
    Config c = MakeConfig(args);
    EXPECT_EQ(RelayOptionsFromConfig(c).status().code(), absl::StatusCode::kInvalidArgument)
        << args.back();
  }
}

TEST(RelayConfigTest, PartitionDefaults) {
  Config c = MakeConfig({"--database-url=postgresql://x@h/db", "--outbox-schema=quote"});
  absl::StatusOr<RelayOptions> o = RelayOptionsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status();
  // A dead peer of the lease session is noticed within about 11 s on both sides.
  EXPECT_EQ(o->pg_liveness.keepalive_idle, absl::Seconds(5));
  EXPECT_EQ(o->pg_liveness.keepalive_interval, absl::Seconds(2));
  EXPECT_EQ(o->pg_liveness.tcp_user_timeout, absl::Seconds(10));
  EXPECT_EQ(o->message_timeout, absl::Seconds(30));
  EXPECT_EQ(o->kafka_failure_release, absl::Seconds(60));
  EXPECT_EQ(o->kafka_failure_holdoff, absl::Seconds(30));
  EXPECT_EQ(o->liveness_timeout, absl::Seconds(180));
  for (const char* bad : {"--pg-keepalives-idle=-1s", "--pg-keepalives-interval=0s",
                          "--message-timeout=0s", "--row-backoff=0s", "--kafka-failure-release=x",
                          "--liveness-timeout=-5s", "--max-row-backoff=1ms"}) {
    Config b = MakeConfig({"--database-url=postgresql://x@h/db", "--outbox-schema=quote", bad});
    EXPECT_EQ(RelayOptionsFromConfig(b).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LivenessTest, UnhealthyOnlyWithWorkAndNoProgress) {
  RelayStats s;
  const absl::Time now = absl::FromUnixSeconds(1000000);
  s.last_progress_unix_ms = absl::ToUnixMillis(now - absl::Seconds(100));
  s.has_work = false;
  EXPECT_TRUE(RelayLiveness(s, absl::Seconds(60), now).ok()) << "no work: idle, not stalled";
  s.has_work = true;
  absl::Status stalled = RelayLiveness(s, absl::Seconds(60), now);
  EXPECT_EQ(stalled.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(stalled.message().find("no progress for 1m40s"), std::string::npos) << stalled;
  EXPECT_TRUE(RelayLiveness(s, absl::Seconds(120), now).ok());
  EXPECT_TRUE(RelayLiveness(s, absl::ZeroDuration(), now).ok()) << "0 = off";
}

TEST(ProduceErrorTest, Classification) {
  EXPECT_TRUE(IsPermanentProduceError(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
  EXPECT_TRUE(IsPermanentProduceError(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
  EXPECT_TRUE(IsPermanentProduceError(RD_KAFKA_RESP_ERR_INVALID_RECORD));
  EXPECT_FALSE(IsPermanentProduceError(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
  EXPECT_FALSE(IsPermanentProduceError(RD_KAFKA_RESP_ERR__TRANSPORT));
  EXPECT_FALSE(IsPermanentProduceError(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION));
  EXPECT_FALSE(IsPermanentProduceError(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT));
  EXPECT_FALSE(IsPermanentProduceError(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
}

}  // namespace
}  // namespace quoteflow::relay
