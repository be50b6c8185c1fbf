// The chaos suite (issue 7, "Reliability"): each test is one named scenario that starts the real
// system (tests/support/saga_system.h: quote-api, three outbox-relays, three workers) on its own
// topics, drives ApproveQuote load over gRPC with client retries (load.h), injects faults (SIGKILL,
// Postgres immediate stops, broker storms, idle transactions, poison, overload), then checks
// I1-I5 with the ledger checker (ledger.h) and compares the final state with the reference
// computed from the inputs. Each prints its ledger lines and one
//   CHAOS <scenario> PASS|FAIL <counts>
// line (also appended to $QUOTEFLOW_CHAOS_REPORT when set). Sizes: small by default (the ctest
// `chaos` label, a few minutes on 2 cores); QUOTEFLOW_CHAOS_FULL=1 selects the issue's sizes
// (`make chaos`); QUOTEFLOW_CHAOS_SCALE=<float> multiplies the load of either set.
//
// Run one scenario: chaos_test --gtest_filter='Chaos.Baseline'.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/kafka/kafka_config.h"
#include "platform/kafka/mock_broker.h"
#include "platform/local/local_kafka.h"
#include "platform/local/local_postgres.h"
#include "platform/messaging/dlq_admin.h"
#include "platform/postgres/migrations.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/process/broker_process.h"
#include "tests/chaos/ledger.h"
#include "tests/chaos/load.h"
#include "tests/support/net_hosts.h"
#include "tests/support/saga_system.h"
#include "tests/support/test_environment.h"

namespace quoteflow::chaos {
namespace {

using ::quoteflow::testing::Env;
using ::quoteflow::testing::SagaSystem;
using ::quoteflow::testing::SagaSystemOptions;
using ::quoteflow::testing::WaitFor;

bool Full() {
  const char* v = std::getenv("QUOTEFLOW_CHAOS_FULL");
  return v != nullptr && std::string(v) == "1";
}
double Scale() {
  const char* v = std::getenv("QUOTEFLOW_CHAOS_SCALE");
  return v == nullptr ? 1.0 : std::max(0.01, std::atof(v));
}
// A load size: `ci` by default, `full` with QUOTEFLOW_CHAOS_FULL=1, times the scale.
int Load(int ci, int full) { return std::max(1, static_cast<int>((Full() ? full : ci) * Scale())); }
// A fault count or duration: not scaled.
int Pick(int ci, int full) { return Full() ? full : ci; }

void Report(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (const char* path = std::getenv("QUOTEFLOW_CHAOS_REPORT")) {
    std::ofstream out(path, std::ios::app);
    out << line << "\n";
  }
}

int64_t Count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

// The inputs every scenario shares: customers with room, two customers that fill up (their later
// quotes are compensated: policy CANCELLED, quote REJECTED), an unregistered customer, and every
// 13th premium above the underwriting limit (refused by the policy side).
constexpr int kRoomyCustomers = 20;
constexpr int64_t kLimit = 1000000;
std::string CustomerOf(int i) {
  if (i % 29 == 3) return "ghost";
  if (i % 11 == 5) return absl::StrCat("full-", i % 2);
  return absl::StrCat("c", i % kRoomyCustomers);
}
int64_t PremiumOf(int i) { return i % 13 == 7 ? 2 * kLimit : 100 + (i % 1000); }

class Chaos : public ::testing::Test {
 protected:
  void TearDown() override {
    load_thread_stop();
    if (system_ != nullptr) {
      std::vector<std::string> bad = system_->Stop();
      // A process that exited by itself is a finding; report it with the logs.
      EXPECT_TRUE(bad.empty()) << "did not stop cleanly: " << absl::StrJoin(bad, ", ") << "\n"
                               << system_->Logs();
      system_.reset();
    }
  }

  void load_thread_stop() {
    if (load_thread_.joinable()) load_thread_.join();
  }

  // Creates this scenario's topics, resets the database (shared cluster) and starts the system
  // on the run's real Kafka, or on the scenario's own cluster (cluster_bootstrap_; the system may
  // use another of its listeners, options.bootstrap_servers), or on `mock` (librdkafka's mock
  // cluster, for request-level fault injection only).
  void StartSystem(const std::string& scenario, SagaSystemOptions options = {},
                   const std::string& database_url = "", process::BrokerProcess* mock = nullptr) {
    scenario_ = scenario;
    url_ = database_url.empty() ? Env().database_url() : database_url;
    if (database_url.empty()) {
      ASSERT_TRUE(testing::ResetDatabase().ok());
    }
    prefix_ = absl::StrCat(Env().group_prefix(), "chaos-", scenario, "-",
                           absl::ToUnixMillis(absl::Now()) % 1000000, ".");
    // The plaintext address the test itself uses (topics, ledger); the system may be given
    // another listener of the same cluster in options.bootstrap_servers.
    bootstrap_ = mock != nullptr                ? mock->bootstrap_servers()
                 : !cluster_bootstrap_.empty() ? cluster_bootstrap_
                                               : Env().bootstrap_servers();
    ASSERT_FALSE(bootstrap_.empty());
    orchestration_ = options.saga_mode == "orchestration";
    std::vector<std::string> topics = {"quotes", "policies", "customers"};
    if (orchestration_) {
      topics.insert(topics.end(),
                    {"policy-commands", "customer-commands", "quote-commands", "saga-replies"});
    }
    for (const std::string& t : topics) {
      if (mock != nullptr) {
        ASSERT_TRUE(mock->Control(absl::StrCat("create-topic ", prefix_, t, " 4")).ok());
        ASSERT_TRUE(mock->Control(absl::StrCat("create-topic ", prefix_, t, ".dlq 1")).ok());
      } else {
        absl::Status created = kafka::CreateTopics(
            kafka::KafkaSettings(bootstrap_, {}),
            {{absl::StrCat(prefix_, t), 4}, {absl::StrCat(prefix_, t, ".dlq"), 1}});
        ASSERT_TRUE(created.ok()) << created;
      }
    }
    if (options.bootstrap_servers.empty()) options.bootstrap_servers = bootstrap_;
    topics_ = Topics{prefix_ + "quotes",          prefix_ + "policies",
                     prefix_ + "customers",       prefix_ + "policy-commands",
                     prefix_ + "customer-commands", prefix_ + "quote-commands",
                     prefix_ + "saga-replies"};
    options.database_url = url_;
    options.topic_prefix = prefix_;
    options.group_prefix = prefix_;
    options.log_prefix = "chaos-" + scenario;
    // Debug lines cost about one per event (each relay delivery with its partition and offset,
    // each event a worker handles): enough to follow any event of a failed run.
    options.extra_env.emplace_back("QUOTEFLOW_LOG_LEVEL", "debug");
    options.underwriting_limit = kLimit;
    // The scenario's KAFKA_PROPERTIES, in every process's environment: the relays read it, the
    // workers' --kafka-properties below replaces it (so it is repeated there).
    const std::string* scenario_properties = nullptr;
    for (const auto& [name, value] : options.extra_env) {
      if (name == "KAFKA_PROPERTIES") scenario_properties = &value;
    }
    // Short group timings, so that a SIGKILLed worker's partitions move within seconds.
    std::string worker_properties =
        "session.timeout.ms=6000,heartbeat.interval.ms=500,topic.metadata.refresh.interval.ms=1000";
    if (mock != nullptr) {
      const kafka::KafkaProperty fetch_wait = kafka::MockClusterFetchWait();
      absl::StrAppend(&worker_properties, ",", fetch_wait.first, "=", fetch_wait.second);
    }
    if (scenario_properties != nullptr) {
      absl::StrAppend(&worker_properties, ",", *scenario_properties);
    }
    for (const char* w :
         {"policy-worker", "customer-worker", "quote-worker", "saga-orchestrator"}) {
      options.extra_args[w].push_back("--kafka-properties=" + worker_properties);
    }
    system_ = std::make_unique<SagaSystem>(std::move(options));
    absl::Status s = system_->Start();
    ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
    CreateCustomers();
  }

  void CreateCustomers() {
    reference_.underwriting_limit = kLimit;
    for (int c = 0; c < kRoomyCustomers; ++c) AddCustomer(absl::StrCat("c", c), 100000);
    AddCustomer("full-0", 2);
    AddCustomer("full-1", 3);
    reference_.max_policies["ghost"] = 0;
  }

  void AddCustomer(const std::string& id, int64_t max) {
    v1::CreateCustomerRequest req;
    req.set_customer_id(id);
    req.set_name("Customer " + id);
    req.set_max_policies(max);
    req.set_request_id("create-" + id);
    absl::Status s = WaitFor(
        [&] {
          v1::Customer out;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          return system_->customers().CreateCustomer(&ctx, req, &out).ok();
        },
        absl::Seconds(30), "CreateCustomer " + id);
    ASSERT_TRUE(s.ok()) << s;
    reference_.max_policies[id] = max;
  }

  LoadOptions Options(int quotes, int concurrency) {
    return LoadOptions{.run_id = prefix_,
                       .quotes = quotes,
                       .concurrency = concurrency,
                       .customer_of = CustomerOf,
                       .premium_of = PremiumOf};
  }

  // Paces `o` so that the load lasts about `duration` (faults must land during the load).
  static void SpreadOver(LoadOptions& o, absl::Duration duration) {
    o.pace = duration * o.concurrency / std::max(1, o.quotes);
  }

  // Runs the load on a background thread (faults are injected from the test thread: children
  // are tied to the thread that started them).
  void StartLoad(LoadOptions options) {
    driver_ = std::make_unique<LoadDriver>(system_->quotes(), std::move(options));
    load_thread_ = std::thread([this] { load_ = driver_->Run(); });
  }
  LoadResult& FinishLoad() {
    load_thread_stop();
    return load_;
  }

  // Waits until nothing moves any more: outboxes empty (parked rows aside), no quote APPROVED.
  absl::Status WaitQuiet(absl::Duration timeout) {
    return WaitFor(
        [&]() -> absl::Status {
          try {
            const int64_t pending =
                Count(url_,
                      "SELECT (SELECT count(*) FROM quote.outbox WHERE parked_at IS NULL)"
                      " + (SELECT count(*) FROM policy.outbox WHERE parked_at IS NULL)"
                      " + (SELECT count(*) FROM customer.outbox WHERE parked_at IS NULL)"
                      " + (SELECT count(*) FROM saga.outbox WHERE parked_at IS NULL)");
            const int64_t open =
                Count(url_,
                      "SELECT (SELECT count(*) FROM quote.quotes WHERE status = 'APPROVED')"
                      " + (SELECT count(*) FROM saga.sagas"
                      "    WHERE state NOT IN ('COMPLETED', 'COMPENSATED'))");
            if (pending == 0 && open == 0) return absl::OkStatus();
            return absl::UnavailableError(
                absl::StrCat(pending, " outbox rows pending, ", open, " quotes APPROVED"));
          } catch (const std::exception& e) {
            return absl::UnavailableError(e.what());
          }
        },
        timeout, "outboxes empty and every saga settled");
  }

