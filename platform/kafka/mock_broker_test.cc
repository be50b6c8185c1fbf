#include "platform/kafka/mock_broker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "platform/kafka/kafka_test_util.h"

namespace quoteflow::kafka {
namespace {

using testing::Delivery;
using testing::TestConsumer;
using testing::TestProducer;

absl::Time Soon(int seconds = 20) { return absl::Now() + absl::Seconds(seconds); }

TEST(ParseTopicSpecsTest, DefaultList) {
  auto topics = ParseTopicSpecs(kQuoteflowTopics);
  ASSERT_TRUE(topics.ok()) << topics.status();
  ASSERT_EQ(topics->size(), 15u);
  EXPECT_EQ((*topics)[0].name, "quotes");
  EXPECT_EQ((*topics)[0].partitions, 12);
  EXPECT_EQ((*topics)[7].name, "quoteflow-dlq");
  EXPECT_EQ(topics->back().name, "saga-replies.dlq");
  EXPECT_EQ(topics->back().partitions, 3);
}

TEST(ParseTopicSpecsTest, Errors) {
  EXPECT_TRUE(ParseTopicSpecs(" a:1 , ,b:2 ").ok());
  EXPECT_FALSE(ParseTopicSpecs("quotes").ok());
  EXPECT_FALSE(ParseTopicSpecs(":3").ok());
  EXPECT_FALSE(ParseTopicSpecs("a:0").ok());
  EXPECT_FALSE(ParseTopicSpecs("a:x").ok());
}

TEST(ParseKafkaApiKeyTest, NamesAndNumbers) {
  EXPECT_EQ(*ParseKafkaApiKey("Produce"), 0);
  EXPECT_EQ(*ParseKafkaApiKey("produce"), 0);
  EXPECT_EQ(*ParseKafkaApiKey("ProduceRequest"), 0);
  EXPECT_EQ(*ParseKafkaApiKey("Fetch"), 1);
  EXPECT_EQ(*ParseKafkaApiKey("Metadata"), 3);
  EXPECT_EQ(*ParseKafkaApiKey("InitProducerId"), 22);
  EXPECT_EQ(*ParseKafkaApiKey("OffsetCommit"), 8);
  EXPECT_EQ(*ParseKafkaApiKey("22"), 22);
  EXPECT_FALSE(ParseKafkaApiKey("Nope").ok());
  EXPECT_FALSE(ParseKafkaApiKey("-1").ok());
}

TEST(ParseKafkaErrorTest, NamesAndNumbers) {
  EXPECT_EQ(*ParseKafkaError("NOT_LEADER_FOR_PARTITION"),
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  EXPECT_EQ(*ParseKafkaError("RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT"),
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  EXPECT_EQ(*ParseKafkaError("msg_size_too_large"), RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  EXPECT_EQ(*ParseKafkaError("_TRANSPORT"), RD_KAFKA_RESP_ERR__TRANSPORT);
  EXPECT_EQ(*ParseKafkaError("6"), RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  EXPECT_EQ(*ParseKafkaError("-195"), RD_KAFKA_RESP_ERR__TRANSPORT);
  EXPECT_FALSE(ParseKafkaError("NO_SUCH_ERROR").ok());
  EXPECT_FALSE(ParseKafkaError("99999").ok());
}

class MockBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = MockBroker::Start({.brokers = 3, .topics = {{"quotes", 12}, {"small", 1}}});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
  }
  KafkaSettings Settings(std::vector<KafkaProperty> extra = {}) {
    extra.insert(extra.begin(), MockClusterFetchWait());
    return KafkaSettings(broker_->bootstrap_servers(), std::move(extra));
  }
  std::unique_ptr<MockBroker> broker_;
};

TEST_F(MockBrokerTest, CommandsValidateArguments) {
  EXPECT_TRUE(broker_->Execute("ping").ok());
  EXPECT_TRUE(broker_->Execute("  rtt   2  0 ").ok());
  EXPECT_TRUE(broker_->Execute("broker-down -1").ok());
  EXPECT_TRUE(broker_->Execute("broker-up -1").ok());
  EXPECT_TRUE(broker_->Execute("errors Produce 2 NOT_LEADER_FOR_PARTITION").ok());
  EXPECT_TRUE(broker_->Execute("clear-errors Produce").ok());
  EXPECT_TRUE(broker_->Execute("leader quotes 0 2").ok());
  EXPECT_TRUE(broker_->Execute("create-topic extra 2").ok());
  EXPECT_TRUE(broker_->Execute("topic-error extra NO_ERROR").ok());

  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("explode")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("broker-down")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("broker-down 4")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("broker-down 0")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("rtt 1 fast")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("errors Produce 0 REQUEST_TIMED_OUT")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("errors Nope 1 REQUEST_TIMED_OUT")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("errors Produce 1 NOPE")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("leader quotes 99 1")));
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("create-topic quotes 3")));
  // leader and topic-error create a missing topic (the mock API does).
  EXPECT_TRUE(broker_->Execute("leader ghost 0 1").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("create-topic ghost 1")));
  EXPECT_TRUE(broker_->Execute("topic-error ghost2 UNKNOWN_TOPIC_OR_PART").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(broker_->Execute("create-topic ghost2 1")));
}

