// InboxConsumer, dead-letter admin and replay against the real quoteflow-broker process and a
// throwaway PostgreSQL cluster (tests/support). The test handler records every applied event in
// policy.test_effects (created here), so "applied exactly once" and "per-key order" are checked
// on the database, the way the workers' effects are.
#include "platform/messaging/inbox_consumer.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "platform/events/event_codec.h"
#include "platform/kafka/kafka_config.h"
#include "platform/kafka/kafka_test_util.h"
#include "platform/messaging/dlq_admin.h"
#include "platform/messaging/replay.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/postgres/pg_pool.h"
#include "platform/process/broker_process.h"
#include "tests/support/test_environment.h"

namespace quoteflow::messaging {
namespace {

using ::quoteflow::kafka::KafkaSettings;
using ::quoteflow::testing::Env;
using ::quoteflow::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(20);

// Short group timings, so that rebalances after a member leaves or dies take seconds (the test
// broker allows session timeouts from 1 s, LocalKafka's group.min.session.timeout.ms).
KafkaSettings TestKafka() {
  return KafkaSettings(Env().bootstrap_servers(), {{"session.timeout.ms", "3500"},
                                                   {"heartbeat.interval.ms", "300"},
                                                   {"topic.metadata.refresh.interval.ms", "1000"}});
}
KafkaSettings ProducerKafka() { return KafkaSettings(Env().bootstrap_servers(), {}); }

std::string UniqueName(absl::string_view prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrCat(prefix, "-", info->name(), "-", absl::ToUnixMicros(absl::Now()));
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  }
  return name;
}

// Creates TOPIC and TOPIC.dlq on the run's Kafka.
std::string CreateTopics(int partitions, int dlq_partitions = 1) {
  std::string topic = UniqueName("t");
  absl::Status created = Env().CreateTopics(
      absl::StrCat(topic, ":", partitions, ",", topic, ".dlq:", dlq_partitions));
  EXPECT_TRUE(created.ok()) << created;
  return topic;
}

DomainEvent MakeEvent(const std::string& aggregate, int64_t version, std::string event_id = "") {
  DomainEvent e;
  e.event_id = event_id.empty() ? absl::StrCat(aggregate, "-v", version) : event_id;
  e.aggregate_id = aggregate;
  e.quote_id = aggregate;
  e.aggregate_version = version;
  e.occurred_at = absl::FromUnixSeconds(1767225600) + absl::Seconds(version);
  e.payload = QuoteApproved{"c-1", 1000 + version};
  return e;
}

// Produces asynchronously (per-partition order is kept by the idempotent producer); Flush()
// waits for every delivery report.
class Producer {
 public:
  explicit Producer(const KafkaSettings& settings = ProducerKafka()) {
    auto p = kafka::testing::TestProducer::Create(settings);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) p_ = std::make_unique<kafka::testing::TestProducer>(*std::move(p));
  }
  ~Producer() { Flush(); }
  void Send(const std::string& topic, const DomainEvent& e) {
    SendRaw(topic, e.aggregate_id, EncodeEnvelope(e));
  }
  void SendRaw(const std::string& topic, const std::string& key, const std::string& value) {
    ASSERT_NE(p_, nullptr);
    pending_.emplace_back();
    ASSERT_TRUE(p_->Send(topic, key, value, &pending_.back()).ok());
  }
  void Flush() {
    if (p_ == nullptr || pending_.empty()) return;
    std::vector<kafka::testing::Delivery*> all;
    for (auto& d : pending_) all.push_back(&d);
    ASSERT_TRUE(p_->AwaitAll(all, absl::Now() + absl::Seconds(20)).ok());
    for (const auto& d : pending_) {
      ASSERT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(d.err);
    }
    pending_.clear();
  }

 private:
  std::unique_ptr<kafka::testing::TestProducer> p_;
  std::deque<kafka::testing::Delivery> pending_;  // stable addresses for the reports
};

// Records each applied event in policy.test_effects and, with `emit`, writes an event "out-<id>"
// to policy.outbox through the runtime's pending outbox rows. `hook` (set before the consumer
// starts, or guarded by the caller) may fail an event.
class TestHandler : public EventHandler {
 public:
  bool Wants(absl::string_view type) const override {
    return type != "CustomerPolicyCountRejected";
  }
  absl::Status Handle(pqxx::work& tx, const InboundEvent& ev) override {
    ++calls;
    if (hook) {
      if (absl::Status s = hook(ev); !s.ok()) return s;
    }
    tx.exec_params(
        "INSERT INTO policy.test_effects (consumer, event_id, aggregate_id, version, topic, "
        "part, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        consumer, ev.event.event_id, ev.event.aggregate_id, ev.event.aggregate_version, ev.topic,
        ev.partition, ev.offset);
    if (emit) {
      DomainEvent out = ev.event;
      out.event_id = absl::StrCat("out-", ev.event.event_id);
      WriteOutboxRow(tx, ev.outbox_rows, {.schema = "policy", .source = "/quoteflow/test"}, out);
    }
    return absl::OkStatus();
  }
  std::string consumer;
  bool emit = false;
  std::function<absl::Status(const InboundEvent&)> hook;
  std::atomic<int> calls{0};
};