  // Checks the ledger until it holds (the last consumers may still be applying the final events)
  // or `timeout` passes; prints and records it; returns it.
  LedgerReport CheckUntilHolds(absl::Duration timeout, LedgerOptions extra = {}) {
    LedgerOptions options = std::move(extra);
    options.database_url = url_;
    options.bootstrap_servers = bootstrap_;
    options.topics = topics_;
    options.orchestration = orchestration_;
    if (options.reference == nullptr) options.reference = &reference_;
    LedgerReport report;
    absl::Status s = WaitFor(
        [&]() -> absl::Status {
          absl::StatusOr<LedgerReport> r = CheckLedger(options, load_.approvals);
          if (!r.ok()) return r.status();
          report = *r;
          return report.ok() ? absl::OkStatus() : absl::FailedPreconditionError(report.ToString());
        },
        timeout, "the ledger to hold");
    if (report.lines.empty()) ADD_FAILURE() << "ledger could not be read: " << s;
    std::printf("%s", report.ToString().c_str());
    return report;
  }

  // The scenario's CHAOS line; `ok` adds the scenario's own checks to the ledger's verdict. Every
  // judged figure is asserted too, so that ctest fails whenever the line says FAIL: the ledger, the
  // scenario's checks, and a load with nothing given up and no unexpected reply.
  void Verdict(const LedgerReport& report, bool ok, const std::string& extra) {
    EXPECT_TRUE(ok) << "the scenario's own checks failed: " << extra;
    EXPECT_EQ(load_.given_up, 0) << load_.ToString();
    EXPECT_EQ(load_.unexpected, 0) << load_.ToString();
    const bool pass = ok && report.ok() && !::testing::Test::HasFailure();
    std::string lines;
    for (const InvariantLine& l : report.lines) {
      absl::StrAppend(&lines, "  ", l.name, " ", l.ok ? "PASS" : "FAIL", " ", l.counts, "\n");
    }
    Report(absl::StrCat("CHAOS ", scenario_, " ", pass ? "PASS" : "FAIL", " ", report.Summary(),
                        " | ", extra, " | load: ", load_.ToString()));
    if (const char* path = std::getenv("QUOTEFLOW_CHAOS_REPORT")) {
      std::ofstream out(path, std::ios::app);
      out << lines;
    }
    EXPECT_TRUE(report.ok()) << report.ToString() << "\n"
                             << DeliveriesOfLostEvents(report) << system_->Logs();
  }

  // The relays' delivery lines of `event_id` (each relay logs every delivery at debug level, with
  // its topic, partition and offset), one per line.
  std::string DeliveriesOf(const std::string& event_id) const {
    const std::string event = absl::StrCat("\"event_id\":\"", event_id, "\"");
    std::string lines;
    for (const std::string& name : system_->Names()) {
      if (!absl::StartsWith(name, "relay-")) continue;
      const std::string log = testing::FileTail(system_->LogPath(name), 1 << 24);
      for (absl::string_view line : absl::StrSplit(log, '\n')) {
        if (absl::StrContains(line, "\"msg\":\"delivered\"") && absl::StrContains(line, event)) {
          absl::StrAppend(&lines, "    ", name, ": ", line, "\n");
        }
      }
    }
    return lines;
  }

  // For each example of a failed I2, where its relay had it acknowledged: that tells an event
  // Kafka lost after acknowledging it from one never acknowledged. Then what the brokers logged
  // about those partitions (BrokerLinesAbout).
  std::string DeliveriesOfLostEvents(const LedgerReport& report) const {
    std::string out;
    std::set<std::string> partitions;  // "<topic>-<partition>"
    for (const InvariantLine& l : report.lines) {
      if (l.ok || !absl::StartsWith(l.name, "I2")) continue;
      for (const std::string& id : l.examples) {
        const std::string lines = DeliveriesOf(id);
        absl::StrAppend(&out, "  ", id, lines.empty() ? ": no delivery report\n" : ":\n", lines);
        for (absl::string_view line : absl::StrSplit(lines, '\n', absl::SkipEmpty())) {
          partitions.insert(absl::StrCat(JsonField(line, "topic"), "-",
                                         JsonField(line, "partition")));
        }
      }
    }
    if (out.empty()) return out;
    return absl::StrCat("deliveries of the lost events:\n", out, BrokerLinesAbout(partitions));
  }

  // The brokers' log lines about these partitions; a scenario on a cluster of its own has them.
  virtual std::string BrokerLinesAbout(const std::set<std::string>& /*partitions*/) const {
    return "";
  }

  // The value of `"key":` in a JSON log line, without quotes ("" when absent).
  static std::string JsonField(absl::string_view line, absl::string_view key) {
    const std::string k = absl::StrCat("\"", key, "\":");
    const size_t at = line.find(k);
    if (at == absl::string_view::npos) return "";
    absl::string_view v = line.substr(at + k.size());
    v = v.substr(0, v.find_first_of(",}"));
    absl::ConsumePrefix(&v, "\"");
    absl::ConsumeSuffix(&v, "\"");
    return std::string(v);
  }

  void ExpectAllRunning() {
    std::vector<std::string> dead = system_->Dead();
    EXPECT_TRUE(dead.empty()) << absl::StrJoin(dead, ", ") << " died\n" << system_->Logs();
  }

  std::string scenario_, prefix_, url_, bootstrap_;
  std::string cluster_bootstrap_;  // a scenario's own cluster (BrokerChaos); "": the run's Kafka
  bool orchestration_ = false;     // the saga runs by orchestration (saga-orchestrator)
  Topics topics_;
  Reference reference_;
  std::unique_ptr<SagaSystem> system_;
  std::unique_ptr<LoadDriver> driver_;
  std::thread load_thread_;
  LoadResult load_;
};

// 1. Baseline: no fault. All sagas complete and I1-I5 hold.
TEST_F(Chaos, Baseline) {
  StartSystem("baseline");
  if (HasFatalFailure()) return;
  StartLoad(Options(Load(400, 10000), 16));
  FinishLoad();
  EXPECT_EQ(load_.given_up, 0);
  EXPECT_EQ(load_.unexpected, 0);
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(60, 300))).ok()) << system_->Logs();
  LedgerReport r = CheckUntilHolds(absl::Seconds(30));
  Verdict(r, load_.given_up == 0, absl::StrCat("faults=none concurrency=16"));
}

// 2. Retries: each ApproveQuote request id sent 8 times at once: one state change and one event.
TEST_F(Chaos, ConcurrentRetriesOfOneRequest) {
  StartSystem("retries");
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(150, 1000), 8);
  o.sends_per_approve = 8;
  StartLoad(o);
  FinishLoad();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(60, 300))).ok()) << system_->Logs();
  LedgerReport r = CheckUntilHolds(absl::Seconds(30));
  // One QuoteApproved event id per quote on the wire, one approve record, version bumped once.
  absl::StatusOr<std::vector<WireRecord>> wire =
      ReadTopic(bootstrap_, topics_.quotes);
  ASSERT_TRUE(wire.ok()) << wire.status();
  std::map<std::string, std::set<std::string>> approved_ids;
  for (const WireRecord& w : *wire) {
    if (w.type == "QuoteApproved") approved_ids[w.aggregate_id].insert(w.event_id);
  }
  int64_t multi = 0, replies_differ = 0;
  for (const auto& [q, ids] : approved_ids) multi += ids.size() > 1;
  for (const Approval& a : load_.approvals) replies_differ += a.event_ids_seen.size() > 1;
  const int64_t requests =
      Count(url_, "SELECT count(*) FROM quote.requests WHERE operation = 'approve'");
  EXPECT_EQ(multi, 0);
  EXPECT_EQ(replies_differ, 0);
  EXPECT_EQ(requests, static_cast<int64_t>(load_.approvals.size()));
  EXPECT_EQ(approved_ids.size(), load_.approvals.size());
  Verdict(r, multi == 0 && replies_differ == 0,
          absl::StrCat("sends-per-request=8 request-ids=", load_.approvals.size(),
                       " approve-records=", requests, " quotes-with-approved-events=",
                       approved_ids.size(), " quotes-with-several-approved-events=", multi,
                       " requests-with-differing-replies=", replies_differ));
}

