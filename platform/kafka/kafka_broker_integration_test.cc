// Runs the real quoteflow-broker binary through BrokerProcess and talks to it with clients built
// from KafkaSettings: round trip through a consumer group, broker down/up, injected request
// errors, RTT, leader moves, and the process lifecycle (stdin EOF, SIGTERM, SIGKILL).
#include <signal.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "platform/kafka/kafka_config.h"
#include "platform/kafka/kafka_test_util.h"
#include "platform/kafka/mock_broker.h"
#include "platform/process/broker_process.h"
#include "platform/process/child_process.h"

namespace quoteflow::kafka {
namespace {

using process::BrokerProcess;
using process::ChildProcess;
using testing::Consumed;
using testing::Delivery;
using testing::TestConsumer;
using testing::TestProducer;

absl::Time Soon(int seconds = 30) { return absl::Now() + absl::Seconds(seconds); }

class KafkaBrokerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = BrokerProcess::Start({.binary = QUOTEFLOW_BROKER_BIN});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
  }
  KafkaSettings Settings() const {
    return KafkaSettings(broker_->bootstrap_servers(), {MockClusterFetchWait()});
  }

  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(KafkaBrokerIntegrationTest, ProduceAndConsumeWithGroupKeepsPerKeyOrder) {
  EXPECT_EQ(
      std::count(broker_->bootstrap_servers().begin(), broker_->bootstrap_servers().end(), ','),
      2);  // 3 brokers by default
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok()) << producer.status();
  constexpr int kMessages = 30;
  std::vector<Delivery> ds(kMessages);
  std::vector<Delivery*> ptrs;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(
        producer->Send("quotes", absl::StrCat("quote-", i % 5), absl::StrCat(i), &ds[i]).ok());
    ptrs.push_back(&ds[i]);
  }
  ASSERT_TRUE(producer->AwaitAll(ptrs, Soon()).ok());
  for (const Delivery& d : ds) ASSERT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR);

  auto consumer = TestConsumer::Create(Settings(), "integration-group", {"quotes"});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto got = consumer->Collect(kMessages, Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  std::map<std::string, std::vector<int>> by_key;
  for (const Consumed& c : *got) by_key[c.key].push_back(std::stoi(c.value));
  ASSERT_EQ(by_key.size(), 5u);
  for (const auto& [key, values] : by_key) {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end())) << key;
    EXPECT_EQ(values.size(), static_cast<size_t>(kMessages / 5)) << key;
  }
}