// One InboxConsumer running on its own thread.
class Running {
 public:
  Running(PgPool& pool, TestHandler& handler, const std::string& topic, const std::string& group,
          int max_batch = 100, absl::Duration min_backoff = absl::Milliseconds(20)) {
    InboxConsumerOptions o;
    o.consumer = group;
    o.schema = "policy";
    o.topics = {topic};
    o.max_batch = max_batch;
    o.min_backoff = min_backoff;
    o.max_backoff = absl::Milliseconds(500);
    o.commit_interval = absl::Milliseconds(50);
    o.stats_interval = absl::Seconds(5);
    handler.consumer = group;
    consumer_ = std::make_unique<InboxConsumer>(o, TestKafka(), pool, handler);
    thread_ = std::thread([this] { result_ = consumer_->Run(stop_); });
  }
  ~Running() { Stop().IgnoreError(); }
  void RequestStop() { stop_ = true; }
  absl::Status Stop() {
    if (thread_.joinable()) {
      stop_ = true;
      absl::Time t0 = absl::Now();
      thread_.join();
      stop_time_ = absl::Now() - t0;
    }
    return result_;
  }
  const InboxConsumerStats& stats() const { return consumer_->stats(); }
  absl::Duration stop_time() const { return stop_time_; }

 private:
  std::unique_ptr<InboxConsumer> consumer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Status result_;
  absl::Duration stop_time_;
};

class InboxConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Env().bootstrap_servers().empty());
    {
      pqxx::connection c(Env().database_url());
      pqxx::work tx(c);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS policy.test_effects (id bigserial PRIMARY KEY, consumer "
          "text, event_id text, aggregate_id text, version bigint, topic text, part int, "
          "kafka_offset bigint)");
      tx.commit();
    }
    ASSERT_TRUE(testing::ResetDatabase().ok());
    PgPoolOptions po;
    po.database_url = Env().database_url();
    po.size = 4;
    po.connect_timeout = absl::Seconds(1);
    pool_ = std::make_unique<PgPool>(po);
  }

  int64_t Scalar(const std::string& sql) {
    try {
      pqxx::connection c(Env().database_url());
      pqxx::work tx(c);
      return tx.exec1(sql)[0].as<int64_t>();
    } catch (const std::exception&) {
      return -1;
    }
  }
  std::string Text(const std::string& sql) {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    return tx.exec1(sql)[0].as<std::string>("<null>");
  }
  int64_t Effects() { return Scalar("SELECT count(*) FROM policy.test_effects"); }
  int64_t DistinctEffects() {
    return Scalar("SELECT count(DISTINCT event_id) FROM policy.test_effects");
  }
  // Aggregates whose effects were applied out of version order.
  int64_t OutOfOrder() {
    return Scalar(
        "SELECT count(*) FROM (SELECT version < lag(version) OVER (PARTITION BY aggregate_id "
        "ORDER BY id) AS back FROM policy.test_effects) s WHERE back");
  }
  // Committed offset of `group` on topic[partition] (-1 when none), read without joining.
  int64_t Committed(const std::string& group, const std::string& topic, int partition) {
    auto conf = TestKafka().Build(kafka::KafkaRole::kConsumer, group);
    EXPECT_TRUE(conf.ok());
    auto rk = kafka::NewKafkaHandle(RD_KAFKA_CONSUMER, *std::move(conf));
    EXPECT_TRUE(rk.ok());
    kafka::TopicPartitionListPtr l(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk->get(), l.get(), 5000);
    EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
    return l->elems[0].offset;
  }

  std::unique_ptr<PgPool> pool_;
};