// 3. Postgres `stop -m immediate` + restart, N times under load, on a durable cluster:
// 0 acknowledged-but-lost. `negative_control` runs synchronous_commit=off instead, where the
// checker must catch loss (see FreezeWalWriter for how the loss is made certain).
class PostgresChaos : public Chaos {
 protected:
  void Run(bool negative_control) {
    LocalPostgres::Options pg{.durable = true};
    if (negative_control) {
      // Commits return before their WAL is written; only the WAL writer writes it (frozen below).
      // Nothing else may write WAL out meanwhile: the buffers hold far more than the load writes,
      // and no checkpoint, autovacuum or background writer runs (each would flush WAL first).
      pg.settings = {{"synchronous_commit", "off"},   {"wal_buffers", "64MB"},
                     {"wal_writer_delay", "10000ms"}, {"autovacuum", "off"},
                     {"bgwriter_lru_maxpages", "0"},  {"checkpoint_timeout", "1h"},
                     {"max_wal_size", "4GB"}};
    }
    absl::StatusOr<std::unique_ptr<LocalPostgres>> started = LocalPostgres::Start(pg);
    ASSERT_TRUE(started.ok()) << started.status();
    postgres_ = std::move(*started);
    ASSERT_TRUE(ApplyMigrations(postgres_->database_url()).ok());
    StartSystem(negative_control ? "pg-crash-sync-commit-off" : "pg-crash", {},
                postgres_->database_url());
    if (HasFatalFailure()) return;
    const int crashes = negative_control ? 1 : Pick(3, 5);
    LoadOptions o = Options(Load(800, 5000), 16);
    o.give_up_after = absl::Seconds(90);
    SpreadOver(o, absl::Seconds(Pick(15, 60)));
    StartLoad(o);
    int done = 0;
    int64_t acked_while_frozen = 0;
    for (int k = 0; k < crashes; ++k) {
      // Crash while ApproveQuotes are being acknowledged.
      const int64_t before = driver_->approved();
      absl::Status progressing =
          WaitFor([&] { return driver_->approved() >= before + o.quotes / (crashes + 2); },
                  absl::Seconds(60), "approvals between crashes");
      // A scenario that stops injecting must not pass with fewer crashes than it claims.
      ASSERT_TRUE(progressing.ok()) << progressing << " (after " << done << " of " << crashes
                                    << " crashes)\n"
                                    << system_->Logs();
      if (negative_control) {
        const pid_t wal_writer = FreezeWalWriter();
        ASSERT_GT(wal_writer, 0) << "no walwriter process found";
        const int64_t frozen_at = driver_->approved();
        absl::Status acked = WaitFor([&] { return driver_->approved() >= frozen_at + 20; },
                                     absl::Seconds(30), "approvals acknowledged after the freeze");
        acked_while_frozen += driver_->approved() - frozen_at;
        kill(wal_writer, SIGKILL);  // its WAL buffers die with the cluster, never written
        ASSERT_TRUE(acked.ok()) << acked;
      }
      ASSERT_TRUE(postgres_->Stop(LocalPostgres::Mode::kImmediate).ok());
      absl::SleepFor(absl::Milliseconds(500));  // the outage itself (a fault, not a wait)
      absl::Status back = postgres_->Restart();
      ASSERT_TRUE(back.ok()) << back;
      ++done;
    }
    FinishLoad();
    ExpectAllRunning();
    if (negative_control) {
      // Settle what survived, then the checker must find acknowledged approvals that are gone.
      (void)WaitQuiet(absl::Seconds(20));  // what was lost never settles
      LedgerOptions lo;
      lo.database_url = url_;
      lo.bootstrap_servers = bootstrap_;
      lo.topics = topics_;
      absl::StatusOr<LedgerReport> r = CheckLedger(lo, load_.approvals);
      ASSERT_TRUE(r.ok()) << r.status();
      std::printf("%s", r->ToString().c_str());
      const bool caught = !r->ok() && r->totals.at("lost") > 0;
      Report(absl::StrCat("CHAOS ", scenario_, " ", caught ? "PASS" : "FAIL",
                          " (negative control: the checker must report loss) ", r->Summary(),
                          " | faults=pg-immediate-stop x", done,
                          " synchronous_commit=off, WAL writer frozen while ", acked_while_frozen,
                          " approvals were acknowledged | load: ", load_.ToString()));
      EXPECT_TRUE(caught) << "synchronous_commit=off + immediate stops lost nothing?\n"
                          << r->ToString();
      return;
    }
    ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(90, 300))).ok()) << system_->Logs();
    LedgerReport r = CheckUntilHolds(absl::Seconds(30));
    Verdict(r, done == crashes,
            absl::StrCat("faults=pg-immediate-stop+restart x", done, " durable=true"));
  }

  // Stops (SIGSTOP) the cluster's WAL writer and returns its pid, or -1. With synchronous_commit
  // off, the WAL of every commit acknowledged from then on stays in Postgres' shared buffers: an
  // immediate stop discards it, so those acknowledged commits are certainly lost. (Without the
  // freeze, the WAL writer hands most of it to the OS page cache, which outlives a Postgres crash,
  // and whether anything is lost is a matter of timing.)
  pid_t FreezeWalWriter() {
    const int64_t pid = Count(
        url_,
        "SELECT coalesce(max(pid), -1) FROM pg_stat_activity WHERE backend_type = 'walwriter'");
    if (pid <= 0 || kill(static_cast<pid_t>(pid), SIGSTOP) != 0) return -1;
    return static_cast<pid_t>(pid);
  }

  void TearDown() override {
    Chaos::TearDown();
    postgres_.reset();
  }

  std::unique_ptr<LocalPostgres> postgres_;
};

TEST_F(PostgresChaos, ImmediateStopLosesNothingAcknowledged) { Run(false); }
TEST_F(PostgresChaos, NegativeControlSynchronousCommitOffIsCaught) { Run(true); }

// Kills `names` in turn, `rounds` times each, restarting each at once, while the load runs.
int KillRounds(SagaSystem& system, LoadDriver& driver, const std::vector<std::string>& names,
               int rounds, int quotes) {
  int kills = 0;
  const int total = rounds * static_cast<int>(names.size());
  for (int k = 0; k < total; ++k) {
    const int64_t before = driver.approved();
    // Spread the kills over the load: wait for a share of it (or a moment when it is stuck).
    (void)WaitFor([&] { return driver.approved() >= before + quotes / (total + 2); },
                  absl::Seconds(5), "some approvals between kills");
    const std::string& name = names[k % names.size()];
    EXPECT_TRUE(system.Kill(name).ok()) << name;
    absl::Status s = system.Restart(name);
    EXPECT_TRUE(s.ok()) << name << ": " << s;
    ++kills;
  }
  return kills;
}

// 4. SIGKILL of quote-api N times under load: every quote approved iff its outbox row exists or
// was published (ledger I1), nothing acknowledged is lost.
TEST_F(Chaos, QuoteApiSigkill) {
  StartSystem("sigkill-quote-api");
  if (HasFatalFailure()) return;
  const int quotes = Load(600, 5000);
  LoadOptions o = Options(quotes, 16);
  SpreadOver(o, absl::Seconds(Pick(10, 60)));
  StartLoad(o);
  const int kills = KillRounds(*system_, *driver_, {"quote-api"}, Pick(4, 10), quotes);
  FinishLoad();
  ExpectAllRunning();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(60, 300))).ok()) << system_->Logs();
  LedgerReport r = CheckUntilHolds(absl::Seconds(30));
  Verdict(r, load_.given_up == 0, absl::StrCat("faults=SIGKILL quote-api x", kills));
}

// 5. SIGKILL of each relay and each worker N times under load: 0 missing, 0 double-applied,
// compensations emitted exactly once, and the final state equals the reference computed from the
// inputs (the run without kills): over-limit premiums REJECTED, unregistered customer REJECTED,
// each customer ISSUED exactly min(max, eligible quotes), counts equal to ACTIVE policies.
TEST_F(Chaos, RelayAndWorkerSigkill) {
  StartSystem("sigkill-relays-workers");
  if (HasFatalFailure()) return;
  const int quotes = Load(500, 5000);
  LoadOptions o = Options(quotes, 16);
  SpreadOver(o, absl::Seconds(Pick(15, 120)));
  StartLoad(o);
  const std::vector<std::string> names = {"relay-quote",     "policy-worker",  "relay-policy",
                                          "customer-worker", "relay-customer", "quote-worker"};
  const int kills = KillRounds(*system_, *driver_, names, Pick(2, 10), quotes);
  FinishLoad();
  ExpectAllRunning();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(90, 300))).ok()) << system_->Logs();
  LedgerReport r = CheckUntilHolds(absl::Seconds(60));
  Verdict(r, load_.given_up == 0,
          absl::StrCat("faults=SIGKILL x", kills, " (", absl::StrJoin(names, ","), " in turn)"));
}

// 5b. The same by orchestration: saga-orchestrator, the saga schema's relay and every participant
// SIGKILLed in turn under load. Every saga ends COMPLETED or COMPENSATED, every command its
// history sent and the reply of every command applied are on the wire, each applied exactly once,
// and the final state equals the reference.
TEST_F(Chaos, OrchestrationSigkill) {
  StartSystem("orchestration-sigkill", {.saga_mode = "orchestration"});
  if (HasFatalFailure()) return;
  const int quotes = Load(400, 3000);
  LoadOptions o = Options(quotes, 16);
  SpreadOver(o, absl::Seconds(Pick(15, 120)));
  StartLoad(o);
  const std::vector<std::string> names = {"saga-orchestrator", "relay-saga",     "policy-worker",
                                          "relay-policy",      "customer-worker", "quote-worker"};
  const int kills = KillRounds(*system_, *driver_, names, Pick(1, 5), quotes);
  FinishLoad();
  ExpectAllRunning();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(120, 400))).ok()) << system_->Logs();
  LedgerReport r = CheckUntilHolds(absl::Seconds(60));
  Verdict(r, load_.given_up == 0,
          absl::StrCat("faults=SIGKILL x", kills, " (", absl::StrJoin(names, ","), " in turn)"));
}

// 6. Broker storms: injected produce errors, delayed acks, leader moves, all brokers down for a
// while. ApproveQuote keeps succeeding throughout, the backlog drains within 30 s of recovery,
// nothing is lost. Request-level fault injection that a real broker cannot do: this scenario runs
// on librdkafka's mock cluster (Env().mock_broker()); broker crashes, pauses and outages on a real
// 3-node cluster are the BrokerChaos scenarios below.
TEST_F(Chaos, BrokerStorms) {
  process::BrokerProcess* broker = Env().mock_broker();
  ASSERT_NE(broker, nullptr);
  StartSystem("broker-storms", {}, "", broker);
  if (HasFatalFailure()) return;
  const absl::Duration down = absl::Seconds(Pick(8, 60));
  // The load runs as long as the storm: 4 clients, one quote per 40 ms each, until `stop`.
  std::atomic<bool> stop{false};
  LoadOptions o = Options(Load(4000, 20000), 4);
  o.give_up_after = absl::Seconds(30);
  o.pace = absl::Milliseconds(40);
  o.stop = &stop;
  StartLoad(o);
  std::vector<std::string> phases;
  bool kept_succeeding = true;
  auto phase = [&](const std::string& name, const std::vector<std::string>& on,
                   const std::vector<std::string>& off, absl::Duration length) {
    const int64_t ok_before = driver_->ok_replies();
    for (const std::string& c : on) EXPECT_TRUE(broker->Control(c).ok()) << c;
    absl::SleepFor(length);  // the fault's duration
    const int64_t ok_during = driver_->ok_replies() - ok_before;
    for (const std::string& c : off) EXPECT_TRUE(broker->Control(c).ok()) << c;
    if (ok_during == 0) kept_succeeding = false;
    phases.push_back(absl::StrCat(name, ":ok-approvals-during=", ok_during));
  };
  const std::string q = topics_.quotes, p = topics_.policies, c = topics_.customers;
  phase("produce-errors", {"errors Produce 20 NOT_LEADER_FOR_PARTITION"}, {"clear-errors Produce"},
        absl::Seconds(2));
  phase("delayed-acks", {"rtt -1 500"}, {"rtt -1 0"}, absl::Seconds(Pick(3, 10)));
  phase("leader-moves",
        {absl::StrCat("leader ", q, " 0 2"), absl::StrCat("leader ", p, " 1 3"),
         absl::StrCat("leader ", c, " 2 1")},
        {}, absl::Seconds(2));
  phase("fetch-errors", {"errors Fetch 10 NOT_LEADER_FOR_PARTITION"}, {"clear-errors Fetch"},
        absl::Seconds(2));
  phase("brokers-down", {"broker-down -1"}, {}, down);
  const absl::Time recovered = absl::Now();
  EXPECT_TRUE(broker->Control("broker-up -1").ok());
  absl::SleepFor(absl::Seconds(2));
  stop = true;
  FinishLoad();
  absl::Status drained = WaitQuiet(absl::Seconds(30) + (absl::Now() - recovered));
  const absl::Duration drain_time = absl::Now() - recovered;
  EXPECT_TRUE(drained.ok()) << drained << "\n" << system_->Logs();
  EXPECT_TRUE(kept_succeeding) << absl::StrJoin(phases, " ");
  ExpectAllRunning();
  LedgerReport r = CheckUntilHolds(absl::Seconds(30));
  Verdict(r, kept_succeeding && drained.ok(),
          absl::StrCat("faults=", absl::StrJoin(phases, ","), " down=", absl::FormatDuration(down),
                       " drained-after-recovery=",
                       absl::FormatDuration(absl::Trunc(drain_time, absl::Milliseconds(100)))));
}

