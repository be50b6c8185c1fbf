// Helpers for the outbox-relay integration tests: start the real outbox-relay binary as a child
// process, write outbox rows the way services do (one aggregate's events in version order, several
// writers at once with random commit delays), read a topic back from the beginning, and check the
// invariants (none missing, per-key order, duplicates counted). Test-only; one object per thread
// unless noted.
#ifndef QUOTEFLOW_TESTS_RELAY_RELAY_TEST_UTIL_H_
#define QUOTEFLOW_TESTS_RELAY_RELAY_TEST_UTIL_H_

#include <librdkafka/rdkafka.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "platform/kafka/kafka_config.h"
#include "platform/kafka/mock_broker.h"
#include "platform/process/broker_process.h"
#include "platform/process/child_process.h"
#include "tests/support/test_environment.h"

namespace quoteflow::relay::testing {

using ::quoteflow::testing::Env;
using ::quoteflow::testing::WaitFor;

// Integer knob from the environment (e.g. QUOTEFLOW_RELAY_TEST_ROWS), `def` when unset/invalid.
inline int64_t EnvInt(const char* name, int64_t def) {
  const char* v = std::getenv(name);
  int64_t out = 0;
  return v != nullptr && absl::SimpleAtoi(v, &out) && out > 0 ? out : def;
}

// A topic name unique to the running test, created with `partitions` on the run's real Kafka, or on
// `mock` (librdkafka's mock cluster, for the tests that inject request-level faults).
inline std::string CreateTestTopic(int partitions = 12, process::BrokerProcess* mock = nullptr) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string topic = absl::StrCat("relay-", info->name(), "-", absl::ToUnixMicros(absl::Now()));
  for (char& c : topic) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  }
  absl::Status s = mock != nullptr
                       ? mock->Control(absl::StrCat("create-topic ", topic, " ", partitions))
                       : Env().CreateTopics(absl::StrCat(topic, ":", partitions));
  EXPECT_TRUE(s.ok()) << s;
  return topic;
}

inline std::pair<int, int> RelayRegistration(const std::string& relay_id);

// The outbox-relay binary as a child process.
class RelayProcess {
 public:
  struct Options {
    std::string relay_id;
    std::string topic;  // --topic-map=quote=<topic>
    // Empty: the run's real Kafka (Env().bootstrap_servers()).
    std::string bootstrap_servers;
    std::vector<std::string> extra_args;
    std::vector<std::pair<std::string, std::string>> env;
    // Wait until the relay registered with at least one shard; fail fast (with its log) if it exits.
    bool wait_ready = true;
  };

  static std::unique_ptr<RelayProcess> Start(const Options& o) {
    process::ChildProcess::Options co;
    co.path = QUOTEFLOW_RELAY_BIN;
    co.args = {"--database-url=" + Env().database_url(),
               "--outbox-schema=quote",
               "--relay-id=" + o.relay_id,
               "--kafka-bootstrap-servers=" + (o.bootstrap_servers.empty()
                                                    ? Env().bootstrap_servers()
                                                    : o.bootstrap_servers),
               "--topic-map=quote=" + o.topic,
               "--poll-interval=200ms",
               "--lease-interval=200ms",
               "--stats-interval=2s"};
    for (const std::string& a : o.extra_args) co.args.push_back(a);
    co.env = o.env;
    co.stderr_path = LogPath(o.relay_id);
    std::remove(co.stderr_path.c_str());  // a fresh log per start
    absl::StatusOr<std::unique_ptr<process::ChildProcess>> child = process::ChildProcess::Start(co);
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return nullptr;
    auto r = std::unique_ptr<RelayProcess>(new RelayProcess());
    r->child_ = *std::move(child);
    r->id_ = o.relay_id;
    if (o.wait_ready) {
      absl::Status ready = WaitFor(
          [&] { return !r->child_->Running() || RelayRegistration(o.relay_id).second > 0; },
          absl::Seconds(20), "relay holding shards");
      if (!ready.ok() || !r->child_->Running()) {
        ADD_FAILURE() << "relay " << o.relay_id << " not ready (" << ready
                      << "); its log:\n" << ReadLog(o.relay_id);
        return nullptr;
      }
    }
    return r;
  }

  static std::string LogPath(const std::string& relay_id) {
    return absl::StrCat(::testing::TempDir(), "outbox-relay-", getpid(), "-", relay_id, ".log");
  }