// (a) Wire duplicates are absorbed; the offset of a record is not committed before its
// transaction; a consumer stopped mid-stream and replaced loses nothing and applies nothing twice.
TEST_F(InboxConsumerTest, AppliesEachEventOnceAcrossRestartsAndWireDuplicates) {
  const std::string topic = CreateTopics(4);
  const std::string group = UniqueName("g");
  Producer producer;
  constexpr int kAggregates = 20, kVersions = 10;
  for (int v = 1; v <= kVersions; ++v) {
    for (int a = 0; a < kAggregates; ++a) {
      // Aggregate 5's event ids hold what an array literal must escape (the inbox rows of a
      // batch go to Postgres as one text[]).
      DomainEvent e = MakeEvent(absl::StrCat("qa-", a), v,
                                a == 5 ? absl::StrCat("qa-5 \"q\" \\ {x,y} NULL-v", v) : "");
      producer.Send(topic, e);
      if ((a + v) % 5 == 0) producer.Send(topic, e);  // same event id twice on the wire
    }
  }
  producer.Flush();
  const int kDuplicatesOnWire = 40;

  // Hold the handler on one event and look at the group's committed offset meanwhile.
  TestHandler handler;
  std::atomic<bool> held{false}, release{false};
  std::atomic<int> held_partition{-1};
  std::atomic<int64_t> held_offset{-1};
  handler.hook = [&](const InboundEvent& ev) {
    if (ev.event.event_id == "qa-7-v3" && !held.exchange(true)) {
      held_partition = ev.partition;
      held_offset = ev.offset;
      absl::Time until = absl::Now() + absl::Seconds(10);
      while (!release.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
    }
    absl::SleepFor(absl::Milliseconds(3));  // slow enough to be stopped mid-stream
    return absl::OkStatus();
  };
  auto first = std::make_unique<Running>(*pool_, handler, topic, group, /*max_batch=*/1);
  ASSERT_TRUE(WaitFor([&] { return held.load(); }, kWait, "the handler to reach qa-7-v3").ok());
  absl::SleepFor(absl::Milliseconds(200));  // several commit intervals pass while it is held
  EXPECT_LT(Committed(group, topic, held_partition), held_offset + 1)
      << "offset committed before its transaction";
  release = true;
  ASSERT_TRUE(WaitFor([&] { return Committed(group, topic, held_partition) > held_offset; }, kWait,
                      "the held record's offset to be committed after its transaction")
                  .ok());

  // Stop mid-stream and start a replacement in the same group.
  ASSERT_TRUE(WaitFor([&] { return first->stats().handled >= 60; }, kWait, "60 handled").ok());
  ASSERT_TRUE(first->Stop().ok());
  EXPECT_LT(first->stop_time(), absl::Seconds(5));
  const int64_t first_handled = first->stats().handled;
  const int64_t first_dups = first->stats().duplicates;
  handler.hook = nullptr;
  Running second(*pool_, handler, topic, group);
  ASSERT_TRUE(WaitFor([&] { return DistinctEffects() == kAggregates * kVersions; }, kWait,
                      "every event applied")
                  .ok());
  ASSERT_TRUE(WaitFor(
                  [&] {
                    return second.stats().handled + second.stats().duplicates + first_handled +
                               first_dups ==
                           kAggregates * kVersions + kDuplicatesOnWire;
                  },
                  kWait, "every record consumed")
                  .ok())
      << second.stats().ToJson();
  EXPECT_EQ(Effects(), kAggregates * kVersions) << "an event was applied twice";
  EXPECT_EQ(first_handled + second.stats().handled, kAggregates * kVersions);
  EXPECT_EQ(first_dups + second.stats().duplicates, kDuplicatesOnWire);
  EXPECT_EQ(OutOfOrder(), 0);
  EXPECT_EQ(second.stats().version_gaps, 0);
  EXPECT_EQ(second.stats().stale_versions, 0);
  ASSERT_TRUE(second.Stop().ok());
  EXPECT_EQ(second.stats().running, false);
}

// (b) Postgres down: nothing is skipped, per-key order holds, everything is applied once.
TEST_F(InboxConsumerTest, SurvivesPostgresOutageWithoutSkippingOrReordering) {
  if (Env().postgres() == nullptr) GTEST_SKIP() << "needs the test's own cluster";
  const std::string topic = CreateTopics(3);
  const std::string group = UniqueName("g");
  Producer producer;
  constexpr int kAggregates = 10;
  for (int v = 1; v <= 10; ++v) {
    for (int a = 0; a < kAggregates; ++a)
      producer.Send(topic, MakeEvent(absl::StrCat("qb-", a), v));
  }
  TestHandler handler;
  Running running(*pool_, handler, topic, group, /*max_batch=*/5);
  ASSERT_TRUE(WaitFor([&] { return running.stats().handled >= 20; }, kWait, "20 handled").ok());
  ASSERT_TRUE(Env().postgres()->Stop(LocalPostgres::Mode::kImmediate).ok());
  for (int v = 11; v <= 15; ++v) {
    for (int a = 0; a < kAggregates; ++a)
      producer.Send(topic, MakeEvent(absl::StrCat("qb-", a), v));
  }
  ASSERT_TRUE(
      WaitFor([&] { return running.stats().transient_errors >= 3; }, kWait, "retries").ok());
  EXPECT_TRUE(running.stats().waiting_on_record);
  const int64_t handled_while_down = running.stats().handled;
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(running.stats().handled, handled_while_down) << "progress without a database";
  ASSERT_TRUE(Env().postgres()->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return DistinctEffects() == kAggregates * 15; }, kWait,
                      "every event applied after the restart")
                  .ok())
      << running.stats().ToJson();
  ASSERT_TRUE(running.Stop().ok());
  EXPECT_EQ(Effects(), kAggregates * 15);
  EXPECT_EQ(OutOfOrder(), 0);
  EXPECT_EQ(running.stats().version_gaps, 0);
  EXPECT_FALSE(running.stats().waiting_on_record);
}