// 7. A session left idle in a transaction holding row locks on the outbox: the server cuts it
// (idle_in_transaction_session_timeout) and the relay publishes the rows it held.
TEST_F(Chaos, IdleInTransactionSessionIsCutAndRelayRecovers) {
  StartSystem("idle-in-transaction");
  if (HasFatalFailure()) return;
  // Rows accumulate while the quote relay is down.
  ASSERT_TRUE(system_->Kill("relay-quote").ok());
  StartLoad(Options(Load(100, 1000), 8));
  FinishLoad();
  const int64_t held = Count(url_, "SELECT count(*) FROM quote.outbox");
  ASSERT_GT(held, 0);
  pqxx::connection idle(url_);
  const int idle_pid = idle.backendpid();
  pqxx::work tx(idle);
  tx.exec("SET LOCAL idle_in_transaction_session_timeout = '3s'");
  tx.exec("SELECT txid_current()");
  const int64_t locked = tx.exec("SELECT seq FROM quote.outbox FOR UPDATE").size();
  const absl::Time left_idle = absl::Now();
  ASSERT_TRUE(system_->Restart("relay-quote").ok());
  // The server ends the idle session; the relay then publishes everything.
  absl::Status cut = WaitFor(
      [&] {
        return Count(url_, absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE pid = ",
                                        idle_pid)) == 0;
      },
      absl::Seconds(30), "the idle session to be terminated");
  const absl::Duration cut_after = absl::Now() - left_idle;
  bool statement_failed = false;
  try {
    tx.exec("SELECT 1");
  } catch (const std::exception&) {
    statement_failed = true;  // the session is gone
  }
  EXPECT_TRUE(cut.ok()) << cut;
  EXPECT_TRUE(statement_failed);
  absl::Status quiet = WaitQuiet(absl::Seconds(30));
  const absl::Duration recovered_after = absl::Now() - left_idle;
  EXPECT_TRUE(quiet.ok()) << quiet << "\n" << system_->Logs();
  ExpectAllRunning();
  LedgerReport r = CheckUntilHolds(absl::Seconds(30));
  Verdict(
      r, cut.ok() && statement_failed && quiet.ok(),
      absl::StrCat("faults=idle-in-transaction session holding ", locked,
                   " outbox rows locked (timeout 3s) cut-after=",
                   absl::FormatDuration(absl::Trunc(cut_after, absl::Milliseconds(100))),
                   " outbox-drained-after=",
                   absl::FormatDuration(absl::Trunc(recovered_after, absl::Milliseconds(100)))));
}

// 8. Poison events (a QuoteRejected for an unknown quote; a PolicyCancelled naming no customer)
// and an oversized outbox payload: each dead-lettered / parked exactly once with a reason, while
// other keys keep flowing: their sagas complete within 10 s of the load's end.
TEST_F(Chaos, PoisonAndOversizedPayload) {
  StartSystem("poison");
  if (HasFatalFailure()) return;
  // Warm up first (consumer groups joined, every stage has run once), so that the 10 s bound
  // below measures the poison's effect and not the groups' first join.
  LoadOptions warm_options = Options(20, 4);
  warm_options.run_id = prefix_ + "warm";
  LoadResult warm = LoadDriver(system_->quotes(), warm_options).Run();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(60)).ok()) << system_->Logs();
  const int poison = Pick(3, 20);
  std::set<std::string> foreign;
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    const absl::Time now = absl::Now();
    for (int k = 0; k < poison; ++k) {
      const std::string q = absl::StrCat("q-poison-", k);
      InsertOutboxRow(tx, {.schema = "quote", .source = "/quoteflow/chaos"},
                      DomainEvent{.event_id = q + "/rejected",
                                  .aggregate_id = q,
                                  .quote_id = q,
                                  .aggregate_version = 3,
                                  .occurred_at = now,
                                  .payload = QuoteRejected{.customer_id = "c", .reason = "r"}});
      const std::string pol = "pol-" + q;
      InsertOutboxRow(tx, {.schema = "policy", .source = "/quoteflow/chaos"},
                      DomainEvent{.event_id = pol + "/cancelled",
                                  .aggregate_id = pol,
                                  .quote_id = q,
                                  .aggregate_version = 2,
                                  .occurred_at = now,
                                  .payload = PolicyCancelled{
                                      .policy_id = pol, .customer_id = "", .reason = "poison"}});
      foreign.insert(q + "/rejected");
      foreign.insert(pol + "/cancelled");
    }
    // 2 MiB: above the producer's message.max.bytes, so the broker path refuses it for good.
    InsertOutboxRow(tx, {.schema = "quote", .source = "/quoteflow/chaos"},
                    DomainEvent{.event_id = "q-huge/rejected",
                                .aggregate_id = "q-huge",
                                .quote_id = "q-huge",
                                .aggregate_version = 3,
                                .occurred_at = now,
                                .payload = QuoteRejected{.customer_id = "c",
                                                         .reason = std::string(2 << 20, 'x')}});
    foreign.insert("q-huge/rejected");
    tx.commit();
  }
  // Paced below the saga throughput (about 100/s at full size), so that the 10 s bound measures
  // whether the poison holds other keys back, not how long a flat-out backlog takes to drain.
  LoadOptions o = Options(Load(300, 3000), 16);
  SpreadOver(o, absl::Seconds(Pick(5, 30)));
  StartLoad(o);
  FinishLoad();
  const absl::Time load_end = absl::Now();
  load_.approvals.insert(load_.approvals.end(), warm.approvals.begin(), warm.approvals.end());
  absl::Status quiet = WaitQuiet(absl::Seconds(10));
  const absl::Duration lag_zero_after = absl::Now() - load_end;
  EXPECT_TRUE(quiet.ok()) << quiet << "\n" << system_->Logs();
  // Dead-lettered once each, with a reason.
  kafka::KafkaSettings kafka(bootstrap_, {});
  std::map<std::string, int> dlq_count;
  std::map<std::string, std::string> reasons;
  absl::Status dead = WaitFor(
      [&]() -> absl::Status {
        dlq_count.clear();
        for (const std::string& t : {topics_.quotes + ".dlq", topics_.policies + ".dlq"}) {
          absl::StatusOr<std::vector<messaging::DlqRecord>> read = messaging::ReadDlq(kafka, t, {});
          if (!read.ok()) return read.status();
          for (const messaging::DlqRecord& d : *read) {
            ++dlq_count[d.key];
            reasons[d.key] = d.reason;
          }
        }
        if (static_cast<int>(dlq_count.size()) >= 2 * poison) return absl::OkStatus();
        return absl::NotFoundError(absl::StrCat(dlq_count.size(), " keys dead-lettered"));
      },
      absl::Seconds(60), "every poison event on a DLQ");
  EXPECT_TRUE(dead.ok()) << dead << "\n" << system_->Logs();
  int dead_once = 0, dead_twice = 0, no_reason = 0;
  for (const auto& [key, n] : dlq_count) {
    if (n == 1) ++dead_once;
    if (n > 1) ++dead_twice;
    if (reasons[key].empty()) ++no_reason;
  }
  // Parked once, with the broker's reason.
  absl::Status parked = WaitFor(
      [&] {
        return Count(url_,
                     "SELECT count(*) FROM quote.outbox WHERE event_id = 'q-huge/rejected'"
                     " AND parked_at IS NOT NULL AND coalesce(last_error, '') <> ''") == 1;
      },
      absl::Seconds(60), "the oversized row to be parked with its reason");
  EXPECT_TRUE(parked.ok()) << parked << "\n" << system_->Logs();
  std::string parked_reason;
  try {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    pqxx::result res = tx.exec("SELECT last_error FROM quote.outbox WHERE parked_at IS NOT NULL");
    for (const pqxx::row& row : res) parked_reason = row[0].as<std::string>().substr(0, 80);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_EQ(dead_once, 2 * poison);
  EXPECT_EQ(dead_twice, 0);
  EXPECT_EQ(no_reason, 0);
  ExpectAllRunning();
  LedgerOptions lo;
  lo.allow_parked = true;
  lo.foreign_event_ids = foreign;
  LedgerReport r = CheckUntilHolds(absl::Seconds(30), lo);
  Verdict(r, quiet.ok() && dead.ok() && parked.ok() && dead_once == 2 * poison && dead_twice == 0,
          absl::StrCat("faults=", 2 * poison,
                       " poison events + 1 oversized (2 MiB) payload;"
                       " dead-lettered-once=",
                       dead_once, " dead-lettered-more=", dead_twice, " without-reason=", no_reason,
                       " parked=", parked.ok() ? 1 : 0, " parked-reason=\"", parked_reason,
                       "\" other-keys-settled-after=",
                       absl::FormatDuration(absl::Trunc(lag_zero_after, absl::Milliseconds(100)))));
}