  static std::string ReadLog(const std::string& relay_id) {
    std::FILE* f = std::fopen(LogPath(relay_id).c_str(), "r");
    if (f == nullptr) return "";
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    std::fclose(f);
    return out.size() > 4000 ? out.substr(out.size() - 4000) : out;
  }

  const std::string& id() const { return id_; }
  process::ChildProcess& child() { return *child_; }
  void Kill() {
    (void)child_->Signal(SIGKILL);
    (void)child_->Wait(absl::Now() + absl::Seconds(10));
  }
  // SIGTERM and wait; returns the exit status (-N for a signal).
  int Terminate(absl::Duration timeout = absl::Seconds(20)) {
    (void)child_->Signal(SIGTERM);
    absl::StatusOr<int> rc = child_->Wait(absl::Now() + timeout);
    return rc.ok() ? *rc : -999;
  }

 private:
  RelayProcess() = default;
  std::unique_ptr<process::ChildProcess> child_;
  std::string id_;
};

// Writes quote.outbox rows. Event ids are "<prefix>-<aggregate>#<version>".
class OutboxRowWriter {
 public:
  explicit OutboxRowWriter(std::string prefix) : prefix_(std::move(prefix)) {}

  static std::string EventId(const std::string& prefix, int aggregate, int version) {
    return absl::StrCat(prefix, "-a", aggregate, "#", version);
  }
  static std::string AggregateId(const std::string& prefix, int aggregate) {
    return absl::StrCat(prefix, "-a", aggregate);
  }

  // Inserts one row; returns its seq.
  int64_t Insert(pqxx::transaction_base& tx, int aggregate, int version,
                 const std::string& topic = "", size_t payload_size = 0) const {
    std::string agg = AggregateId(prefix_, aggregate);
    std::string id = EventId(prefix_, aggregate, version);
    std::string payload = absl::StrCat("{\"eventID\":\"", id, "\",\"eventType\":\"QuoteApproved\",",
                                       "\"quoteID\":\"", agg, "\",\"aggregateID\":\"", agg,
                                       "\",\"aggregateVersion\":", version, ",\"data\":{\"pad\":\"");
    if (payload.size() < payload_size) payload.append(payload_size - payload.size(), 'x');
    payload += "\"}}";
    pqxx::result r = tx.exec_params(
        "INSERT INTO quote.outbox (event_id, event_type, aggregate_type, aggregate_id, "
        "aggregate_version, quote_id, topic, payload, source, traceparent, occurred_at) VALUES "
        "($1, 'QuoteApproved', 'quote', $2, $3, $2, NULLIF($4, ''), $5, 'relay-test', "
        "'00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', now()) RETURNING seq",
        id, agg, version, topic, payload);
    return r[0][0].as<int64_t>();
  }

 private:
  std::string prefix_;
};

// Runs `writers` threads; writer w owns aggregates a with a % writers == w and commits their
// events in version order; each transaction inserts 1..3 rows for random owned aggregates, then
// waits 0..max_commit_delay before committing (so seq order differs from commit order).
// Writes `total` rows over `aggregates` aggregates. Thread-safe to query progress (written()).
class ConcurrentWriters {
 public:
  ConcurrentWriters(std::string prefix, int writers, int aggregates, int64_t total,
                    absl::Duration max_commit_delay)
      : writer_(prefix),
        prefix_(std::move(prefix)),
        aggregates_(aggregates),
        total_(total),
        max_delay_us_(absl::ToInt64Microseconds(max_commit_delay)),
        versions_(aggregates, 0) {
    for (int w = 0; w < writers; ++w) threads_.emplace_back([this, w, writers] { Run(w, writers); });
  }
  ~ConcurrentWriters() { Join(); }

  void Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t written() const { return written_.load(); }
  const std::string& error() const { return error_; }
  // aggregate index -> highest version written (call after Join()).
  const std::vector<int>& versions() const { return versions_; }
  // Every event id written, after Join().
  std::set<std::string> ExpectedEventIds() const {
    std::set<std::string> ids;
    for (int a = 0; a < aggregates_; ++a) {
      for (int v = 1; v <= versions_[a]; ++v) ids.insert(OutboxRowWriter::EventId(prefix_, a, v));
    }
    return ids;
  }