// (c) Poison: an undecodable record and an event the handler rejects each land on <topic>.dlq
// exactly once, with the reason; the other keys (and later events of the same key) complete.
TEST_F(InboxConsumerTest, DeadLettersPoisonRecordsAndMovesOn) {
  const std::string topic = CreateTopics(3);
  const std::string group = UniqueName("g");
  Producer producer;
  producer.SendRaw(topic, "qc-bad", "{not json");
  producer.Send(topic, MakeEvent("qc-poison", 1, "poison-event"));
  producer.Send(topic, MakeEvent("qc-poison", 2));
  for (int a = 0; a < 30; ++a) producer.Send(topic, MakeEvent(absl::StrCat("qc-", a), 1));
  producer.Flush();

  TestHandler handler;
  std::atomic<int> poison_calls{0};
  handler.hook = [&](const InboundEvent& ev) -> absl::Status {
    if (ev.event.event_id != "poison-event") return absl::OkStatus();
    ++poison_calls;
    return absl::InvalidArgumentError("premium: must be positive");
  };
  Running running(*pool_, handler, topic, group);
  ASSERT_TRUE(WaitFor([&] { return DistinctEffects() == 31; }, kWait, "the good events").ok());
  ASSERT_TRUE(
      WaitFor([&] { return running.stats().dead_lettered == 2; }, kWait, "2 dead-lettered").ok());
  ASSERT_TRUE(running.Stop().ok());
  EXPECT_EQ(poison_calls, 1 + 3);               // its batch, then max_poison_attempts alone
  EXPECT_EQ(running.stats().poison_errors, 4);  // 1 decode + 3 handler attempts

  auto records = ReadDlq(TestKafka(), topic + ".dlq", {});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  std::map<std::string, DlqRecord> by_key;
  for (const DlqRecord& r : *records) by_key[r.key] = r;
  ASSERT_EQ(by_key.count("qc-bad"), 1u);
  ASSERT_EQ(by_key.count("qc-poison"), 1u);
  const DlqRecord& bad = by_key["qc-bad"];
  EXPECT_TRUE(absl::StartsWith(bad.reason, "decode: INVALID_ARGUMENT")) << bad.reason;
  EXPECT_EQ(bad.value, "{not json");
  EXPECT_EQ(bad.attempts, 1);
  EXPECT_EQ(bad.consumer, group);
  EXPECT_EQ(bad.original_topic, topic);
  EXPECT_GE(bad.original_offset, 0);
  EXPECT_FALSE(bad.failed_at.empty());
  const DlqRecord& poison = by_key["qc-poison"];
  EXPECT_EQ(poison.reason, "handler: INVALID_ARGUMENT: premium: must be positive");
  EXPECT_EQ(poison.attempts, 3);
  EXPECT_TRUE(absl::StrContains(poison.value, "poison-event"));
  EXPECT_EQ(DecodeEnvelope(poison.value).ok(), true);  // original value, byte for byte

  // The committed offsets cover the poison records: a new run would not dead-letter them again.
  for (const DlqRecord& r : *records) {
    EXPECT_GT(Committed(group, topic, r.original_partition), r.original_offset);
  }
}

// A poison record whose dead-letter copy is larger than the dead-letter producer accepts (the
// original near the size limit, plus the dlq_* headers): it is dead-lettered as a trimmed copy
// (reason, coordinates, original size; no value) and the records behind it are applied. Before,
// the worker retried the copy forever with every partition paused.
TEST_F(InboxConsumerTest, AnUnsendablePoisonRecordIsDeadLetteredTrimmedAndTheRestApplied) {
  const std::string topic = CreateTopics(1);
  const std::string group = UniqueName("g");
  // The original fits the broker (topic max.message.bytes 1048588) but its copy does not fit the
  // consumer's producer (librdkafka's message.max.bytes, 1000000).
  const std::string huge(999950, 'x');
  {
    Producer big(KafkaSettings(Env().bootstrap_servers(), {{"message.max.bytes", "1048576"}}));
    big.SendRaw(topic, "qc-huge", huge);
    big.Flush();
  }
  Producer producer;
  for (int a = 0; a < 20; ++a) producer.Send(topic, MakeEvent(absl::StrCat("qc-behind-", a), 1));
  producer.Flush();

  TestHandler handler;
  Running running(*pool_, handler, topic, group);
  absl::Status applied = WaitFor([&] { return DistinctEffects() == 20; }, kWait,
                                 "the records behind the oversized poison record");
  ASSERT_TRUE(applied.ok()) << applied;
  ASSERT_TRUE(
      WaitFor([&] { return running.stats().dead_lettered == 1; }, kWait, "1 dead-lettered").ok());
  ASSERT_TRUE(running.Stop().ok());

  auto records = ReadDlq(TestKafka(), topic + ".dlq", {});
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  const DlqRecord& r = records->front();
  EXPECT_EQ(r.key, "qc-huge");
  EXPECT_TRUE(r.value.empty());
  EXPECT_TRUE(absl::StartsWith(r.reason, "decode: INVALID_ARGUMENT")) << r.reason;
  EXPECT_TRUE(absl::StrContains(r.reason, "trimmed copy")) << r.reason;
  EXPECT_EQ(r.original_topic, topic);
  EXPECT_EQ(r.original_partition, 0);
  EXPECT_EQ(r.original_offset, 0);
  std::map<std::string, std::string> headers(r.headers.begin(), r.headers.end());
  EXPECT_EQ(headers["dlq_trimmed"], "true");
  EXPECT_EQ(headers["dlq_original_bytes"], std::to_string(huge.size()));
  EXPECT_GT(Committed(group, topic, 0), 20) << "the poison record and those behind it committed";
  // A trimmed copy has no value to send back: redrive refuses it and says where the original is.
  absl::Status redrive = RedriveDlqRecords(TestKafka(), *records, absl::Seconds(10));
  EXPECT_EQ(redrive.code(), absl::StatusCode::kFailedPrecondition) << redrive;
  EXPECT_TRUE(absl::StrContains(redrive.message(), absl::StrCat(topic, "[0]@0"))) << redrive;
}