// Negative controls on the real system, one per invariant the ledger checks besides I1 (whose
// control is PostgresChaos.NegativeControlSynchronousCommitOffIsCaught): after a clean run, each
// fault below is planted and the ledger must report exactly the invariant it violates.
//   I2  an unpublished outbox row deleted (the relay stopped, the row removed by hand);
//   I3  two events of one key put on the wire in the wrong order;
//   I4  an event's effect applied twice around the inbox (a count incremented again);
//   I5  a saga left open (quote-worker stopped before the quote's last event).
TEST_F(Chaos, NegativeControlsEachInvariantFires) {
  StartSystem("negative-controls");
  if (HasFatalFailure()) return;
  StartLoad(Options(Load(60, 300), 8));
  FinishLoad();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(120)).ok()) << system_->Logs();
  LedgerReport clean = CheckUntilHolds(absl::Seconds(30));
  ASSERT_TRUE(clean.ok()) << clean.ToString();

  auto failed = [](const LedgerReport& r, const std::string& invariant) {
    for (const InvariantLine& l : r.lines) {
      if (absl::StartsWith(l.name, invariant + " ")) return !l.ok;
    }
    return false;
  };
  auto check = [&]() -> LedgerReport {
    LedgerOptions lo;
    lo.database_url = url_;
    lo.bootstrap_servers = bootstrap_;
    lo.topics = topics_;
    absl::StatusOr<LedgerReport> r = CheckLedger(lo, load_.approvals);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : LedgerReport{};
  };
  auto exec = [&](const std::string& sql) {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  };
  std::vector<std::string> fired;

  // I4: customer c0's count goes up once more than its policies say.
  exec("UPDATE customer.customers SET policy_count = policy_count + 1 WHERE customer_id = 'c0'");
  LedgerReport r4 = check();
  EXPECT_TRUE(failed(r4, "I4")) << r4.ToString();
  if (failed(r4, "I4")) fired.push_back("I4:double-applied");
  exec("UPDATE customer.customers SET policy_count = policy_count - 1 WHERE customer_id = 'c0'");

  // I3: two events of a new key published by the relay in the wrong order (version 5, then 4).
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    for (int64_t version : {5, 4}) {
      InsertOutboxRow(tx, {.schema = "customer", .source = "/quoteflow/chaos"},
                      DomainEvent{.event_id = absl::StrCat("neg-c/swapped/", version),
                                  .aggregate_id = "neg-c",
                                  .quote_id = "neg-q",
                                  .aggregate_version = version,
                                  .occurred_at = absl::Now(),
                                  .payload = CustomerPolicyCountUpdated{.customer_id = "neg-c",
                                                                        .policy_id = "neg-pol",
                                                                        .policy_count = version,
                                                                        .delta = 1}});
    }
    tx.commit();
  }
  ASSERT_TRUE(WaitFor([&] { return Count(url_, "SELECT count(*) FROM customer.outbox") == 0; },
                      absl::Seconds(60), "the swapped events published")
                  .ok());
  LedgerReport r3 = check();
  EXPECT_TRUE(failed(r3, "I3")) << r3.ToString();
  if (failed(r3, "I3")) fired.push_back("I3:reordered-on-wire");

  // I5: quote-worker stops; a new approval's saga cannot end.
  ASSERT_TRUE(system_->Kill("quote-worker").ok());
  // I2: the quote relay stops; the next approval's event is deleted from the outbox unpublished.
  ASSERT_TRUE(system_->Kill("relay-quote").ok());
  LoadOptions one = Options(2, 1);
  one.run_id = prefix_ + "neg";
  LoadResult extra = LoadDriver(system_->quotes(), one).Run();
  ASSERT_EQ(extra.approvals.size(), 2u);
  load_.approvals.insert(load_.approvals.end(), extra.approvals.begin(), extra.approvals.end());
  exec(absl::StrCat("DELETE FROM quote.outbox WHERE aggregate_id = '", extra.approvals[0].quote_id,
                    "'"));
  ASSERT_TRUE(system_->Restart("relay-quote").ok());
  ASSERT_TRUE(WaitFor([&] { return Count(url_, "SELECT count(*) FROM quote.outbox") == 0; },
                      absl::Seconds(60), "the other approval published")
                  .ok());
  LedgerReport r25 = check();
  EXPECT_TRUE(failed(r25, "I2")) << r25.ToString();
  // The lost event never had a delivery report; its sibling has one, with partition and offset.
  const std::string lost = DeliveriesOfLostEvents(r25);
  EXPECT_TRUE(absl::StrContains(lost, extra.approvals[0].event_id + ": no delivery report"))
      << lost;
  const std::string delivered = DeliveriesOf(extra.approvals[1].event_id);
  EXPECT_TRUE(absl::StrContains(delivered, "\"offset\":")) << delivered;
  EXPECT_TRUE(failed(r25, "I5")) << r25.ToString();
  if (failed(r25, "I2")) fired.push_back("I2:missing");
  if (failed(r25, "I5")) fired.push_back("I5:open");
  std::printf("%s", r25.ToString().c_str());
  const bool all = fired.size() == 4;
  Report(absl::StrCat("CHAOS negative-controls ", all ? "PASS" : "FAIL",
                      " (each planted fault must be reported) fired=", absl::StrJoin(fired, ","),
                      " | load: ", load_.ToString()));
  EXPECT_TRUE(all) << absl::StrJoin(fired, ",");
  // quote-worker back: it dead-letters the swapped events (their quote does not exist) and the
  // system stops cleanly.
  ASSERT_TRUE(system_->Restart("quote-worker").ok());
  absl::Status dead = WaitFor(
      [&] {
        absl::StatusOr<std::vector<messaging::DlqRecord>> read =
            messaging::ReadDlq(kafka::KafkaSettings(bootstrap_, {}), topics_.customers + ".dlq", {});
        return read.ok() && read->size() == 2;
      },
      absl::Seconds(60), "the swapped events dead-lettered by quote-worker");
  EXPECT_TRUE(dead.ok()) << dead << "\n" << system_->Logs();
}

// 9. Overload: 4x the baseline concurrency with 50 ms deadlines: only OK, DEADLINE_EXCEEDED or
// RESOURCE_EXHAUSTED, no call hangs, and I1-I2 (all of I1-I5, in fact) hold after the client
// retries.
TEST_F(Chaos, OverloadWithShortDeadlines) {
  StartSystem("overload");
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(400, 4000), 64);
  o.call_deadline = absl::Milliseconds(50);
  o.min_backoff = absl::Milliseconds(5);
  o.max_backoff = absl::Milliseconds(100);
  o.give_up_after = absl::Seconds(120);
  StartLoad(o);
  FinishLoad();
  int64_t other = 0;
  for (const auto& [code, n] : load_.codes) {
    if (code != "OK" && code != "DEADLINE_EXCEEDED" && code != "RESOURCE_EXHAUSTED") other += n;
  }
  EXPECT_EQ(other, 0) << load_.ToString();
  // No hang: no call outlived its deadline by more than a scheduling hiccup.
  EXPECT_LT(load_.max_call, absl::Seconds(2)) << load_.ToString();
  EXPECT_EQ(load_.given_up, 0);
  ExpectAllRunning();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(60, 300))).ok()) << system_->Logs();
  LedgerReport r = CheckUntilHolds(absl::Seconds(30));
  Verdict(r, other == 0 && load_.max_call < absl::Seconds(2) && load_.given_up == 0,
          absl::StrCat("faults=overload concurrency=64 deadline=50ms other-codes=", other));
}

// Broker faults on a real 3-node Apache Kafka cluster in KRaft mode (LocalKafka: every node a
// broker and a controller; replication factor 3, min.insync.replicas=2, unclean leader election
// off), under load: leaders SIGKILLed, the active controller SIGKILLed, a broker SIGSTOPped for
// longer than its session timeout, all three down at once. Each scenario starts its own cluster
// and prints its own figures beside the ledger: time to a new leader, drain time after recovery,
// duplicates on the wire.
class BrokerChaos : public Chaos {
 protected:
  // Starts the cluster (with the Event Hubs-shaped SASL_SSL listener when `eventhubs`, the
  // system then running deploy/kubernetes/eventhubs/eventhubs.properties: no idempotent
  // producer), then the system on it.
  void StartClusterAndSystem(const std::string& scenario, bool eventhubs = false,
                             const std::string& cluster_dir = "") {
    LocalKafka::Options kafka_options;
    kafka_options.dir = cluster_dir;
    kafka_options.nodes = 3;
    kafka_options.heap_mb = 384;
    absl::StatusOr<LocalKafka::SaslSslListener> sasl;
    if (eventhubs) {
      sasl = LocalKafka::DevSaslSslListener(::testing::TempDir() + "chaos-eventhubs-sasl");
      ASSERT_TRUE(sasl.ok()) << sasl.status();
      kafka_options.sasl_ssl = &*sasl;
    }
    const absl::Time t0 = absl::Now();
    absl::StatusOr<std::unique_ptr<LocalKafka>> kafka = LocalKafka::Start(kafka_options);
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    std::printf("3-node Kafka cluster up in %s\n", absl::FormatDuration(absl::Now() - t0).c_str());
    cluster_bootstrap_ = kafka_->bootstrap_servers();
    SagaSystemOptions options;
    if (eventhubs) {
      options.bootstrap_servers = kafka_->sasl_ssl_bootstrap_servers();
      options.extra_env = {{"KAFKA_PROPERTIES_FILE", QUOTEFLOW_EVENTHUBS_PROPERTIES},
                           {"KAFKA_PROPERTIES", "ssl.ca.location=" + sasl->ca_file},
                           {"KAFKA_SASL_PASSWORD", sasl->users.front().second}};
    }
    StartSystem(scenario, std::move(options));
  }

  void TearDown() override {
    Chaos::TearDown();
    kafka_.reset();
    if (!mounted_.empty()) {
      (void)std::system(absl::StrCat("umount '", mounted_, "'").c_str());
    }
    if (!cluster_dir_.empty()) std::filesystem::remove_all(cluster_dir_);
  }

  kafka::KafkaSettings Admin() const { return kafka::KafkaSettings(cluster_bootstrap_, {}); }

  // The leader of partition 0 of this scenario's quotes topic, -1 when there is none.
  int32_t QuotesLeader() {
    absl::StatusOr<std::vector<int32_t>> leaders =
        kafka::PartitionLeaders(Admin(), topics_.quotes, absl::Seconds(5));
    return leaders.ok() && !leaders->empty() ? (*leaders)[0] : -1;
  }

  // Waits until partition 0 of quotes has a leader other than `old`; how long that took.
  absl::Duration WaitNewLeader(int32_t old, absl::Time since) {
    absl::Status moved = WaitFor(
        [&] {
          const int32_t leader = QuotesLeader();
          return leader > 0 && leader != old;
        },
        absl::Seconds(90), "a new leader for quotes/0");
    EXPECT_TRUE(moved.ok()) << moved;
    return absl::Now() - since;
  }

  // Waits until the cluster lists all three brokers again.
  void WaitAllBrokers() {
    absl::Status back = kafka::WaitForBrokers(Admin(), 3, absl::Seconds(120));
    EXPECT_TRUE(back.ok()) << back;
  }

