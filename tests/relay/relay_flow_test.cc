// outbox-relay end to end, against the real binary, a real PostgreSQL and the mock Kafka cluster
// process: late commits, many concurrent writers, per-key order with several replicas and a
// takeover, parking and retry of unpublishable rows, configuration refusal; the writers' doorbell
// as the relay's wake-up, and the relay's fetch of some shards (PgOutboxStore, in process).
//
// Sizes: QUOTEFLOW_RELAY_TEST_ROWS (default 20000; the full run is 50000).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "domain/quote_commands.h"
#include "outbox-relay/backlog_monitor.h"
#include "outbox-relay/outbox_admin.h"
#include "outbox-relay/outbox_store.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/pg_pool.h"
#include "platform/postgres/pg_quote_repository.h"
#include "tests/ops/ops_test_util.h"
#include "tests/relay/relay_test_util.h"

namespace quoteflow::relay::testing {
namespace {

class RelayFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::quoteflow::testing::ResetDatabase().ok());
    ASSERT_FALSE(Env().bootstrap_servers().empty());
  }
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A lower seq that commits after a higher one was published must still be published.
TEST_F(RelayFlowTest, LateCommitIsPublished) {
  std::string topic = CreateTestTopic();
  auto relay = RelayProcess::Start({.relay_id = "late-commit", .topic = topic});
  ASSERT_NE(relay, nullptr);
  TopicReader reader(topic);
  OutboxRowWriter writer("late");

  pqxx::connection a(Env().database_url());
  pqxx::connection b(Env().database_url());
  pqxx::work tx_a(a);
  int64_t seq_a = writer.Insert(tx_a, /*aggregate=*/1, /*version=*/1);  // held open
  int64_t seq_b;
  {
    pqxx::work tx_b(b);
    seq_b = writer.Insert(tx_b, /*aggregate=*/2, /*version=*/1);
    tx_b.commit();
  }
  ASSERT_LT(seq_a, seq_b);
  const std::string id_a = OutboxRowWriter::EventId("late", 1, 1);
  const std::string id_b = OutboxRowWriter::EventId("late", 2, 1);
  ASSERT_TRUE(reader.WaitForAll({id_b}, absl::Seconds(20)).ok()) << "seq " << seq_b << " not published";
  // A's uncommitted row is invisible here: B deleted means an empty outbox.
  ASSERT_TRUE(WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(10), "seq 2 deleted").ok());
  EXPECT_FALSE(reader.Seen(id_a));
  tx_a.commit();
  EXPECT_TRUE(reader.WaitForAll({id_a}, absl::Seconds(20)).ok())
      << "late-committed seq " << seq_a << " was skipped";
  EXPECT_TRUE(WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(10), "outbox empty").ok());
  EXPECT_EQ(relay->Terminate(), 0);
}

TEST_F(RelayFlowTest, ManyRowsFromConcurrentWritersAllArrive) {
  const int64_t rows = EnvInt("QUOTEFLOW_RELAY_TEST_ROWS", 20000);
  std::string topic = CreateTestTopic();
  auto relay = RelayProcess::Start({.relay_id = "many-rows", .topic = topic});
  ASSERT_NE(relay, nullptr);
  TopicReader reader(topic);
  absl::Time start = absl::Now();
  ConcurrentWriters writers("many", /*writers=*/8, /*aggregates=*/2000, rows, absl::Milliseconds(3));
  writers.Join();
  ASSERT_EQ(writers.error(), "");
  absl::Duration write_time = absl::Now() - start;
  std::set<std::string> expected = writers.ExpectedEventIds();
  ASSERT_EQ(static_cast<int64_t>(expected.size()), rows);
  ASSERT_TRUE(WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(120), "outbox drained").ok())
      << OutboxRows() << " rows left";
  absl::Duration publish_time = absl::Now() - start;
  ASSERT_TRUE(reader.WaitForAll(expected, absl::Seconds(60)).ok());
  Verdict v = Verify(reader, expected);
  std::printf("[figures] many-rows: rows=%lld writers=8 write=%s drained=%s (%.0f rows/s) %s\n",
              static_cast<long long>(rows), absl::FormatDuration(write_time).c_str(),
              absl::FormatDuration(publish_time).c_str(),
              rows / absl::ToDoubleSeconds(publish_time), v.ToString().c_str());
  EXPECT_EQ(v.missing, 0u) << v.ToString();
  EXPECT_EQ(v.reordered, 0u) << v.ToString();
  EXPECT_EQ(v.split_keys, 0u) << v.ToString();
  EXPECT_EQ(v.duplicates, 0u) << "no faults, so no duplicates expected: " << v.ToString();
  // Headers of one message.
  const ReadMessage& m = reader.messages().front();
  EXPECT_EQ(m.headers.at("ce_specversion"), "1.0");
  EXPECT_EQ(m.headers.at("ce_type"), "QuoteApproved");
  EXPECT_EQ(m.headers.at("ce_source"), "relay-test");
  EXPECT_EQ(m.headers.at("content-type"), "application/json");
  EXPECT_EQ(m.headers.at("traceparent").substr(0, 3), "00-");
  EXPECT_EQ(m.headers.at("ce_time").back(), 'Z');
  EXPECT_EQ(relay->Terminate(), 0);
  // A clean stop releases the leases and the registration.
  EXPECT_EQ(ShardLeases().first, 0);
  EXPECT_EQ(RelayRegistration("many-rows").first, 0);
}