TEST_F(KafkaBrokerIntegrationTest, ProduceWaitsWhileBrokersDownAndSucceedsAfterUp) {
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto warm = producer->Produce("policies", "p-1", "before", Soon());
  ASSERT_TRUE(warm.ok() && warm->err == RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_TRUE(broker_->Control("broker-down -1").ok());
  Delivery during;
  ASSERT_TRUE(producer->Send("policies", "p-1", "during", &during).ok());
  // No broker accepts connections: nothing can be acknowledged meanwhile.
  EXPECT_FALSE(producer->DeliveredBy(&during, absl::Now() + absl::Seconds(1)));

  ASSERT_TRUE(broker_->Control("broker-up -1").ok());
  ASSERT_TRUE(producer->AwaitAll({&during}, Soon(60)).ok());
  EXPECT_EQ(during.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(during.err);
  EXPECT_EQ(during.partition, warm->partition);  // same key, same partition
  EXPECT_GT(during.offset, warm->offset);

  auto consumer = TestConsumer::Create(Settings(), "after-outage", {"policies"});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto got = consumer->Collect(2, Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].value, "before");
  EXPECT_EQ((*got)[1].value, "during");
}

TEST_F(KafkaBrokerIntegrationTest, InjectedErrorsRetriableRetriedPermanentReported) {
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE(producer->Produce("customers", "c-1", "warm-up", Soon()).ok());

  // Retriable: the idempotent producer retries and the message lands once.
  ASSERT_TRUE(broker_->Control("errors Produce 3 NOT_LEADER_FOR_PARTITION").ok());
  auto retried = producer->Produce("customers", "c-1", "retried", Soon());
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(retried->err);

  ASSERT_TRUE(broker_->Control("errors Produce 2 REQUEST_TIMED_OUT").ok());
  auto timed_out = producer->Produce("customers", "c-1", "after-timeouts", Soon());
  ASSERT_TRUE(timed_out.ok()) << timed_out.status();
  EXPECT_EQ(timed_out->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(timed_out->err);

  // Permanent: reported in the delivery report, the producer stays usable.
  ASSERT_TRUE(broker_->Control("errors Produce 1 MSG_SIZE_TOO_LARGE").ok());
  auto too_large = producer->Produce("customers", "c-1", "too-large", Soon());
  ASSERT_TRUE(too_large.ok()) << too_large.status();
  EXPECT_EQ(too_large->err, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
      << rd_kafka_err2name(too_large->err);
  char reason[256];
  EXPECT_EQ(rd_kafka_fatal_error(producer->get(), reason, sizeof(reason)),
            RD_KAFKA_RESP_ERR_NO_ERROR)
      << reason;
  auto after = producer->Produce("customers", "c-1", "after", Soon());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(after->err);

  // Numeric forms are accepted too (0 = Produce, 6 = NOT_LEADER_FOR_PARTITION).
  EXPECT_TRUE(broker_->Control("errors 0 1 6").ok());
  auto numeric = producer->Produce("customers", "c-1", "numeric", Soon());
  ASSERT_TRUE(numeric.ok() && numeric->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

TEST_F(KafkaBrokerIntegrationTest, RttAndLeaderMoves) {
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE(producer->Produce("saga-replies", "s", "warm-up", Soon()).ok());

  ASSERT_TRUE(broker_->Control("rtt -1 300").ok());
  absl::Time start = absl::Now();
  auto slow = producer->Produce("saga-replies", "s", "slow", Soon());
  ASSERT_TRUE(slow.ok() && slow->err == RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  ASSERT_TRUE(broker_->Control("rtt -1 0").ok());

  for (int p = 0; p < 12; ++p) {
    ASSERT_TRUE(broker_->Control(absl::StrCat("leader saga-replies ", p, " 3")).ok());
  }
  std::vector<Delivery> ds(24);
  std::vector<Delivery*> ptrs;
  for (int i = 0; i < 24; ++i) {
    ASSERT_TRUE(producer->Send("saga-replies", absl::StrCat("k", i), "moved", &ds[i]).ok());
    ptrs.push_back(&ds[i]);
  }
  ASSERT_TRUE(producer->AwaitAll(ptrs, Soon()).ok());
  for (const Delivery& d : ds) EXPECT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

TEST_F(KafkaBrokerIntegrationTest, ControlErrorsAndTopicCreation) {
  absl::Status bad = broker_->Control("explode now");
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_TRUE(absl::StrContains(bad.message(), "unknown command")) << bad;
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Control("broker-down 7")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Control("errors Produce 1 NOT_AN_ERROR")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Control("create-topic quotes 12")));  // exists
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Control("two\nlines")));
  EXPECT_TRUE(broker_->Control("ping").ok());

  // Unknown topics are a permanent error for the quoteflow producer, until created.
  KafkaSettings fast_fail(broker_->bootstrap_servers(),
                          {{"topic.metadata.propagation.max.ms", "300"}});
  auto producer = TestProducer::Create(fast_fail);
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto unknown = producer->Produce("not-created", "k", "v", Soon());
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      << rd_kafka_err2name(unknown->err);
  ASSERT_TRUE(broker_->Control("create-topic created-later 3").ok());
  auto partitions = producer->PartitionCount("created-later", absl::Seconds(10));
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  EXPECT_EQ(*partitions, 3);
}

TEST_F(KafkaBrokerIntegrationTest, StopIsCleanAndKillMakesControlUnavailable) {
  auto second =
      BrokerProcess::Start({.binary = QUOTEFLOW_BROKER_BIN, .brokers = 1, .topics = "only:2"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(absl::StrContains((*second)->bootstrap_servers(), ","));
  auto code = (*second)->Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(*(*second)->Stop(), 0);  // idempotent

  broker_->Kill();
  absl::Status after_kill = broker_->Control("ping", absl::Seconds(2));
  EXPECT_TRUE(absl::IsUnavailable(after_kill)) << after_kill;
}

TEST(KafkaBrokerProcessTest, BadFlagsFailStartWithUnavailable) {
  auto broker = BrokerProcess::Start({.binary = QUOTEFLOW_BROKER_BIN, .topics = "quotes"});
  EXPECT_TRUE(absl::IsUnavailable(broker.status())) << broker.status();
  auto missing = BrokerProcess::Start({.binary = "/nonexistent/quoteflow-broker"});
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

TEST(KafkaBrokerProcessTest, StdinEofDoesNotStopTheBroker) {
  // As the local launcher runs it: stdin from /dev/null.
  ChildProcess::Options o;
  o.path = QUOTEFLOW_BROKER_BIN;
  o.args = {"--brokers=1", "--topics=eof-test:1"};
  o.capture_stdout = true;
  o.stdin_mode = ChildProcess::Stdin::kNull;
  auto child = ChildProcess::Start(o);
  ASSERT_TRUE(child.ok()) << child.status();
  auto line = (*child)->ReadLine(Soon());
  ASSERT_TRUE(line.ok()) << line.status();
  absl::string_view bootstrap = *line;
  ASSERT_TRUE(absl::ConsumePrefix(&bootstrap, "KAFKA_BOOTSTRAP_SERVERS="));

  auto producer = TestProducer::Create(KafkaSettings(std::string(bootstrap), {}));
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto d = producer->Produce("eof-test", "k", "v", Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->err, RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_TRUE((*child)->Running());

  ASSERT_TRUE((*child)->Signal(SIGINT).ok());
  auto code = (*child)->Wait(Soon());
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace quoteflow::kafka