  static std::string Ms(absl::Duration d) {
    return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
  }

  // Settles the sagas, checks the ledger and prints the scenario's line with its figures.
  void Finish(const std::string& figures, bool ok, absl::Time recovered) {
    FinishLoad();
    ExpectAllRunning();
    absl::Status quiet = WaitQuiet(absl::Seconds(Pick(120, 300)));
    const absl::Duration drain = absl::Now() - recovered;
    EXPECT_TRUE(quiet.ok()) << quiet << "\n" << system_->Logs();
    LedgerReport r = CheckUntilHolds(absl::Seconds(60));
    Verdict(r, ok && quiet.ok() && load_.given_up == 0,
            absl::StrCat(figures, " drained-after-recovery=", Ms(drain)));
  }

  // Each node's lines naming one of `partitions` (not a longer partition number), and every
  // unclean election (those name the topic by id only); up to 300 per node.
  std::string BrokerLinesAbout(const std::set<std::string>& partitions) const override {
    if (kafka_ == nullptr || partitions.empty()) return "";
    auto names = [&](absl::string_view line) {
      for (const std::string& p : partitions) {
        for (size_t at = line.find(p); at != absl::string_view::npos; at = line.find(p, at + 1)) {
          const size_t end = at + p.size();
          if (end == line.size() || !absl::ascii_isdigit(line[end])) return true;
        }
      }
      return absl::StrContains(line, "using an unclean election");
    };
    std::string out =
        absl::StrCat("broker log lines about ", absl::StrJoin(partitions, ", "), ":\n");
    for (int node = 1; node <= kafka_->node_count(); ++node) {
      std::string lines;
      int n = 0;
      const std::string log = testing::FileTail(kafka_->NodeLogPath(node), 1 << 26);
      for (absl::string_view line : absl::StrSplit(log, '\n')) {
        if (names(line) && ++n <= 300) absl::StrAppend(&lines, "    ", line, "\n");
      }
      absl::StrAppend(&out, "  node ", node, " (", n, " lines):\n", lines);
    }
    return out;
  }

  std::unique_ptr<LocalKafka> kafka_;
  std::string cluster_dir_;  // a kept cluster directory to remove, if any
  std::string mounted_;      // a filesystem this scenario mounted, if any
};

// The leader of the quotes partitions SIGKILLed, again and again (restarted after each outage).
TEST_F(BrokerChaos, LeaderOfQuotesSigkilledRepeatedly) {
  StartClusterAndSystem("kafka-leader-kill");
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(300, 5000), 8);
  const int kills = Pick(2, 6);
  SpreadOver(o, absl::Seconds(Pick(30, 120)));
  StartLoad(o);
  std::vector<std::string> times;
  absl::Duration worst;
  absl::Time recovered = absl::Now();
  for (int k = 0; k < kills; ++k) {
    absl::SleepFor(absl::Seconds(Pick(4, 10)));  // load between the faults
    const int32_t victim = QuotesLeader();
    ASSERT_GT(victim, 0);
    const absl::Time t0 = absl::Now();
    kafka_->KillNode(victim);
    const absl::Duration took = WaitNewLeader(victim, t0);
    worst = std::max(worst, took);
    times.push_back(absl::StrCat("node", victim, ":", Ms(took)));
    absl::SleepFor(absl::Seconds(Pick(3, 10)));  // the node stays down a while
    ASSERT_TRUE(kafka_->StartNode(victim).ok()) << kafka_->NodeLogTail(victim);
    WaitAllBrokers();
    recovered = absl::Now();
  }
  Finish(absl::StrCat("faults=SIGKILL quotes leader x", kills,
                      " new-leader-after=", absl::StrJoin(times, ","), " worst=", Ms(worst)),
         true, recovered);
}

// The active KRaft controller SIGKILLed: another controller takes over and nothing stalls.
TEST_F(BrokerChaos, ActiveControllerSigkilled) {
  StartClusterAndSystem("kafka-controller-kill");
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(200, 3000), 8);
  SpreadOver(o, absl::Seconds(Pick(25, 90)));
  StartLoad(o);
  const int kills = Pick(1, 3);
  std::vector<std::string> times;
  absl::Time recovered = absl::Now();
  for (int k = 0; k < kills; ++k) {
    absl::SleepFor(absl::Seconds(Pick(4, 10)));
    absl::StatusOr<int> controller = kafka_->ActiveController();
    ASSERT_TRUE(controller.ok()) << controller.status();
    const absl::Time t0 = absl::Now();
    kafka_->KillNode(*controller);
    int next = -1;
    absl::Status elected = WaitFor(
        [&] {
          absl::StatusOr<int> c = kafka_->ActiveController();
          next = c.ok() ? *c : -1;
          return next > 0 && next != *controller;
        },
        absl::Seconds(60), "a new active controller");
    EXPECT_TRUE(elected.ok()) << elected;
    times.push_back(absl::StrCat("node", *controller, "->node", next, ":", Ms(absl::Now() - t0)));
    ASSERT_TRUE(kafka_->StartNode(*controller).ok()) << kafka_->NodeLogTail(*controller);
    WaitAllBrokers();
    recovered = absl::Now();
  }
  Finish(absl::StrCat("faults=SIGKILL active controller x", kills,
                      " new-controller-after=", absl::StrJoin(times, ",")),
         true, recovered);
}

// One broker (the quotes leader) SIGSTOPped for longer than its session timeout
// (broker.session.timeout.ms, 9 s): the controller fences it and moves its leaderships; after
// SIGCONT it rejoins and catches up.
TEST_F(BrokerChaos, BrokerPausedLongerThanSessionTimeout) {
  StartClusterAndSystem("kafka-broker-paused");
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(200, 3000), 8);
  SpreadOver(o, absl::Seconds(Pick(30, 90)));
  StartLoad(o);
  absl::SleepFor(absl::Seconds(5));
  const int32_t victim = QuotesLeader();
  ASSERT_GT(victim, 0);
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(kafka_->PauseNode(victim).ok());
  const absl::Duration moved = WaitNewLeader(victim, t0);
  const absl::Duration paused = absl::Seconds(Pick(15, 30));
  absl::SleepFor(std::max(absl::ZeroDuration(), paused - (absl::Now() - t0)));
  ASSERT_TRUE(kafka_->ResumeNode(victim).ok());
  WaitAllBrokers();
  Finish(absl::StrCat("faults=SIGSTOP node", victim, " for ", Ms(absl::Now() - t0),
                      " new-leader-after=", Ms(moved)),
         true, absl::Now());
}

// All three brokers down for a while, then up: ApproveQuote keeps answering (it only writes to
// Postgres), the outboxes hold the events, and the backlog drains once Kafka is back.
TEST_F(BrokerChaos, AllBrokersDownThenUp) {
  StartClusterAndSystem("kafka-all-down");
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(300, 4000), 8);
  SpreadOver(o, absl::Seconds(Pick(30, 90)));
  StartLoad(o);
  absl::SleepFor(absl::Seconds(5));
  const int64_t ok_before = driver_->ok_replies();
  for (int node = 1; node <= 3; ++node) kafka_->KillNode(node);
  const absl::Duration down = absl::Seconds(Pick(10, 30));
  absl::SleepFor(down);  // the outage
  const int64_t ok_during = driver_->ok_replies() - ok_before;
  const absl::Time restart = absl::Now();
  ASSERT_TRUE(kafka_->StartNodes({1, 2, 3}).ok()) << kafka_->NodeLogTail(1);
  WaitAllBrokers();
  const absl::Duration back_after = absl::Now() - restart;
  EXPECT_GT(ok_during, 0) << "ApproveQuote must keep succeeding while Kafka is down";
  Finish(absl::StrCat("faults=all 3 brokers SIGKILLed for ", Ms(down),
                      " ok-approvals-during=", ok_during, " cluster-back-after=", Ms(back_after)),
         ok_during > 0, restart);
}

// The Event Hubs profile (no idempotent producer; SASL_SSL, PLAIN) while the quotes leader is
// SIGKILLed: per-key order still holds (the relay keeps one in-flight event per aggregate and waits
// for its delivery report), duplicates on the wire are absorbed by the inboxes.
TEST_F(BrokerChaos, EventHubsProfileWithoutIdempotenceKeepsOrderAcrossLeaderKills) {
  StartClusterAndSystem("kafka-eventhubs-leader-kill", /*eventhubs=*/true);
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(300, 3000), 8);
  SpreadOver(o, absl::Seconds(Pick(30, 90)));
  StartLoad(o);
  std::vector<std::string> times;
  absl::Time recovered = absl::Now();
  for (int k = 0; k < Pick(2, 4); ++k) {
    absl::SleepFor(absl::Seconds(Pick(4, 10)));
    const int32_t victim = QuotesLeader();
    ASSERT_GT(victim, 0);
    const absl::Time t0 = absl::Now();
    kafka_->KillNode(victim);
    times.push_back(absl::StrCat("node", victim, ":", Ms(WaitNewLeader(victim, t0))));
    absl::SleepFor(absl::Seconds(3));
    ASSERT_TRUE(kafka_->StartNode(victim).ok()) << kafka_->NodeLogTail(victim);
    WaitAllBrokers();
    recovered = absl::Now();
  }
  EXPECT_TRUE(absl::StrContains(testing::FileTail(system_->LogPath("relay-quote"), 1 << 22),
                                "idempotent producer off"))
      << system_->Logs();
  Finish(absl::StrCat("faults=SIGKILL quotes leader x", times.size(),
                      " profile=eventhubs (SASL_SSL, enable.idempotence=false)"
                      " new-leader-after=",
                      absl::StrJoin(times, ",")),
         true, recovered);
}