// Two, then three replicas share the shards; order per key holds; SIGKILL of a replica moves its
// shards to the others within seconds.
TEST_F(RelayFlowTest, PerKeyOrderWithReplicasAndTakeover) {
  const int64_t rows = EnvInt("QUOTEFLOW_RELAY_TEST_ROWS", 20000) / 2;
  std::string topic = CreateTestTopic();
  TopicReader reader(topic);
  std::vector<std::unique_ptr<RelayProcess>> relays;
  for (const char* id : {"replica-1", "replica-2"}) {
    relays.push_back(RelayProcess::Start({.relay_id = id, .topic = topic}));
    ASSERT_NE(relays.back(), nullptr);
  }
  auto split_evenly = [&](int n) {
    return WaitFor(
        [&] {
          int total = 0;
          for (auto& r : relays) {
            auto [pid, shards] = RelayRegistration(r->id());
            if (pid == 0 || shards > (64 + n - 1) / n || shards == 0) return false;
            total += shards;
          }
          return total == 64 && ShardLeases().first == 64;
        },
        absl::Seconds(15), "shards split between replicas");
  };
  ASSERT_TRUE(split_evenly(2).ok());
  auto phase1 = std::make_unique<ConcurrentWriters>("rep", 8, 300, rows / 2, absl::Milliseconds(2));
  // A third replica joins while rows flow.
  relays.push_back(RelayProcess::Start({.relay_id = "replica-3", .topic = topic}));
  phase1->Join();
  ASSERT_EQ(phase1->error(), "");
  ASSERT_TRUE(split_evenly(3).ok());

  // SIGKILL a replica holding shards while rows flow; measure until all 64 leases are held again
  // by the survivors.
  auto [victim_pid, victim_shards] = RelayRegistration("replica-2");
  ASSERT_GT(victim_shards, 0);
  auto phase2 = std::make_unique<ConcurrentWriters>("rep2", 8, 300, rows - rows / 2,
                                                    absl::Milliseconds(2));
  ASSERT_TRUE(WaitFor([&] { return phase2->written() > rows / 8; }, absl::Seconds(20),
                      "phase 2 under way")
                  .ok());
  absl::Time killed_at = absl::Now();
  relays[1]->Kill();
  absl::Status taken_over = WaitFor(
      [pid = victim_pid] {
        auto [held, by_victim] = ShardLeases(pid);
        return held == 64 && by_victim == 0;
      },
      absl::Seconds(15), "survivors hold all 64 shards");
  absl::Duration takeover = absl::Now() - killed_at;
  EXPECT_TRUE(taken_over.ok()) << taken_over;
  phase2->Join();
  ASSERT_EQ(phase2->error(), "");
  relays.erase(relays.begin() + 1);
  ASSERT_TRUE(split_evenly(2).ok());

  ASSERT_TRUE(WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(90), "outbox drained").ok())
      << OutboxRows() << " rows left";
  std::set<std::string> expected = phase1->ExpectedEventIds();
  for (const std::string& id : phase2->ExpectedEventIds()) expected.insert(id);
  ASSERT_EQ(static_cast<int64_t>(expected.size()), rows);
  ASSERT_TRUE(reader.WaitForAll(expected, absl::Seconds(30)).ok());
  Verdict v = Verify(reader, expected);
  std::printf("[figures] replicas: rows=%lld replicas=2->3->2 takeover=%s (victim held %d shards) %s\n",
              static_cast<long long>(rows), absl::FormatDuration(takeover).c_str(), victim_shards,
              v.ToString().c_str());
  EXPECT_EQ(v.missing, 0u) << v.ToString();
  EXPECT_EQ(v.reordered, 0u) << v.ToString();
  EXPECT_EQ(v.split_keys, 0u) << v.ToString();
  EXPECT_LT(takeover, absl::Seconds(5));
  for (auto& r : relays) EXPECT_EQ(r->Terminate(), 0);
}