TEST_F(MockBrokerTest, CommandsAreFast) {
  // Without the waker, librdkafka 2.0.2 serves about one mock command in three only after 1 s.
  absl::Time start = absl::Now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(broker_->Execute("rtt 1 0").ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(MockBrokerTest, ProduceAndConsumeRoundTrip) {
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::vector<Delivery> ds(10);
  std::vector<Delivery*> ptrs;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        producer->Send("quotes", absl::StrCat("q-", i % 3), absl::StrCat("v", i), &ds[i]).ok());
    ptrs.push_back(&ds[i]);
  }
  ASSERT_TRUE(producer->AwaitAll(ptrs, Soon()).ok());
  for (const Delivery& d : ds) EXPECT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR);

  auto consumer = TestConsumer::Create(Settings(), "round-trip", {"quotes"});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto got = consumer->Collect(10, Soon());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 10u);
}

// What the mock does with topics nobody created; documented in mock_broker.h.
TEST_F(MockBrokerTest, ProducerWithLibrdkafkaDefaultAutoCreatesUnknownTopic) {
  // librdkafka's producer default is allow.auto.create.topics=true.
  auto producer = TestProducer::Create(Settings({{"allow.auto.create.topics", "true"}}));
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto d = producer->Produce("misspelt-topic", "k", "v", Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->err, RD_KAFKA_RESP_ERR_NO_ERROR);
  auto partitions = producer->PartitionCount("misspelt-topic", absl::Seconds(5));
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  EXPECT_EQ(*partitions, 4);  // the mock's fixed default partition count
  // The topic now exists: create-topic refuses it.
  EXPECT_FALSE(broker_->Execute("create-topic misspelt-topic 3").ok());
}

TEST_F(MockBrokerTest, UnknownTopicIsPermanentErrorWithQuoteflowProducerDefaults) {
  auto producer = TestProducer::Create(Settings({{"topic.metadata.propagation.max.ms", "500"}}));
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto d = producer->Produce("no-such-topic", "k", "v", Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) << rd_kafka_err2name(d->err);
  EXPECT_TRUE(
      absl::IsNotFound(producer->PartitionCount("no-such-topic", absl::Seconds(5)).status()));
  // Once the producer knows the topic is missing, producev() itself fails at once.
  Delivery d2;
  absl::Status s = producer->Send("no-such-topic", "k", "v", &d2);
  EXPECT_TRUE(absl::IsUnavailable(s) && absl::StrContains(s.message(), "_UNKNOWN_TOPIC")) << s;
  // Created afterwards, the topic becomes usable by the same producer after its next metadata
  // refresh.
  ASSERT_TRUE(broker_->Execute("create-topic no-such-topic 2").ok());
  absl::Time start = absl::Now();
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::Status sent;
  Delivery d3;
  while (absl::Now() < deadline) {
    sent = producer->Send("no-such-topic", "k", "v", &d3);
    if (sent.ok()) break;
    rd_kafka_poll(producer->get(), 100);
  }
  ASSERT_TRUE(sent.ok()) << sent;
  ASSERT_TRUE(producer->AwaitAll({&d3}, Soon()).ok());
  EXPECT_EQ(d3.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(d3.err);
  std::printf("topic usable %s after create-topic\n",
              absl::FormatDuration(absl::Now() - start).c_str());
}

TEST_F(MockBrokerTest, ConsumerDoesNotAutoCreate) {
  auto consumer = TestConsumer::Create(Settings(), "g-unknown", {"absent-topic"});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto got = consumer->Collect(1, absl::Now() + absl::Seconds(2));
  EXPECT_TRUE(absl::IsDeadlineExceeded(got.status()));
  EXPECT_EQ(consumer->last_error(), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      << rd_kafka_err2name(consumer->last_error());
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok());
  EXPECT_TRUE(
      absl::IsNotFound(producer->PartitionCount("absent-topic", absl::Seconds(5)).status()));
}

TEST_F(MockBrokerTest, RetriableProduceErrorsAreRetried) {
  auto producer = TestProducer::Create(Settings());
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE(producer->Produce("small", "k", "warm-up", Soon()).ok());
  ASSERT_TRUE(broker_->Execute("errors Produce 3 NOT_LEADER_FOR_PARTITION").ok());
  auto d = producer->Produce("small", "k", "v", Soon());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(d->err);
}

TEST_F(MockBrokerTest, ServeControlAnswersEachLineAndSurvivesEof) {
  int in[2], out[2], stop[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  ASSERT_EQ(pipe(stop), 0);
  std::thread server([&] { EXPECT_TRUE(ServeControl(*broker_, in[0], out[1], stop[0]).ok()); });
  const std::string commands = "ping\n\nbroker-down 9\nrtt 1 5\n";
  ASSERT_EQ(write(in[1], commands.data(), commands.size()), static_cast<ssize_t>(commands.size()));
  close(in[1]);  // EOF: the server keeps running until stopped
  std::string replies;
  while (std::count(replies.begin(), replies.end(), '\n') < 3) {
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof(buf));
    ASSERT_GT(n, 0);
    replies.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(replies.substr(0, 3), "ok\n");
  EXPECT_NE(replies.find("\nerror: broker id '9'"), std::string::npos) << replies;
  EXPECT_EQ(replies.substr(replies.size() - 3), "ok\n");
  ASSERT_EQ(write(stop[1], "x", 1), 1);
  server.join();
  for (int fd : {in[0], out[0], out[1], stop[0], stop[1]}) close(fd);
}

}  // namespace
}  // namespace quoteflow::kafka