// One broker's log directory fills up (it lives on a 64 MiB tmpfs, filled up under load): that
// broker stops (Kafka halts when its only log directory fails), its leaderships move, and once
// there is room again it comes back and catches up. Needs root (mount); skipped otherwise.
TEST_F(BrokerChaos, LogDirOfOneBrokerFillsUp) {
  cluster_dir_ = absl::StrCat(::testing::TempDir(), "chaos-logdir-full-", getpid());
  const std::string data = cluster_dir_ + "/node-3/data";
  std::filesystem::create_directories(data);
  if (geteuid() != 0 ||
      std::system(absl::StrCat("mount -t tmpfs -o size=64m tmpfs '", data, "'").c_str()) != 0) {
    GTEST_SKIP() << "mounting a small tmpfs for node 3's log directory needs root";
  }
  mounted_ = data;
  StartClusterAndSystem("kafka-logdir-full", false, cluster_dir_);
  if (HasFatalFailure()) return;
  LoadOptions o = Options(Load(300, 3000), 8);
  SpreadOver(o, absl::Seconds(Pick(30, 90)));
  StartLoad(o);
  absl::SleepFor(absl::Seconds(5));
  // Fill the filesystem: the broker's next write finds no room.
  const std::string filler = data + "/filler";
  (void)std::system(absl::StrCat("dd if=/dev/zero of='", filler, "' bs=1M 2>/dev/null").c_str());
  const absl::Time filled = absl::Now();
  absl::Status stopped = WaitFor([&] { return !kafka_->NodeRunning(3); }, absl::Seconds(120),
                                 "node 3 to stop on its full log directory");
  EXPECT_TRUE(stopped.ok()) << stopped;
  const absl::Duration stopped_after = absl::Now() - filled;
  const bool said_why = absl::StrContains(kafka_->NodeLogTail(3, 20000), "No space left");
  EXPECT_TRUE(said_why) << kafka_->NodeLogTail(3);
  std::filesystem::remove(filler);
  ASSERT_TRUE(kafka_->StartNode(3).ok()) << kafka_->NodeLogTail(3);
  WaitAllBrokers();
  Finish(absl::StrCat("faults=log dir of node 3 full (64 MiB tmpfs) node-3-stopped-after=",
                      Ms(stopped_after), " reason-logged=", said_why ? "No space left" : "no"),
         stopped.ok(), absl::Now());
}

// Network partitions between hosts (issue 14): the services on hosts of their own (network
// namespaces joined by veth pairs to a bridge, tests/support/net_hosts.h), Postgres and a
// single-node Kafka on the "db+kafka" host (the root namespace, listening on the bridge's address):
//   relay-a   relay-quote, relay-policy, relay-customer    (replica 0 of each outbox schema)
//   relay-b   relay-quote-1, relay-policy-1, relay-customer-1 (replica 1)
//   worker-a  policy-worker, customer-worker, quote-worker
//   worker-b  second instances of the workers (same consumer groups), started by one scenario
//   api       quote-api
// Each scenario cuts one link for 30 s (20 s in the CI-size run) while ApproveQuote load runs
// through the real quote-api: every TCP packet between the host and Postgres' or Kafka's port is
// dropped both ways (a silent partition: no RST, only timeouts tell). Then it heals, drains, judges
// the ledger (0 lost, 0 reordered, 0 double-applied, every saga final) and prints the takeover or
// recovery time in its CHAOS line. Needs root and nftables; skipped otherwise.
class NetPartition : public Chaos {
 protected:
  static void SetUpTestSuite() {
    unavailable_ = testing::NetHosts::Unavailable();
    if (!unavailable_.empty()) return;
    setup_error_ = absl::OkStatus();
    auto net = testing::NetHosts::Create({"relay-a", "relay-b", "worker-a", "worker-b", "api"});
    if (!net.ok()) {
      setup_error_ = net.status();
      return;
    }
    net_ = *std::move(net);
    const std::string& server = net_->server_address();
    LocalPostgres::Options pg;
    pg.listen_addresses = "127.0.0.1," + server;
    pg.trusted_networks = {net_->network()};
    absl::StatusOr<std::unique_ptr<LocalPostgres>> started = LocalPostgres::Start(pg);
    if (!started.ok()) {
      setup_error_ = started.status();
      return;
    }
    pg_ = *std::move(started);
    pg_url_ = absl::StrReplaceAll(pg_->database_url(), {{"@127.0.0.1:", "@" + server + ":"}});
    setup_error_ = ApplyMigrations(pg_url_);
    if (!setup_error_.ok()) return;
    LocalKafka::Options kafka;
    kafka.host = server;
    kafka.heap_mb = 384;
    absl::StatusOr<std::unique_ptr<LocalKafka>> k = LocalKafka::Start(kafka);
    if (!k.ok()) {
      setup_error_ = k.status();
      return;
    }
    kafka_ = *std::move(k);
    const std::string address = kafka_->NodeAddress(1);
    kafka_port_ = std::atoi(address.substr(address.rfind(':') + 1).c_str());
    std::printf("partition hosts on %s: db+kafka %s (postgres :%d, kafka :%d)\n",
                net_->network().c_str(), server.c_str(), pg_->port(), kafka_port_);
  }

  static void TearDownTestSuite() {
    kafka_.reset();
    pg_.reset();
    net_.reset();
  }

  void SetUp() override {
    if (!unavailable_.empty()) GTEST_SKIP() << "network partition tests skipped: " << unavailable_;
    ASSERT_TRUE(setup_error_.ok()) << setup_error_;
    ASSERT_TRUE(testing::ResetDatabase(pg_url_).ok());
    cluster_bootstrap_ = kafka_->bootstrap_servers();
  }

  // The system with its processes on their hosts (see the class comment).
  void StartPlaced(const std::string& scenario) {
    SagaSystemOptions o;
    o.relays_per_schema = 2;
    o.net = net_.get();
    for (const char* schema : {"quote", "policy", "customer"}) {
      o.host_of[absl::StrCat("relay-", schema)] = "relay-a";
      o.host_of[absl::StrCat("relay-", schema, "-1")] = "relay-b";
    }
    for (const char* w : {"policy-worker", "customer-worker", "quote-worker"}) {
      o.host_of[w] = "worker-a";
    }
    o.host_of["quote-api"] = "api";
    // A relay cut off from Kafka gives its leases up after 8 s without a delivery (the default,
    // 60 s, is longer than the cut), within kTakeoverBound.
    o.extra_env = {{"KAFKA_FAILURE_RELEASE", "8s"}};
    StartSystem(scenario, std::move(o), pg_url_);
  }

  static absl::Duration CutLength() { return absl::Seconds(Pick(20, 30)); }
  static std::string Ms(absl::Duration d) {
    return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
  }

  // The load: paced to last the time before the cut, the cut and some time after it; clients
  // retry through the cut.
  void StartCutLoad() {
    LoadOptions o = Options(Load(250, 1500), 8);
    o.give_up_after = absl::Seconds(180);
    SpreadOver(o, kBefore + CutLength() + absl::Seconds(10));
    StartLoad(o);
  }