// A too-large row and a row for a missing topic are parked with their reasons while other keys
// flow; retry publishes them once fixed, in order before the events queued behind them.
TEST_F(RelayFlowTest, UnpublishableRowIsParkedAndRetried) {
  std::string topic = CreateTestTopic();
  const std::string missing_topic = topic + "-later";
  auto relay = RelayProcess::Start(
      {.relay_id = "parking",
       .topic = topic,
       .extra_args = {"--max-attempts=3",
                      "--kafka-properties=topic.metadata.propagation.max.ms=500"}});
  ASSERT_NE(relay, nullptr);
  TopicReader reader(topic);
  OutboxRowWriter w("park");
  int64_t big_seq, behind_seq, lost_seq;
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    big_seq = w.Insert(tx, 1, 1, "", /*payload_size=*/2 * 1024 * 1024);  // > message.max.bytes
    behind_seq = w.Insert(tx, 1, 2);                                        // waits behind it
    lost_seq = w.Insert(tx, 2, 1, missing_topic);                           // unknown topic
    for (int v = 1; v <= 20; ++v) w.Insert(tx, 3, v);                       // other key flows
    tx.commit();
  }
  std::set<std::string> others;
  for (int v = 1; v <= 20; ++v) others.insert(OutboxRowWriter::EventId("park", 3, v));
  ASSERT_TRUE(reader.WaitForAll(others, absl::Seconds(20)).ok());
  ASSERT_TRUE(WaitFor([] { return OutboxRows(/*parked_only=*/true) == 2; }, absl::Seconds(30),
                      "two rows parked")
                  .ok());
  absl::StatusOr<std::vector<ParkedRow>> parked = ListParked(Env().database_url(), "quote");
  ASSERT_TRUE(parked.ok()) << parked.status();
  ASSERT_EQ(parked->size(), 2u);
  EXPECT_EQ((*parked)[0].seq, big_seq);
  EXPECT_EQ((*parked)[0].attempts, 3);
  EXPECT_NE((*parked)[0].last_error.find("MSG_SIZE_TOO_LARGE"), std::string::npos)
      << (*parked)[0].last_error;
  EXPECT_EQ((*parked)[0].blocked_rows, 1);
  EXPECT_EQ((*parked)[1].seq, lost_seq);
  EXPECT_NE((*parked)[1].last_error.find("UNKNOWN_TOPIC"), std::string::npos)
      << (*parked)[1].last_error;
  EXPECT_EQ(OutboxRows(), 3);  // the two parked rows and the one behind the big one
  EXPECT_FALSE(reader.Seen(OutboxRowWriter::EventId("park", 1, 2)));
  absl::StatusOr<OutboxStatus> status = GetOutboxStatus(Env().database_url(), "quote");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->parked, 2);
  EXPECT_EQ(status->backlog, 1);
  std::ostringstream out, err;
  EXPECT_EQ(RunOutboxCommand({"outbox", "parked"}, Env().database_url(), "quote", out, err), 0);
  EXPECT_NE(out.str().find("MSG_SIZE_TOO_LARGE"), std::string::npos) << out.str();
  EXPECT_EQ(RunOutboxCommand({"retry", "999999"}, Env().database_url(), "quote", out, err), 1);
  EXPECT_NE(err.str().find("NOT_FOUND"), std::string::npos) << err.str();
  EXPECT_EQ(RetryParked(Env().database_url(), "quote", behind_seq).code(),
            absl::StatusCode::kFailedPrecondition);  // blocked, not parked

  // Fix both (shrink the payload; create the topic), retry, and they are published.
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    tx.exec_params("UPDATE quote.outbox SET payload = '{\"fixed\":true}' WHERE seq = $1", big_seq);
    tx.commit();
  }
  ASSERT_TRUE(Env().CreateTopics(absl::StrCat(missing_topic, ":1")).ok());
  EXPECT_TRUE(RetryParked(Env().database_url(), "quote", big_seq).ok());
  // The relay's producer may still consider the new topic unknown for a metadata refresh or two,
  // and park the row again: an operator would retry again, so does the test.
  absl::Status drained = WaitFor(
      [&] {
        if (OutboxRows(true) > 0) (void)RetryParked(Env().database_url(), "quote", lost_seq);
        return OutboxRows() == 0;
      },
      absl::Seconds(30), "retried rows published");
  ASSERT_TRUE(drained.ok()) << drained;
  ASSERT_TRUE(reader.WaitForAll({OutboxRowWriter::EventId("park", 1, 1),
                                 OutboxRowWriter::EventId("park", 1, 2)},
                                absl::Seconds(10))
                  .ok());
  TopicReader later(missing_topic);
  EXPECT_TRUE(later.WaitForAll({OutboxRowWriter::EventId("park", 2, 1)}, absl::Seconds(10)).ok());
  std::set<std::string> all = others;
  all.insert(OutboxRowWriter::EventId("park", 1, 1));
  all.insert(OutboxRowWriter::EventId("park", 1, 2));
  Verdict v = Verify(reader, all);
  EXPECT_EQ(v.missing, 0u) << v.ToString();
  EXPECT_EQ(v.reordered, 0u) << v.ToString();
  EXPECT_EQ(relay->Terminate(), 0);
  std::string log = ReadFile(RelayProcess::LogPath("parking"));
  EXPECT_NE(log.find("rows refused by the broker, parked"), std::string::npos);
}

class WallClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