// (d) Two instances in one group share the partitions and together apply everything once.
TEST_F(InboxConsumerTest, TwoInstancesShareTheGroup) {
  const std::string topic = CreateTopics(6);
  const std::string group = UniqueName("g");
  TestHandler handler_a, handler_b;
  Running a(*pool_, handler_a, topic, group);
  Running b(*pool_, handler_b, topic, group);
  ASSERT_TRUE(WaitFor(
                  [&] {
                    return a.stats().assigned_partitions > 0 && b.stats().assigned_partitions > 0 &&
                           a.stats().assigned_partitions + b.stats().assigned_partitions == 6;
                  },
                  kWait, "both instances assigned")
                  .ok());
  Producer producer;
  constexpr int kAggregates = 30, kVersions = 5;
  for (int v = 1; v <= kVersions; ++v) {
    for (int k = 0; k < kAggregates; ++k)
      producer.Send(topic, MakeEvent(absl::StrCat("qd-", k), v));
  }
  ASSERT_TRUE(WaitFor([&] { return DistinctEffects() == kAggregates * kVersions; }, kWait,
                      "every event applied")
                  .ok());
  EXPECT_GT(a.stats().handled, 0);
  EXPECT_GT(b.stats().handled, 0);
  EXPECT_EQ(a.stats().handled + b.stats().handled, kAggregates * kVersions);
  EXPECT_EQ(Effects(), kAggregates * kVersions);
  EXPECT_EQ(OutOfOrder(), 0);
  a.RequestStop();  // both at once: a lone survivor would first rejoin the group
  b.RequestStop();
  ASSERT_TRUE(a.Stop().ok());
  ASSERT_TRUE(b.Stop().ok());
}