 private:
  void Run(int w, int writers) {
    std::mt19937_64 rng(w * 7919 + 17);
    try {
      pqxx::connection conn(Env().database_url());
      std::vector<int> owned;
      for (int a = w; a < aggregates_; a += writers) owned.push_back(a);
      if (owned.empty()) return;
      while (true) {
        int n = 1 + static_cast<int>(rng() % 3);
        int64_t start = claimed_.fetch_add(n);
        if (start >= total_) return;
        n = static_cast<int>(std::min<int64_t>(n, total_ - start));
        pqxx::work tx(conn);
        for (int i = 0; i < n; ++i) {
          int a = owned[rng() % owned.size()];
          writer_.Insert(tx, a, ++versions_[a]);  // only this thread touches aggregate a
        }
        if (max_delay_us_ > 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % max_delay_us_));
        }
        tx.commit();
        written_ += n;
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> l(mu_);
      error_ = e.what();
    }
  }

  OutboxRowWriter writer_;
  std::string prefix_;
  int aggregates_;
  int64_t total_;
  int64_t max_delay_us_;
  std::vector<int> versions_;
  std::atomic<int64_t> claimed_{0};
  std::atomic<int64_t> written_{0};
  std::mutex mu_;
  std::string error_;
  std::vector<std::thread> threads_;
};

struct ReadMessage {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string event_id;  // ce_id header
  int version = 0;       // from "#<version>" in the event id
  std::map<std::string, std::string> headers;
};

// Reads one topic from the beginning of every partition (assign, no consumer group), on the run's
// real Kafka or on `bootstrap_servers` (which may be the mock cluster: hence its short fetch wait).
class TopicReader {
 public:
  explicit TopicReader(const std::string& topic, const std::string& bootstrap_servers = "")
      : topic_(topic) {
    kafka::KafkaSettings settings(
        bootstrap_servers.empty() ? Env().bootstrap_servers() : bootstrap_servers,
        {{"enable.partition.eof", "false"}, kafka::MockClusterFetchWait()});
    absl::StatusOr<kafka::ConfPtr> conf =
        settings.Build(kafka::KafkaRole::kConsumer, absl::StrCat("reader-", topic));
    EXPECT_TRUE(conf.ok()) << conf.status();
    if (!conf.ok()) return;
    absl::StatusOr<kafka::HandlePtr> rk = kafka::NewKafkaHandle(RD_KAFKA_CONSUMER, *std::move(conf));
    EXPECT_TRUE(rk.ok()) << rk.status();
    if (!rk.ok()) return;
    rk_ = *std::move(rk);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2name(err);
    int partitions = err == 0 && md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    EXPECT_GT(partitions, 0) << "topic " << topic << " has no partitions";
    kafka::TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk_.get(), list.get());
  }
  ~TopicReader() {
    if (rk_ != nullptr) rd_kafka_consumer_close(rk_.get());
  }

  // Reads what is available for up to `max_wait`.
  void Poll(absl::Duration max_wait) {
    if (rk_ == nullptr) return;
    absl::Time until = absl::Now() + max_wait;
    while (absl::Now() < until) {
      kafka::MessagePtr m(rd_kafka_consumer_poll(rk_.get(), 20));
      if (m == nullptr) continue;
      if (m->err) continue;
      ReadMessage r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); ++i) {
          r.headers[name] = std::string(static_cast<const char*>(val), size);
        }
      }
      r.event_id = r.headers["ce_id"];
      size_t hash = r.event_id.rfind('#');
      if (hash != std::string::npos) (void)absl::SimpleAtoi(r.event_id.substr(hash + 1), &r.version);
      seen_.insert(r.event_id);
      messages_.push_back(std::move(r));
    }
  }

  // Reads until every id of `ids` was seen or `timeout` passed.
  absl::Status WaitForAll(const std::set<std::string>& ids, absl::Duration timeout) {
    return WaitFor(
        [&]() -> absl::Status {
          Poll(absl::Milliseconds(100));
          size_t have = 0;
          for (const std::string& id : ids) have += seen_.count(id);
          if (have == ids.size()) return absl::OkStatus();
          return absl::UnavailableError(absl::StrCat("read ", have, " of ", ids.size(), " events"));
        },
        timeout, "every event on the topic");
  }

  bool Seen(const std::string& id) const { return seen_.count(id) > 0; }
  const std::vector<ReadMessage>& messages() const { return messages_; }

 private:
  std::string topic_;
  kafka::HandlePtr rk_;
  std::vector<ReadMessage> messages_;
  std::set<std::string> seen_;
};