class SequentialIds : public IdGenerator {
 public:
  explicit SequentialIds(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string NewId() override { return absl::StrCat(prefix_, "-", ++n_); }

 private:
  std::string prefix_;
  std::atomic<int> n_{0};
};

// The relay's quoteflow_outbox_reads_total, -1 when its /metrics cannot be read.
double OutboxReads(int metrics_port) {
  std::optional<ops_testing::HttpResponse> r = ops_testing::HttpGet(metrics_port, "/metrics");
  if (!r.has_value()) return -1;
  return ops_testing::Sample(r->body, "quoteflow_outbox_reads_total").value_or(-1);
}

// The writers' doorbell is what wakes an idle relay: with its fallback poll, lease tick and stats
// tick at a minute, every approval made through PgQuoteRepository (which rings the doorbell after
// its commit) must be on the topic within a second. A relay woken only by its poll, a doorbell
// that is never rung, or one rung before the commit (the relay finds nothing and sleeps on) fails.
// And a relay that read every row it could see waits for the next NOTIFY instead of reading
// again at once: one read per wake-up, not two (the second would find nothing).
TEST_F(RelayFlowTest, DoorbellWakesIdleRelayWithoutPolling) {
  std::string topic = CreateTestTopic();
  const int metrics_port = process::FreeTcpPort();
  auto relay = RelayProcess::Start(
      {.relay_id = "doorbell",
       .topic = topic,
       .extra_args = {"--poll-interval=60s", "--lease-interval=60s", "--stats-interval=60s",
                      absl::StrCat("--metrics-address=127.0.0.1:", metrics_port)}});
  ASSERT_NE(relay, nullptr);
  TopicReader reader(topic);
  PgPool pool({.database_url = Env().database_url(), .size = 2});
  PgOutboxDoorbell doorbell({.database_url = Env().database_url(), .schema = "quote"});
  PgQuoteRepository repository(pool, {.schema = "quote", .source = "/quoteflow/relay-test"},
                               absl::Seconds(5), &doorbell);
  WallClock clock;
  SequentialIds ids("doorbell");
  QuoteCommands commands(repository, clock, ids);
  auto approve = [&]() -> std::string {
    absl::StatusOr<Quote> quote = commands.CreateQuote({.customer_id = "cust-1", .premium = 100});
    EXPECT_TRUE(quote.ok()) << quote.status();
    if (!quote.ok()) return "";
    absl::StatusOr<ApproveQuoteResult> approved =
        commands.ApproveQuote({.quote_id = quote->quote_id()});
    EXPECT_TRUE(approved.ok()) << approved.status();
    return approved.ok() ? approved->event_id : "";
  };
  // The first one warms up the relay's producer and the reader (connections, metadata).
  const std::string first = approve();
  ASSERT_TRUE(reader.WaitForAll({first}, absl::Seconds(30)).ok())
      << RelayProcess::ReadLog("doorbell");
  ASSERT_TRUE(WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(10), "outbox empty").ok());
  const double reads_before = OutboxReads(metrics_port);
  ASSERT_GE(reads_before, 1);
  for (int i = 0; i < 10; ++i) {
    absl::SleepFor(absl::Milliseconds(50));  // the relay is idle on LISTEN again
    const std::string id = approve();
    ASSERT_FALSE(id.empty());
    absl::Status arrived = reader.WaitForAll({id}, absl::Seconds(1));
    ASSERT_TRUE(arrived.ok()) << "approval " << i << " (" << id
                              << ") not on the topic within 1 s: the doorbell did not wake the "
                                 "relay\n"
                              << RelayProcess::ReadLog("doorbell");
  }
  EXPECT_EQ(doorbell.stats().rings.load(), 11);
  EXPECT_GE(doorbell.stats().notifies.load(), 1);
  EXPECT_EQ(doorbell.stats().dropped.load(), 0);
  EXPECT_TRUE(WaitFor([] { return OutboxRows() == 0; }, absl::Seconds(10), "outbox empty").ok());
  // One read per wake-up: 10. Re-reading after each batch makes it 20. The slack is for a batch
  // whose delivery report outlasts the relay's 50 ms report lull on a loaded machine: its row is
  // still in flight, so the relay reads again once more.
  const double reads = OutboxReads(metrics_port) - reads_before;
  EXPECT_GE(reads, 10);
  EXPECT_LE(reads, 10 + 4) << RelayProcess::ReadLog("doorbell");
  EXPECT_EQ(relay->Terminate(), 0);
}

// Counts NOTIFYs on one channel.
class NotificationCounter : public pqxx::notification_receiver {
 public:
  NotificationCounter(pqxx::connection_base& c, const std::string& channel)
      : notification_receiver(c, channel) {}
  void operator()(const std::string&, int backend_pid) override {
    ++received;
    last_sender = backend_pid;
  }
  int received = 0;
  int last_sender = 0;  // the backend that sent the last one
};

// Rings from many threads, by Ring() and by RingOn() with a connection of their own, become at
// most one NOTIFY per interval (plus the first); a ring after a quiet period is sent on its own,
// by RingOn on the caller's connection.
TEST_F(RelayFlowTest, DoorbellCoalescesRings) {
  pqxx::connection listen(Env().database_url());
  NotificationCounter counter(listen, OutboxChannel("quote"));
  const absl::Duration interval = absl::Milliseconds(50);
  PgOutboxDoorbell doorbell(
      {.database_url = Env().database_url(), .schema = "quote", .min_interval = interval});
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&doorbell, t] {
      pqxx::connection own(Env().database_url());
      for (int i = 0; i < 250; ++i) {
        if (t % 2 == 0) {
          doorbell.Ring();
        } else {
          EXPECT_TRUE(doorbell.RingOn(own).ok());
        }
        absl::SleepFor(absl::Microseconds(500));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration ringing = absl::Now() - start;
  auto delivered = [&](int64_t n) {
    return WaitFor(
        [&] {
          listen.await_notification(0, 20000);
          return counter.received >= n && doorbell.stats().notifies.load() == n;
        },
        absl::Seconds(5), "the NOTIFYs");
  };
  // The last ring's NOTIFY goes out at most one interval after the last send.
  ASSERT_TRUE(WaitFor([&] { return doorbell.stats().notifies.load() > 0; }, absl::Seconds(5),
                      "a NOTIFY")
                  .ok());
  absl::SleepFor(2 * interval);
  const int64_t sent = doorbell.stats().notifies.load();
  ASSERT_TRUE(delivered(sent).ok()) << counter.received << " of " << sent;
  EXPECT_EQ(doorbell.stats().rings.load(), 1000);
  EXPECT_EQ(doorbell.stats().dropped.load(), 0);
  EXPECT_LE(sent, static_cast<int64_t>(ringing / interval) + 2)
      << "rang for " << absl::FormatDuration(ringing);
  EXPECT_EQ(counter.received, sent);
  std::printf("[figures] doorbell: 1000 rings over %s -> %lld NOTIFYs (interval %s)\n",
              absl::FormatDuration(ringing).c_str(), static_cast<long long>(sent),
              absl::FormatDuration(interval).c_str());
  // Quiet, then one ring: one more NOTIFY. By RingOn: sent at once on the caller's connection.
  absl::SleepFor(2 * interval);
  doorbell.Ring();
  ASSERT_TRUE(delivered(sent + 1).ok());
  EXPECT_EQ(counter.received, sent + 1);
  absl::SleepFor(2 * interval);
  pqxx::connection writer(Env().database_url());
  ASSERT_TRUE(doorbell.RingOn(writer).ok());
  EXPECT_EQ(doorbell.stats().notifies.load(), sent + 2);  // sent before RingOn returned
  ASSERT_TRUE(delivered(sent + 2).ok());
  EXPECT_EQ(counter.last_sender, writer.backendpid());
}

// EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of `statement`, run in `tx`, as one string.
std::string ExplainJson(pqxx::transaction_base& tx, const std::string& statement) {
  std::string plan;
  for (const auto& row : tx.exec("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement)) {
    plan += row[0].as<std::string>();
  }
  return plan;
}

// The number that follows the first `key` (e.g. "\"Execution Time\": ") in EXPLAIN's JSON, as
// text; "" if the key is absent.
std::string PlanNumber(const std::string& explain_json, const std::string& key) {
  size_t at = explain_json.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return explain_json.substr(at, explain_json.find_first_not_of("0123456789.", at) - at);
}

// Buffers (shared hit + read) the whole statement touched, from ExplainJson(): the first "Shared
// Hit/Read Blocks" of the output belong to the top plan node, which counts its children's.
int64_t StatementBuffers(const std::string& explain_json) {
  int64_t total = 0;
  for (const char* key : {"\"Shared Hit Blocks\": ", "\"Shared Read Blocks\": "}) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(PlanNumber(explain_json, key), &n)) return -1;
    total += n;
  }
  return total;
}