  // Shard leases of `schema`'s outbox held by sessions from `address` (relays hold them as session
  // advisory locks, keyed as outbox-relay/outbox_store.cc does).
  int64_t ShardsHeldFrom(const std::string& schema, const std::string& address) {
    return Count(
        url_,
        absl::StrCat("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                     "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND "
                     "l.classid = hashtext('quoteflow.outbox.",
                     schema, "')::int4::oid AND a.client_addr = '", address, "'::inet"));
  }
  // Every shard of every outbox schema is leased by relay-b (nullopt-like false on SQL errors).
  bool RelayBHoldsAll() {
    try {
      for (const char* schema : {"quote", "policy", "customer"}) {
        if (ShardsHeldFrom(schema, net_->Address("relay-b")) != kShards) return false;
      }
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  // Both replicas of every schema hold shards, all of them leased: the split the cut starts from.
  absl::Status WaitSplit() {
    return WaitFor(
        [&]() -> absl::Status {
          try {
            for (const char* schema : {"quote", "policy", "customer"}) {
              const int64_t a = ShardsHeldFrom(schema, net_->Address("relay-a"));
              const int64_t b = ShardsHeldFrom(schema, net_->Address("relay-b"));
              if (a == 0 || b == 0 || a + b != kShards) {
                return absl::UnavailableError(
                    absl::StrCat(schema, ": relay-a ", a, " relay-b ", b));
              }
            }
            return absl::OkStatus();
          } catch (const std::exception& e) {
            return absl::UnavailableError(e.what());
          }
        },
        absl::Seconds(60), "both relay replicas to share the shards");
  }

  // Inbox rows of every consumer (each one an event applied).
  int64_t Applied() {
    try {
      return Count(url_,
                   "SELECT (SELECT count(*) FROM policy.inbox) + (SELECT count(*) FROM "
                   "customer.inbox) + (SELECT count(*) FROM quote.inbox)");
    } catch (const std::exception&) {
      return -1;
    }
  }

  // Cuts `host` from `port` of the db+kafka host, runs `during` (on this thread; it may wait up to
  // the end of the cut), keeps the cut for CutLength() in all, heals. Returns false (after a test
  // failure) when the cut or the heal could not be made.
  bool CutAndHeal(const std::string& host, int port, const std::function<void()>& during) {
    absl::SleepFor(kBefore);  // load before the fault
    absl::Status cut = net_->Cut(host, port);
    EXPECT_TRUE(cut.ok()) << cut;
    if (!cut.ok()) return false;
    cut_at_ = absl::Now();
    during();
    const absl::Duration left = CutLength() - (absl::Now() - cut_at_);
    if (left > absl::ZeroDuration()) absl::SleepFor(left);  // the partition's length
    absl::Status healed = net_->Heal(host);
    EXPECT_TRUE(healed.ok()) << healed;
    healed_at_ = absl::Now();
    return healed.ok();
  }

  // The relay scenarios: relay-a cut from `port`; relay-b must hold every shard within
  // kTakeoverBound of the cut.
  void RelayCut(const std::string& scenario, int port, const std::string& link) {
    StartPlaced(scenario);
    if (HasFatalFailure()) return;
    absl::Status split = WaitSplit();
    ASSERT_TRUE(split.ok()) << split << "\n" << system_->Logs();
    StartCutLoad();
    absl::Status took_over;
    absl::Duration takeover;
    ASSERT_TRUE(CutAndHeal("relay-a", port, [&] {
      took_over = WaitFor([&] { return RelayBHoldsAll(); }, kTakeoverBound,
                          "relay-b to hold every shard of the three outboxes");
      takeover = absl::Now() - cut_at_;
    }));
    EXPECT_TRUE(took_over.ok()) << took_over << " (relay-a cut from " << link << ")\n"
                                << system_->Logs();
    Finish(absl::StrCat("faults=cut ", link, " for ", Ms(CutLength()),
                        " relays-per-schema=2 takeover-bound=", Ms(kTakeoverBound),
                        " relay-b-holds-all-shards-after=",
                        took_over.ok() ? Ms(takeover) : std::string("none")),
           took_over.ok());
  }

  // Heal -> settled: drains, judges the ledger, prints the CHAOS line with `figures`.
  void Finish(const std::string& figures, bool ok) {
    FinishLoad();
    ExpectAllRunning();
    absl::Status quiet = WaitQuiet(absl::Seconds(Pick(120, 300)));
    const absl::Duration drain = absl::Now() - healed_at_;
    EXPECT_TRUE(quiet.ok()) << quiet << "\n" << system_->Logs();
    LedgerReport r = CheckUntilHolds(absl::Seconds(60));
    Verdict(r, ok && quiet.ok() && load_.given_up == 0,
            absl::StrCat(figures, " drained-after-heal=", Ms(drain)));
  }

  static constexpr absl::Duration kBefore = absl::Seconds(5);
  // Relay takeover after a cut: the relay-liveness bounds (TCP keepalives / tcp_user_timeout on
  // the lease session, shards given up after a sustained Kafka failure) plus a lease tick.
  static constexpr absl::Duration kTakeoverBound = absl::Seconds(20);
  // Workers back after a healed cut: a connection attempt made during the cut gives up within
  // 10 s and is retried within 2 s (socket.connection.setup.timeout.ms, reconnect.backoff.max.ms,
  // socket.timeout.ms in kafka_config.cc), then the group rejoins.
  static constexpr absl::Duration kRejoinBound = absl::Seconds(15);
  static constexpr int kShards = 64;  // the outbox migration's shard count

  static inline std::string unavailable_;
  static inline absl::Status setup_error_ = absl::UnknownError("suite not set up");
  static inline std::unique_ptr<testing::NetHosts> net_;
  static inline std::unique_ptr<LocalPostgres> pg_;
  static inline std::unique_ptr<LocalKafka> kafka_;
  static inline std::string pg_url_;
  static inline int kafka_port_ = 0;
  absl::Time cut_at_, healed_at_;
};

// relay-a (one replica of each outbox schema) cut from Postgres: its session's leases must go,
// and relay-b take every shard, while relay-a cannot reach the database.
TEST_F(NetPartition, RelayToPostgres) {
  RelayCut("netns-relay-postgres", pg_->port(), "relay<->postgres");
}

// relay-a cut from Kafka: it must give its shards up after a sustained failure to publish, and
// relay-b take them; nothing relay-a had in flight may reorder or lose events.
TEST_F(NetPartition, RelayToKafka) { RelayCut("netns-relay-kafka", kafka_port_, "relay<->kafka"); }

// The workers' host cut from Kafka: their group sessions expire, the sagas wait, and once the link
// heals the workers rejoin and resume (time to the first event applied after the heal) within
// kRejoinBound: 23-25 s with librdkafka's 60 s request timeout, ~1 s with the consumers' 10 s.
TEST_F(NetPartition, WorkerToKafka) {
  StartPlaced("netns-worker-kafka");
  if (HasFatalFailure()) return;
  StartCutLoad();
  ASSERT_TRUE(CutAndHeal("worker-a", kafka_port_, [] {}));
  const int64_t at_heal = Applied();
  absl::Status resumed = WaitFor([&] { return Applied() > at_heal; }, absl::Seconds(60),
                                 "the workers to apply an event after the heal");
  const absl::Duration recovery = absl::Now() - healed_at_;
  EXPECT_TRUE(resumed.ok()) << resumed << "\n" << system_->Logs();
  EXPECT_LE(recovery, kRejoinBound);
  Finish(absl::StrCat("faults=cut worker<->kafka for ", Ms(CutLength()),
                      " rejoin-bound=", Ms(kRejoinBound), " workers-applying-again-after-heal=",
                      resumed.ok() ? Ms(recovery) : std::string("never")),
         resumed.ok() && recovery <= kRejoinBound);
}

// quote-api cut from Postgres: every call during the cut fails with UNAVAILABLE or
// DEADLINE_EXCEEDED and changes nothing (probe approvals sent once each, never retried, must leave
// their quotes DRAFT, with no request record, also after the heal: no statement the cut held back
// may reach the database later), the load's own calls get no OK once the cut is in place, and after
// the heal the api serves again.
TEST_F(NetPartition, ApiToPostgres) {
  StartPlaced("netns-api-postgres");
  if (HasFatalFailure()) return;
  constexpr int kProbes = 6;
  std::vector<std::string> probes;
  for (int k = 0; k < kProbes; ++k) {
    v1::CreateQuoteRequest req;
    req.set_customer_id("c1");
    req.set_premium(100);
    req.set_request_id(absl::StrCat(prefix_, "probe-", k, "-create"));
    v1::Quote q;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = system_->quotes().CreateQuote(&ctx, req, &q);
    ASSERT_TRUE(s.ok()) << s.error_message();
    probes.push_back(q.quote_id());
  }
  StartCutLoad();
  std::map<std::string, int> probe_codes;
  int64_t ok_during = 0;
  ASSERT_TRUE(CutAndHeal("api", pg_->port(), [&] {
    // The probes at once, while the api's pool still has idle connections: their statements are
    // then held back in those connections' sockets (not refused at connect time).
    std::vector<std::thread> senders;
    std::mutex mu;
    for (int k = 0; k < kProbes; ++k) {
      senders.emplace_back([&, k] {
        v1::ApproveQuoteRequest req;
        req.set_quote_id(probes[k]);
        req.set_request_id(absl::StrCat(prefix_, "probe-", k, "-approve"));
        v1::ApproveQuoteResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        grpc::Status s = system_->quotes().ApproveQuote(&ctx, req, &resp);
        std::lock_guard<std::mutex> lock(mu);
        ++probe_codes[s.ok() ? "OK" : absl::StrCat(s.error_code())];
      });
    }
    // From 1 s into the cut (calls already past the database by then may still finish) until
    // its end, no ApproveQuote may succeed: the harness's check that it cuts.
    absl::SleepFor(absl::Seconds(1));
    const int64_t ok_before = driver_->ok_replies();
    for (std::thread& t : senders) t.join();
    absl::SleepFor(CutLength() - (absl::Now() - cut_at_) - absl::Milliseconds(200));
    ok_during = driver_->ok_replies() - ok_before;
  }));
  // Serves again: a read through the api's pool.
  absl::Status serving = WaitFor(
      [&] {
        v1::GetQuoteRequest req;
        req.set_quote_id(probes[0]);
        v1::Quote q;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
        return system_->quotes().GetQuote(&ctx, req, &q).ok();
      },
      absl::Seconds(60), "quote-api to serve again after the heal");
  const absl::Duration serving_after = absl::Now() - healed_at_;
  // What the cut held back in the api's sockets is either delivered now (then it reaches the
  // database late) or gone with its socket; wait until nothing is held back any more.
  absl::Status flushed = WaitFor([&] { return net_->UnackedBytes("api", pg_->port()) == 0; },
                                 absl::Seconds(120), "no bytes held back towards Postgres");
  const absl::Duration flushed_after = absl::Now() - healed_at_;
  EXPECT_TRUE(serving.ok()) << serving << "\n" << system_->Logs();
  EXPECT_TRUE(flushed.ok()) << flushed;
  int probes_failed_clearly = 0;
  for (const auto& [code, n] : probe_codes) {
    if (code == absl::StrCat(grpc::UNAVAILABLE) || code == absl::StrCat(grpc::DEADLINE_EXCEEDED)) {
      probes_failed_clearly += n;
    }
  }
  EXPECT_EQ(probes_failed_clearly, kProbes)
      << "status codes of the probes: "
      << absl::StrJoin(probe_codes, ",", absl::PairFormatter("x"));
  EXPECT_EQ(ok_during, 0) << "ApproveQuote succeeded while the api was cut from Postgres";
  FinishLoad();
  ASSERT_TRUE(WaitQuiet(absl::Seconds(Pick(120, 300))).ok()) << system_->Logs();
  // The probes changed nothing, even now that everything held back had its chance.
  std::string in_list;
  for (const std::string& q : probes)
    absl::StrAppend(&in_list, in_list.empty() ? "" : ",", "'", q, "'");
  const int64_t probes_not_draft = Count(
      url_,
      absl::StrCat("SELECT count(*) FROM quote.quotes WHERE status <> 'DRAFT' AND quote_id IN (",
                   in_list, ")"));
  const int64_t probe_records =
      Count(url_, absl::StrCat("SELECT count(*) FROM quote.requests WHERE request_id LIKE '",
                               prefix_, "probe-%-approve'"));
  EXPECT_EQ(probes_not_draft, 0) << "a probe approval sent during the cut changed its quote later";
  EXPECT_EQ(probe_records, 0);
  const bool ok = serving.ok() && flushed.ok() && probes_failed_clearly == kProbes &&
                  ok_during == 0 && probes_not_draft == 0 && probe_records == 0;
  Finish(absl::StrCat(
             "faults=cut api<->postgres for ", Ms(CutLength()), " probes=", kProbes,
             " probes-failed-unavailable-or-deadline=", probes_failed_clearly,
             " probes-changed-later=", probes_not_draft + probe_records,
             " ok-approvals-during-cut=", ok_during,
             " api-serving-again-after-heal=", serving.ok() ? Ms(serving_after) : "never",
             " held-back-bytes-cleared-after-heal=", flushed.ok() ? Ms(flushed_after) : "never"),
         ok);
}

// The workers' Postgres link cut, then a second instance of each worker (same consumer groups)
// started on worker-b: the rebalance happens while worker-a's handlers cannot reach the database.
// worker-b must get partitions and apply events during the cut (worker-a's stuck handlers must not
// hold the group), and nothing is applied twice when worker-a comes back.
TEST_F(NetPartition, WorkerPostgresDuringRebalance) {
  StartPlaced("netns-worker-postgres-rebalance");
  if (HasFatalFailure()) return;
  StartCutLoad();
  absl::Status applied;
  absl::Duration takeover;
  ASSERT_TRUE(CutAndHeal("worker-a", pg_->port(), [&] {
    absl::SleepFor(absl::Seconds(2));  // worker-a's handlers are now stuck on the database
    const int64_t before = Applied();
    const absl::Time started = absl::Now();
    for (const char* w : {"policy-worker", "customer-worker", "quote-worker"}) {
      absl::Status s = system_->StartCopy(absl::StrCat(w, "-b"), w, "worker-b");
      EXPECT_TRUE(s.ok()) << w << ": " << s;
    }
    applied = WaitFor([&] { return Applied() > before; },
                      CutLength() - (absl::Now() - cut_at_) - absl::Milliseconds(500),
                      "worker-b to apply events during the cut");
    takeover = absl::Now() - started;
  }));
  EXPECT_TRUE(applied.ok()) << applied << "\n" << system_->Logs();
  Finish(absl::StrCat("faults=cut worker-a<->postgres for ", Ms(CutLength()),
                      " + second worker instances started 2s into the cut;"
                      " worker-b-applying-after=",
                      applied.ok() ? Ms(takeover) : std::string("none during the cut")),
         applied.ok());
}

}  // namespace
}  // namespace quoteflow::chaos