struct Verdict {
  size_t expected = 0;
  size_t missing = 0;
  size_t messages = 0;
  size_t duplicates = 0;  // messages - distinct event ids
  size_t reordered = 0;   // first occurrences of a key that came after a higher version of it
  size_t split_keys = 0;  // keys seen on more than one partition
  std::string first_problem;
  std::string ToString() const {
    return absl::StrCat("expected=", expected, " missing=", missing, " messages=", messages,
                        " duplicates=", duplicates, " reordered=", reordered,
                        " split_keys=", split_keys, first_problem.empty() ? "" : " first: ",
                        first_problem);
  }
};

// Checks what `reader` read against `expected` ids. Order is judged as a consumer with an inbox
// sees it: per key, in partition offset order, skipping event ids already seen, versions must rise.
inline Verdict Verify(const TopicReader& reader, const std::set<std::string>& expected) {
  Verdict v;
  v.expected = expected.size();
  v.messages = reader.messages().size();
  for (const std::string& id : expected) {
    if (!reader.Seen(id)) {
      if (v.first_problem.empty()) v.first_problem = "missing " + id;
      ++v.missing;
    }
  }
  std::vector<const ReadMessage*> sorted;
  for (const ReadMessage& m : reader.messages()) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(), [](const ReadMessage* a, const ReadMessage* b) {
    return std::tie(a->partition, a->offset) < std::tie(b->partition, b->offset);
  });
  std::set<std::string> applied;
  std::map<std::string, int> last_version;
  std::map<std::string, int32_t> partition_of;
  for (const ReadMessage* m : sorted) {
    auto [it, fresh] = partition_of.emplace(m->key, m->partition);
    if (!fresh && it->second != m->partition) ++v.split_keys;
    if (!applied.insert(m->event_id).second) {
      ++v.duplicates;
      continue;
    }
    int& last = last_version[m->key];
    if (m->version <= last) {
      if (v.first_problem.empty()) {
        v.first_problem = absl::StrCat("key ", m->key, " version ", m->version, " after ", last,
                                       " at partition ", m->partition, " offset ", m->offset);
      }
      ++v.reordered;
    }
    last = std::max(last, m->version);
  }
  return v;
}

// Rows left in quote.outbox (-1 when the query fails).
inline int64_t OutboxRows(bool parked_only = false) {
  try {
    pqxx::connection conn(Env().database_url());
    pqxx::nontransaction tx(conn);
    return tx.exec(parked_only ? "SELECT count(*) FROM quote.outbox WHERE parked_at IS NOT NULL"
                               : "SELECT count(*) FROM quote.outbox")[0][0]
        .as<int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

// Shard leases currently granted for the quote outbox, and how many of them `exclude_pid` holds.
inline std::pair<int, int> ShardLeases(int exclude_pid = 0) {
  try {
    pqxx::connection conn(Env().database_url());
    pqxx::nontransaction tx(conn);
    pqxx::row r = tx.exec_params1(
        "SELECT count(*), count(*) FILTER (WHERE pid = $1) FROM pg_locks WHERE locktype = 'advisory' "
        "AND objsubid = 2 AND granted AND classid = hashtext('quoteflow.outbox.quote')::oid",
        exclude_pid);
    return {r[0].as<int>(), r[1].as<int>()};
  } catch (const std::exception&) {
    return {-1, -1};
  }
}

// Backend pid and shard count of a relay from quoteflow_outbox_relays (0, 0 when absent).
inline std::pair<int, int> RelayRegistration(const std::string& relay_id) {
  try {
    pqxx::connection conn(Env().database_url());
    pqxx::nontransaction tx(conn);
    pqxx::result r = tx.exec_params(
        "SELECT backend_pid, cardinality(shards) FROM public.quoteflow_outbox_relays WHERE "
        "schema_name = 'quote' AND relay_id = $1",
        relay_id);
    if (r.empty()) return {0, 0};
    return {r[0][0].as<int>(), r[0][1].as<int>()};
  } catch (const std::exception&) {
    return {0, 0};
  }
}

}  // namespace quoteflow::relay::testing

#endif  // QUOTEFLOW_TESTS_RELAY_RELAY_TEST_UTIL_H_