// A relay that holds some of the shards reads only those, each in seq order (so every aggregate's
// events in version order), gives every held shard its turn, and its read stays cheap when the
// other shards hold a large backlog: bounded by the rows it returns plus one index probe per held
// shard. (`shard = ANY(held) ORDER BY seq` walks the primary key past the other shards' backlog,
// or sorts the held shards' whole backlog.)
TEST_F(RelayFlowTest, FetchOfSomeShardsReadsOnlyThemInSeqOrderAndStaysCheap) {
  // Another relay's session holds shards 0..31 (and its presence lock): this store gets 32..63.
  pqxx::connection other(Env().database_url());
  {
    pqxx::nontransaction tx(other);
    tx.exec("SELECT pg_advisory_lock(hashtext('quoteflow.outbox-relay.quote'), pg_backend_pid())");
    tx.exec("SELECT pg_advisory_lock(hashtext('quoteflow.outbox.quote'), s) "
            "FROM generate_series(0, 31) AS s");
  }
  // Backlogs: the other shards' first (lower seqs), then this relay's: 20,000 aggregates with 3
  // events each, written version by version, so that seq order is version order per aggregate.
  const std::string pad(400, 'x');
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    auto insert = [&](const std::string& prefix, int version) {
      tx.exec_params(
          "INSERT INTO quote.outbox (event_id, event_type, aggregate_type, aggregate_id, "
          "aggregate_version, quote_id, payload, source, occurred_at) "
          "SELECT $1::text || g || '#' || $2::int, 'QuoteApproved', 'quote', $1::text || g, "
          "$2::int, $1::text || g, $3::text, "
          "'relay-test', now() FROM generate_series(1, 20000) AS g",
          prefix, version, pad);
    };
    insert("other-", 1);
    insert("other-", 2);
    tx.exec("DELETE FROM quote.outbox WHERE shard >= 32");
    for (int v = 1; v <= 3; ++v) insert("mine-", v);
    tx.exec("DELETE FROM quote.outbox WHERE aggregate_id LIKE 'mine-%' AND shard < 32");
    tx.exec("VACUUM ANALYZE quote.outbox");
  }
  int64_t mine = 0, others = 0;
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    mine = tx.exec1("SELECT count(*) FROM quote.outbox WHERE shard >= 32")[0].as<int64_t>();
    others = tx.exec1("SELECT count(*) FROM quote.outbox WHERE shard < 32")[0].as<int64_t>();
  }
  ASSERT_GT(mine, 20000);
  ASSERT_GT(others, 15000);

  PgOutboxStore store({.database_url = Env().database_url(),
                       .schema = "quote",
                       .relay_id = "fetch-test",
                       .shards = 64,
                       .max_per_key = 1000});
  ASSERT_TRUE(store.Connect().ok());
  absl::StatusOr<RebalanceResult> leases = store.Rebalance(0, 0);
  ASSERT_TRUE(leases.ok()) << leases.status();
  EXPECT_EQ(leases->live_relays, 2);
  std::vector<int> held = store.held_shards();
  ASSERT_EQ(held.size(), 32u);
  EXPECT_EQ(held.front(), 32);
  EXPECT_EQ(held.back(), 63);

  // The work of a 16-row read, whatever the 0..31 backlog.
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    const std::string held_array = absl::StrCat("{", absl::StrJoin(held, ","), "}");
    tx.exec(absl::StrCat("PREPARE fetch_some(int[], int, bigint[], text[]) AS ",
                         FetchSomeShardsSql("\"quote\".outbox")));
    const std::string plan =
        ExplainJson(tx, absl::StrCat("EXECUTE fetch_some('", held_array, "', 16, '{}', '{}')"));
    const int64_t buffers = StatementBuffers(plan);
    // The same read as `shard = ANY(held) ORDER BY seq` (before issue 13), for comparison.
    const std::string old_plan = ExplainJson(
        tx, absl::StrCat("SELECT o.* FROM quote.outbox o WHERE o.shard = ANY('", held_array,
                         "'::int[]) AND o.parked_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
                         "quote.outbox p WHERE p.parked_at IS NOT NULL AND p.aggregate_id = "
                         "o.aggregate_id AND p.seq < o.seq) ORDER BY o.seq LIMIT 16"));
    std::printf("[figures] 16-row read of 32 held shards (%lld rows there, %lld in the others): "
                "%lld buffers; `shard = ANY(held) ORDER BY seq`: %lld buffers\n",
                static_cast<long long>(mine), static_cast<long long>(others),
                static_cast<long long>(buffers),
                static_cast<long long>(StatementBuffers(old_plan)));
    ASSERT_GT(buffers, 0) << plan;
    EXPECT_LT(buffers, 1000) << "the read is not bounded by what it returns:\n" << plan;
  }

  // Drain the held shards 16, then 500 rows at a time.
  std::map<int, int64_t> last_seq;           // per shard
  std::map<std::string, int> last_version;   // per aggregate
  std::set<int> shards_of_first_batches;
  int64_t read = 0;
  for (int batch = 0;; ++batch) {
    const int limit = batch < 32 ? 16 : 500;
    int scanned = 0;
    absl::StatusOr<std::vector<OutboxRow>> rows = store.FetchBatch(limit, &scanned);
    ASSERT_TRUE(rows.ok()) << rows.status();
    if (rows->empty()) break;
    ASSERT_LE(static_cast<int>(rows->size()), limit);
    std::vector<int64_t> seqs;
    std::map<int, int64_t> batch_last;  // seq order within each shard of this batch
    for (const OutboxRow& r : *rows) {
      ASSERT_GE(r.shard, 32) << "row " << r.seq << " of a shard this relay does not hold";
      if (batch < 32) shards_of_first_batches.insert(r.shard);
      EXPECT_GT(r.seq, batch_last[r.shard]) << "shard " << r.shard << " out of seq order";
      batch_last[r.shard] = r.seq;
      EXPECT_GT(r.seq, last_seq[r.shard]);
      last_seq[r.shard] = r.seq;
      int& v = last_version[r.aggregate_id];
      EXPECT_EQ(r.aggregate_version, v + 1) << r.aggregate_id;
      v = static_cast<int>(r.aggregate_version);
      seqs.push_back(r.seq);
    }
    read += static_cast<int64_t>(rows->size());
    ASSERT_TRUE(store.DeletePublished(seqs).ok());
  }
  EXPECT_EQ(read, mine);
  // Each full batch starts after the shard where the previous one ended: 32 batches of 16 rows
  // visit all 32 held shards, although each shard has hundreds of rows.
  EXPECT_EQ(shards_of_first_batches.size(), 32u);
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM quote.outbox")[0].as<int64_t>(), others);
  }
  // The gauges, on a connection of their own: the backlog is exact below 100,000 rows (whatever
  // the table statistics say); the held shards are drained, the others are not.
  PgBacklogReader gauges(
      {.database_url = Env().database_url(), .schema = "quote", .relay_id = "fetch-test"});
  absl::StatusOr<BacklogStats> stats = gauges.Read(store.held_shards());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->backlog, others);
  EXPECT_EQ(stats->parked, 0);
  EXPECT_GT(stats->oldest_age_seconds, 0);
  EXPECT_FALSE(stats->held_backlog);
  stats = gauges.Read({0, 1});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->held_backlog);
}