// A consumer retrying a record pauses its partitions; a rebalance then revokes them, and some
// come back to it. librdkafka keeps a partition's pause flag across revoke and assign, so a
// partition paused before the revoke and assigned back after it must be resumed explicitly, or it
// is never fetched again: the chaos scenario NetPartition.WorkerPostgresDuringRebalance left 107
// sagas APPROVED that way. Here the handler of `a` hangs (a database that does not answer) while
// `b` joins, then fails once more and recovers; a 1 ms retry backoff makes `a` resume between the
// revoke and the new assignment, where the bug was. Then every event written afterwards must be
// applied, whichever instance owns its partition.
TEST_F(InboxConsumerTest, PartitionsPausedWhenRevokedAreFetchedAgainWhenAssignedBack) {
  constexpr int kPartitions = 4, kAggregates = 40;
  const std::string topic = CreateTopics(kPartitions);
  const std::string group = UniqueName("g");
  std::atomic<bool> release{false};
  std::atomic<int> failures{0};
  TestHandler handler_a, handler_b;
  handler_a.hook = [&](const InboundEvent&) -> absl::Status {
    const int n = ++failures;
    if (n == 1) {
      // Hang like a transaction on a cut link (no polling meanwhile), up to a bound.
      const absl::Time until = absl::Now() + kWait;
      while (!release.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
    }
    if (n <= 2) return absl::UnavailableError("test: database unreachable");
    return absl::OkStatus();
  };
  Producer producer;
  for (int k = 0; k < kAggregates; ++k) producer.Send(topic, MakeEvent(absl::StrCat("qp-", k), 1));
  producer.Flush();
  Running a(*pool_, handler_a, topic, group, /*max_batch=*/100, absl::Milliseconds(1));
  ASSERT_TRUE(WaitFor([&] { return failures.load() >= 1; }, kWait, "a's handler hanging").ok());
  Running b(*pool_, handler_b, topic, group);
  // b's JoinGroup waits for a, which is not polling: give it time to reach the broker.
  ASSERT_TRUE(WaitFor([&] { return b.stats().running.load(); }, kWait, "b subscribed").ok());
  absl::SleepFor(absl::Seconds(1));
  release = true;
  ASSERT_TRUE(WaitFor(
                  [&] {
                    return a.stats().assigned_partitions > 0 && b.stats().assigned_partitions > 0 &&
                           a.stats().assigned_partitions + b.stats().assigned_partitions ==
                               kPartitions;
                  },
                  kWait, "the partitions shared by a and b")
                  .ok());
  for (int k = 0; k < kAggregates; ++k) producer.Send(topic, MakeEvent(absl::StrCat("qp-", k), 2));
  producer.Flush();
  absl::Status all = WaitFor([&] { return DistinctEffects() == 2 * kAggregates; }, kWait,
                             "every event applied after the rebalance");
  EXPECT_TRUE(all.ok()) << all << "; a: " << a.stats().ToJson() << "; b: " << b.stats().ToJson();
  EXPECT_GE(failures.load(), 2) << "a's handler never failed after hanging";
  EXPECT_EQ(Effects(), 2 * kAggregates);
  EXPECT_EQ(OutOfOrder(), 0);
  a.RequestStop();
  b.RequestStop();
  ASSERT_TRUE(a.Stop().ok());
  ASSERT_TRUE(b.Stop().ok());
}

// Lag per partition: a record that is retried holds its partition, and it and the records behind
// it count as lag there (not elsewhere); released, every partition drains to 0; a rebalance moves
// each partition's series to its new owner; a stopped consumer exports none.
TEST_F(InboxConsumerTest, LagPerPartitionCountsUnappliedRecordsAndFollowsTheAssignment) {
  constexpr int kPartitions = 4, kFree = 12, kHeld = 5;
  const std::string topic = CreateTopics(kPartitions);
  const std::string group = UniqueName("g");
  {
    Producer producer;
    for (int k = 0; k < kFree; ++k) producer.Send(topic, MakeEvent(absl::StrCat("free-", k), 1));
  }
  auto lags_of = [](const InboxConsumerStats& stats) {
    std::map<int, int64_t> out;
    for (const PartitionLag& l : stats.PartitionLags()) out[l.partition] = l.messages;
    return out;
  };
  auto all_zero = [&](const std::map<int, int64_t>& lags) {
    if (static_cast<int>(lags.size()) != kPartitions) return false;
    for (const auto& [p, n] : lags) {
      if (n != 0) return false;
    }
    return true;
  };

  TestHandler handler_a;
  std::atomic<bool> hold{true};
  handler_a.hook = [&](const InboundEvent& ev) {
    if (hold.load() && ev.event.aggregate_id == "held") return absl::UnavailableError("held");
    return absl::OkStatus();
  };
  Running a(*pool_, handler_a, topic, group);
  // Every partition has a series (a fresh group: from the low watermark) and drains to 0.
  ASSERT_TRUE(WaitFor([&] { return Effects() == kFree && all_zero(lags_of(a.stats())); }, kWait,
                      "the free records applied, every partition at 0")
                  .ok())
      << a.stats().ToJson();

  // Held: "held" v1 is retried (its partitions paused), so it and the 4 behind it are lag, on the
  // partition of key "held" only. (One producer batch: the high watermark covers all five.)
  {
    Producer producer;
    for (int v = 1; v <= kHeld; ++v) producer.Send(topic, MakeEvent("held", v));
  }
  std::map<int, int64_t> during;
  int held_partition = -1;
  ASSERT_TRUE(WaitFor(
                  [&] {
                    during = lags_of(a.stats());
                    held_partition = -1;
                    int zeros = 0;
                    for (const auto& [p, n] : during) {
                      if (n == kHeld) held_partition = p;
                      if (n == 0) ++zeros;
                    }
                    return a.stats().waiting_on_record && held_partition >= 0 &&
                           zeros == kPartitions - 1 && a.stats().lag == kHeld;
                  },
                  kWait, "lag 5 on the held partition, 0 elsewhere")
                  .ok())
      << a.stats().ToJson();

  // Released: every partition drains to 0; the lag was on the partition the records were in.
  hold = false;
  ASSERT_TRUE(WaitFor(
                  [&] {
                    return Effects() == kFree + kHeld && all_zero(lags_of(a.stats())) &&
                           a.stats().lag == 0;
                  },
                  kWait, "every partition's lag back to 0")
                  .ok())
      << a.stats().ToJson();
  EXPECT_EQ(Scalar("SELECT min(part) FROM policy.test_effects WHERE aggregate_id = 'held'"),
            held_partition);
  EXPECT_EQ(Scalar("SELECT max(part) FROM policy.test_effects WHERE aggregate_id = 'held'"),
            held_partition);

  // A second member: each partition's series is exported by its owner only.
  TestHandler handler_b;
  Running b(*pool_, handler_b, topic, group);
  std::map<int, int64_t> lags_a, lags_b;
  ASSERT_TRUE(WaitFor(
                  [&] {
                    lags_a = lags_of(a.stats());
                    lags_b = lags_of(b.stats());
                    return a.stats().assigned_partitions > 0 && b.stats().assigned_partitions > 0 &&
                           static_cast<int64_t>(lags_a.size()) == a.stats().assigned_partitions &&
                           static_cast<int64_t>(lags_b.size()) == b.stats().assigned_partitions &&
                           static_cast<int>(lags_a.size() + lags_b.size()) == kPartitions;
                  },
                  kWait, "the partitions' series split between both members")
                  .ok())
      << a.stats().ToJson() << b.stats().ToJson();
  for (const auto& [p, n] : lags_a) {
    EXPECT_EQ(lags_b.count(p), 0u) << "partition " << p << " exported by both";
    EXPECT_EQ(n, 0) << "partition " << p;
  }
  for (const auto& [p, n] : lags_b) EXPECT_EQ(n, 0) << "partition " << p;
  a.RequestStop();
  b.RequestStop();
  ASSERT_TRUE(a.Stop().ok());
  ASSERT_TRUE(b.Stop().ok());
  EXPECT_TRUE(a.stats().PartitionLags().empty());
  EXPECT_EQ(a.stats().lag, 0);
}

// Work a handler leaves for after the commit runs once per applied event, and the outbox rows it
// writes go in once per applied event, in the order applied: not for a batch that was rolled back
// (and applied again one record at a time), a poison record or an inbox duplicate.
TEST_F(InboxConsumerTest, AfterCommitAndOutboxRowsOnceForEachCommittedEvent) {
  const std::string topic = CreateTopics(1);
  const std::string group = UniqueName("g");
  {
    Producer producer;
    for (int k = 0; k < 10; ++k) {
      producer.Send(topic, MakeEvent(absl::StrCat("ac-", k), 1));
      if (k == 2) producer.Send(topic, MakeEvent("ac-2", 1));  // an inbox duplicate
    }
  }
  std::mutex mu;
  std::map<std::string, int> after_commit;  // event id -> runs
  TestHandler handler;
  handler.emit = true;
  handler.hook = [&](const InboundEvent& ev) {
    if (ev.after_commit == nullptr) return absl::InternalError("no AfterCommit");
    if (ev.outbox_rows == nullptr) return absl::InternalError("no PendingOutboxRows");
    if (ev.event.event_id == "ac-6-v1") return absl::InvalidArgumentError("poison");
    ev.after_commit->Add([&mu, &after_commit, id = ev.event.event_id] {
      std::lock_guard<std::mutex> lock(mu);
      ++after_commit[id];
    });
    return absl::OkStatus();
  };
  Running r(*pool_, handler, topic, group);
  ASSERT_TRUE(WaitFor([&] { return r.stats().dead_lettered == 1 && Effects() == 9; }, kWait,
                      "9 applied, 1 dead-lettered")
                  .ok())
      << r.stats().ToJson();
  ASSERT_TRUE(WaitFor([&] { return r.stats().duplicates == 1; }, kWait, "the duplicate").ok());
  ASSERT_TRUE(r.Stop().ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(after_commit.size(), 9u);
  for (const auto& [id, runs] : after_commit) EXPECT_EQ(runs, 1) << id;
  EXPECT_EQ(after_commit.count("ac-6-v1"), 0u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM policy.outbox"), 9);
  EXPECT_EQ(Text("SELECT string_agg(substr(event_id, 5), ',' ORDER BY seq) FROM policy.outbox"),
            Text("SELECT string_agg(event_id, ',' ORDER BY id) FROM policy.test_effects"));
}

// (e) Gap detection: a missing version is counted (and still applied); an older version with a
// new event id is counted as stale; a wire duplicate is neither; unwanted types are skipped.
TEST_F(InboxConsumerTest, CountsVersionGapsAndStaleVersions) {
  const std::string topic = CreateTopics(1);
  const std::string group = UniqueName("g");
  Producer producer;
  producer.Send(topic, MakeEvent("qe-1", 1));
  producer.Send(topic, MakeEvent("qe-1", 2));
  producer.Send(topic, MakeEvent("qe-1", 4));                // gap: expected 3
  producer.Send(topic, MakeEvent("qe-1", 3, "qe-1-late3"));  // stale: 3 <= 4, new event id
  producer.Send(topic, MakeEvent("qe-1", 5));
  producer.Send(topic, MakeEvent("qe-1", 5));  // wire duplicate
  DomainEvent skipped = MakeEvent("cust-1", 1);
  skipped.payload = CustomerPolicyCountRejected{"cust-1", "p-1", "at maximum"};
  producer.Send(topic, skipped);
  producer.Flush();

  TestHandler handler;
  Running running(*pool_, handler, topic, group);
  ASSERT_TRUE(WaitFor(
                  [&] {
                    return running.stats().handled + running.stats().duplicates +
                               running.stats().skipped ==
                           7;
                  },
                  kWait, "7 records consumed")
                  .ok());
  ASSERT_TRUE(running.Stop().ok());
  EXPECT_EQ(running.stats().handled, 5);
  EXPECT_EQ(running.stats().duplicates, 1);
  EXPECT_EQ(running.stats().skipped, 1);
  EXPECT_EQ(running.stats().version_gaps, 1);
  EXPECT_EQ(running.stats().stale_versions, 1);
  EXPECT_EQ(Effects(), 5);
}

// (f) dlq list / redrive and replay: a redriven record is applied once (a second redrive is
// absorbed by the inbox); replaying the whole topic from the earliest offset changes no state.
TEST_F(InboxConsumerTest, DlqListRedriveAndReplayToEarliest) {
  const std::string topic = CreateTopics(2, 2);
  const std::string dlq = topic + ".dlq";
  const std::string group = UniqueName("g");
  Producer producer;
  for (int a = 0; a < 20; ++a) producer.Send(topic, MakeEvent(absl::StrCat("qf-", a), 1));
  producer.Send(topic, MakeEvent("qf-flaky", 1, "flaky-event"));
  producer.Flush();

  TestHandler handler;
  std::atomic<bool> reject{true};
  handler.hook = [&](const InboundEvent& ev) -> absl::Status {
    if (ev.event.event_id == "flaky-event" && reject.load()) {
      return absl::FailedPreconditionError("customer c-1 is not registered");
    }
    return absl::OkStatus();
  };
  auto running = std::make_unique<Running>(*pool_, handler, topic, group);
  ASSERT_TRUE(WaitFor([&] { return running->stats().dead_lettered == 1 && Effects() == 20; }, kWait,
                      "20 applied, 1 dead-lettered")
                  .ok());

  std::ostringstream out, err;
  ASSERT_EQ(RunDlqCommand({"dlq", "list", "--topic", dlq}, TestKafka(), out, err), 0) << err.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "key=\"qf-flaky\"")) << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "FAILED_PRECONDITION: customer c-1 is not registered"))
      << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "attempts=3")) << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "1 record(s)")) << out.str();

  // Usage errors.
  std::ostringstream o2, e2;
  EXPECT_EQ(RunDlqCommand({"dlq", "redrive", "--topic", dlq}, TestKafka(), o2, e2), 2);
  EXPECT_EQ(RunDlqCommand({"dlq", "redrive", "--topic", dlq, "--offset", "0"}, TestKafka(), o2, e2),
            2);  // two partitions: --partition required
  EXPECT_TRUE(absl::StrContains(e2.str(), "--partition is required")) << e2.str();
  EXPECT_EQ(RunDlqCommand({"dlq", "list"}, TestKafka(), o2, e2), 2);
  EXPECT_EQ(RunDlqCommand({"dlq", "list", "--topic", "no-such-topic.dlq"}, TestKafka(), o2, e2), 1);

  // Redrive after the cause is fixed: applied once; a second redrive is absorbed.
  reject = false;
  std::ostringstream o3, e3;
  ASSERT_EQ(RunDlqCommand({"dlq", "redrive", "--topic", dlq, "--all"}, TestKafka(), o3, e3), 0)
      << e3.str();
  ASSERT_TRUE(WaitFor([&] { return Effects() == 21; }, kWait, "the redriven event applied").ok());
  ASSERT_EQ(RunDlqCommand({"dlq", "redrive", "--topic", dlq, "--all"}, TestKafka(), o3, e3), 0)
      << e3.str();
  ASSERT_TRUE(WaitFor([&] { return running->stats().duplicates == 1; }, kWait,
                      "the second redrive absorbed")
                  .ok());
  EXPECT_EQ(Effects(), 21);

  // Replay refuses while the group is active.
  std::ostringstream o4, e4;
  EXPECT_EQ(RunReplayCommand(
                {"replay", "--group", group, "--topic", topic, "--to-earliest", "--timeout", "15s"},
                TestKafka(), o4, e4),
            1);
  EXPECT_TRUE(absl::StrContains(e4.str(), "stop the group's workers first")) << e4.str();

  // Stop the worker, reset to earliest, run again: every record is an inbox duplicate.
  ASSERT_TRUE(running->Stop().ok());
  running.reset();
  std::ostringstream o5, e5;
  ASSERT_EQ(RunReplayCommand({"replay", "--group", group, "--topic", topic, "--to-earliest"},
                             TestKafka(), o5, e5),
            0)
      << e5.str();
  EXPECT_TRUE(absl::StrContains(o5.str(), " -> 0")) << o5.str();
  const int kRecords = 21 + 2;  // 21 produced + 2 redriven
  Running replayed(*pool_, handler, topic, group);
  ASSERT_TRUE(WaitFor([&] { return replayed.stats().duplicates == kRecords; }, kWait,
                      "the whole topic replayed")
                  .ok())
      << replayed.stats().ToJson();
  ASSERT_TRUE(replayed.Stop().ok());
  EXPECT_EQ(replayed.stats().handled, 0);
  EXPECT_EQ(Effects(), 21);

  // --to-time / --to-offset, as dry runs (no group join needed).
  std::ostringstream o6, e6;
  ASSERT_EQ(RunReplayCommand({"replay", "--group", group, "--topic", topic, "--to-time",
                              "1970-01-01T00:00:01Z", "--dry-run"},
                             TestKafka(), o6, e6),
            0)
      << e6.str();
  EXPECT_TRUE(absl::StrContains(o6.str(), "[0] group " + group + ": ")) << o6.str();
  EXPECT_TRUE(absl::StrContains(o6.str(), "-> 0")) << o6.str();
  std::ostringstream o7, e7;
  ASSERT_EQ(RunReplayCommand({"replay", "--group", group, "--topic", topic, "--to-time",
                              "2999-01-01T00:00:00Z", "--dry-run"},
                             TestKafka(), o7, e7),
            0)
      << e7.str();
  EXPECT_FALSE(absl::StrContains(o7.str(), "-> 0\n")) << o7.str();
  std::ostringstream o8, e8;
  EXPECT_EQ(RunReplayCommand({"replay", "--group", group, "--topic", topic, "--to-offset", "100000",
                              "--partition", "1", "--dry-run"},
                             TestKafka(), o8, e8),
            1);
  EXPECT_TRUE(absl::StrContains(e8.str(), "outside")) << e8.str();
  EXPECT_EQ(RunReplayCommand({"replay", "--group", group, "--topic", topic}, TestKafka(), o8, e8),
            2);
}

}  // namespace
}  // namespace quoteflow::messaging