// Rows in backoff count in the backlog and may be the oldest; parked rows are counted apart. A
// relay holding every shard has a backlog when the outbox has one.
TEST_F(RelayFlowTest, BacklogGaugesCountRowsInBackoffAndParkedRowsApart) {
  OutboxRowWriter writer("gauge-kinds");
  int64_t backoff_seq = 0, parked_seq = 0;
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    backoff_seq = writer.Insert(tx, 1, 1);
    parked_seq = writer.Insert(tx, 2, 1);
    writer.Insert(tx, 3, 1);
    tx.exec_params("UPDATE quote.outbox SET created_at = now() - interval '1 hour', retries = 1, "
                   "next_attempt_at = now() + interval '1 hour' WHERE seq = $1",
                   backoff_seq);
    tx.exec_params("UPDATE quote.outbox SET parked_at = now() WHERE seq = $1", parked_seq);
    tx.commit();
  }
  std::vector<int> all(64);
  std::iota(all.begin(), all.end(), 0);
  PgBacklogReader gauges(
      {.database_url = Env().database_url(), .schema = "quote", .relay_id = "gauge-kinds"});
  absl::StatusOr<BacklogStats> stats = gauges.Read(all);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->backlog, 2);
  EXPECT_EQ(stats->parked, 1);
  EXPECT_GT(stats->oldest_age_seconds, 3000);  // the row in backoff
  EXPECT_TRUE(stats->held_backlog);
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec_params("DELETE FROM quote.outbox WHERE seq <> $1", parked_seq);
  }
  stats = gauges.Read(all);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->backlog, 0);
  EXPECT_EQ(stats->parked, 1);
  EXPECT_EQ(stats->oldest_age_seconds, 0);
  EXPECT_FALSE(stats->held_backlog);
}

// The backlog gauges come from a thread and connection of their own ("outbox-relay <id> gauges"),
// which the relay's publishing never waits for, and follow the held shards they are given.
TEST_F(RelayFlowTest, BacklogMonitorReadsTheGaugesOnItsOwnConnection) {
  OutboxRowWriter writer("gauges");
  int held_shard = 0;
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    for (int a = 1; a <= 3; ++a) writer.Insert(tx, a, 1);
    held_shard = tx.exec1("SELECT min(shard) FROM quote.outbox")[0].as<int>();
    tx.commit();
  }
  auto gauge_sessions = [] {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    return tx.exec1("SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'outbox-relay gauges-test gauges'")[0]
        .as<int>();
  };
  std::optional<BacklogStats> last;
  {
    BacklogMonitor monitor(
        {.database_url = Env().database_url(), .schema = "quote", .relay_id = "gauges-test"},
        absl::Milliseconds(50));
    monitor.SetHeldShards({held_shard});
    monitor.Start();
    auto latest = [&] {
      if (std::optional<BacklogStats> s = monitor.TakeLatest()) last = s;
      return last.has_value();
    };
    ASSERT_TRUE(WaitFor([&] { return latest() && last->held_backlog; }, absl::Seconds(10),
                        "gauges of the held shard")
                    .ok());
    EXPECT_EQ(last->backlog, 3);
    EXPECT_EQ(last->parked, 0);
    EXPECT_EQ(gauge_sessions(), 1);
    std::vector<int> empty_shards;
    {
      pqxx::connection c(Env().database_url());
      pqxx::nontransaction tx(c);
      for (const pqxx::row& r : tx.exec("SELECT s FROM generate_series(0, 63) s EXCEPT "
                                        "SELECT shard FROM quote.outbox")) {
        empty_shards.push_back(r[0].as<int>());
      }
    }
    monitor.SetHeldShards(empty_shards);
    EXPECT_TRUE(WaitFor([&] { return latest() && !last->held_backlog; }, absl::Seconds(10),
                        "gauges of shards without rows")
                    .ok());
    monitor.Stop();
  }
  EXPECT_TRUE(
      WaitFor([&] { return gauge_sessions() == 0; }, absl::Seconds(10), "gauges session closed")
          .ok());
}

// The read of rows due for a retry is planned afresh like every read and costs about as much as
// the read of fresh rows; a relay with no row of its own in backoff runs it at once after taking
// shards (their last holder may have left rows in backoff) and then only every
// kRetriesReadInterval. Skipping it never reorders: the later rows of an aggregate with a row in
// backoff are not read either.
TEST_F(RelayFlowTest, RetriesAreReadAfterTakingShardsThenWhilePendingOrNowAndThen) {
  OutboxRowWriter writer("retry");
  int64_t a1 = 0, b1 = 0;
  auto set_due = [](int64_t seq) {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec_params("UPDATE quote.outbox SET retries = 1, next_attempt_at = now() - interval '1s'"
                   " WHERE seq = $1",
                   seq);
  };
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    a1 = writer.Insert(tx, 1, 1);
    writer.Insert(tx, 1, 2);  // behind a1: read after it is delivered
    b1 = writer.Insert(tx, 2, 1);
    tx.commit();
  }
  set_due(a1);  // left in backoff by the shard's last holder, due now
  PgOutboxStore store({.database_url = Env().database_url(),
                       .schema = "quote",
                       .relay_id = "retries-read",
                       .shards = 64});
  ASSERT_TRUE(store.Connect().ok());
  ASSERT_TRUE(store.Rebalance(0, 0).ok());
  auto seqs = [&](bool retries_pending) {
    absl::StatusOr<std::vector<OutboxRow>> rows = store.FetchBatch(16, nullptr, {}, {},
                                                                   retries_pending);
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::vector<int64_t> out;
    if (rows.ok()) {
      for (const OutboxRow& r : *rows) out.push_back(r.seq);
    }
    return out;
  };
  // Just took the shards: the retry is read at once, its aggregate's next row waits behind it.
  EXPECT_EQ(seqs(false), (std::vector<int64_t>{a1, b1}));
  ASSERT_TRUE(store.DeletePublished({b1}).ok());
  set_due(a1);  // failed again, due again
  const absl::Time checked = absl::Now();
  // Looked for retries a moment ago and none pending of its own: not read now, nor a2 behind it.
  EXPECT_EQ(seqs(false), std::vector<int64_t>{});
  // Rows of its own in backoff: looked for on every read.
  EXPECT_EQ(seqs(true), std::vector<int64_t>{a1});
  // And found without any, once the interval has passed.
  std::vector<int64_t> read;
  const absl::Time deadline = absl::Now() + PgOutboxStore::kRetriesReadInterval * 5;
  while ((read = seqs(false)).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(read, std::vector<int64_t>{a1});
  EXPECT_GE(absl::Now() - checked, PgOutboxStore::kRetriesReadInterval);
}

// A relay connected while the outbox was empty (and analyzed so), then a backlog built up faster
// than autovacuum analyzes the table: each read must still be planned for the outbox as it is.
// With the generic plan cached on the empty table, a 1,024-row read of 5,000 rows took 4.2 s
// (nested loops of sequential scans), against about 8 ms planned afresh; the bound below sits
// far from both.
TEST_F(RelayFlowTest, ReadsStayCheapWhenTheBacklogOutgrowsTheStatistics) {
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec("ALTER TABLE quote.outbox SET (autovacuum_enabled = false)");
    tx.exec("ANALYZE quote.outbox");
  }
  PgOutboxStore store({.database_url = Env().database_url(),
                       .schema = "quote",
                       .relay_id = "stale-statistics",
                       .shards = 64});
  ASSERT_TRUE(store.Connect().ok());
  ASSERT_TRUE(store.Rebalance(0, 0).ok());
  ASSERT_EQ(store.held_shards().size(), 64u);
  for (int i = 0; i < 10; ++i) {  // past the executions after which a generic plan is cached
    absl::StatusOr<std::vector<OutboxRow>> none = store.FetchBatch(16);
    ASSERT_TRUE(none.ok() && none->empty());
  }
  constexpr int kAggregates = 3;
  constexpr int kVersions = 1667;
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    OutboxRowWriter writer("stale");
    for (int v = 1; v <= kVersions; ++v) {
      for (int a = 0; a < kAggregates; ++a) writer.Insert(tx, a, v);
    }
    tx.commit();
  }
  int scanned = 0;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<OutboxRow>> rows = store.FetchBatch(1024, &scanned);
  const absl::Duration took = absl::Now() - start;
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec("ALTER TABLE quote.outbox RESET (autovacuum_enabled)");
  }
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), static_cast<size_t>(kAggregates));  // one row per aggregate
  EXPECT_EQ(scanned, 1024);
  std::printf("[figures] stale statistics: 1024-row read of %d rows in %s\n",
              kAggregates * kVersions, absl::FormatDuration(took).c_str());
  EXPECT_LT(took, absl::Seconds(1));
}

// A relay that holds every shard reads a full batch of a large backlog by walking the ready rows
// in seq order, with and without table statistics. Before outbox_ready (0011) the planner guessed
// that 0.5 % of the rows pass `parked_at IS NULL AND next_attempt_at IS NULL`; whenever that was
// below the batch it read and sorted the whole outbox for every batch (Seq Scan + Sort: 0.6 s per
// 5,000-row read of 300,000 rows).
TEST_F(RelayFlowTest, ReadOfAllShardsWalksTheReadyRowsInSeqOrder) {
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec("ALTER TABLE quote.outbox SET (autovacuum_enabled = false)");
    tx.exec(
        "INSERT INTO quote.outbox (event_id, event_type, aggregate_type, aggregate_id, "
        "aggregate_version, quote_id, payload, source, occurred_at) "
        "SELECT 'ready-' || g, 'QuoteApproved', 'quote', 'ready-' || g, 1, 'ready-' || g, "
        "repeat('x', 300), 'relay-test', now() FROM generate_series(1, 60000) AS g");
    tx.exec("ANALYZE quote.outbox");
  }
  pqxx::connection c(Env().database_url());
  pqxx::nontransaction tx(c);
  // The relay's session settings (PgOutboxStore::Connect).
  tx.exec("SET plan_cache_mode = force_custom_plan; SET max_parallel_workers_per_gather = 0");
  tx.exec(absl::StrCat("PREPARE fetch_all(int, bigint[], text[]) AS ",
                       FetchAllShardsSql("\"quote\".outbox")));
  for (const bool analyzed : {true, false}) {
    if (!analyzed) tx.exec("DELETE FROM pg_statistic WHERE starelid = 'quote.outbox'::regclass");
    const std::string plan = ExplainJson(tx, "EXECUTE fetch_all(5000, '{}', '{}')");
    std::printf("[figures] 5000-row read of all shards, 60000 rows, %s: %s ms\n",
                analyzed ? "analyzed" : "no statistics",
                PlanNumber(plan, "\"Execution Time\": ").c_str());
    EXPECT_NE(plan.find("\"Index Name\": \"outbox_ready\""), std::string::npos) << plan;
    EXPECT_EQ(plan.find("\"Seq Scan\""), std::string::npos) << plan;
    EXPECT_EQ(plan.find("\"Sort\""), std::string::npos) << plan;
  }
  tx.exec("ALTER TABLE quote.outbox RESET (autovacuum_enabled)");
}

TEST_F(RelayFlowTest, RefusesInvalidConfiguration) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--kafka-properties=enable.idempotence=false", "--max-in-flight-per-key=2"},
       2,
       "--max-in-flight-per-key=1"},
      {{"--kafka-properties=compression.type=lz4"}, 2, "#4956"},
      {{"--kafka-properties=enable.ssl.certificate.verification=false"}, 2, "certificate"},
      {{"--outbox-schema=Quote"}, 2, "--outbox-schema"},
      {{"--topic-map=quote"}, 2, "--topic-map"},
      {{"--max-batch=0"}, 2, "--max-batch"},
      {{"--outbox-schema=nosuchschema"}, 1, "no outbox table"},
  };
  int n = 0;
  for (const Case& c : cases) {
    std::string id = absl::StrCat("bad-config-", n++);
    auto relay = RelayProcess::Start(
        {.relay_id = id, .topic = "quotes", .extra_args = c.args, .wait_ready = false});
    ASSERT_NE(relay, nullptr);
    absl::StatusOr<int> rc = relay->child().Wait(absl::Now() + absl::Seconds(15));
    ASSERT_TRUE(rc.ok()) << "relay with " << c.args[0] << " did not exit: " << rc.status();
    EXPECT_EQ(*rc, c.exit_code) << c.args[0];
    std::string log = ReadFile(RelayProcess::LogPath(id));
    EXPECT_NE(log.find(c.message), std::string::npos) << c.args[0] << " log: " << log;
  }
}

TEST_F(RelayFlowTest, RefusesUnmigratedDatabase) {
  {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS relay_unmigrated");
    tx.exec("CREATE DATABASE relay_unmigrated");
  }
  std::string url = Env().database_url();
  url = url.substr(0, url.rfind('/')) + "/relay_unmigrated";
  auto relay = RelayProcess::Start(
      {.relay_id = "unmigrated",
       .topic = "quotes",
       .extra_args = {"--database-url=" + url},
       .wait_ready = false});
  ASSERT_NE(relay, nullptr);
  absl::StatusOr<int> rc = relay->child().Wait(absl::Now() + absl::Seconds(15));
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 1);
  std::string log = ReadFile(RelayProcess::LogPath("unmigrated"));
  EXPECT_NE(log.find("quotectl migrate"), std::string::npos) << log;
}

}  // namespace
}  // namespace quoteflow::relay::testing
