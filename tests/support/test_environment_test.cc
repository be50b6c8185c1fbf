// Integration tests of the test support itself: the shared environment, LocalPostgres stop/restart
// and persistence, ResetDatabase() and WaitFor().
#include "tests/support/test_environment.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "platform/kafka/kafka_admin.h"
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "platform/local/local_postgres.h"

namespace quoteflow::testing {
namespace {

long long Count(const std::string& url, const std::string& table) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec1("SELECT count(*) FROM " + table)[0].as<long long>();
}

void Exec(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec(sql);
  tx.commit();
}

// True while `pid` exists and is not a zombie (a reaped child of ours counts as gone).
bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  int wstatus = 0;
  if (waitpid(pid, &wstatus, WNOHANG) == pid) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t paren = content.rfind(')');
  return paren == std::string::npos || content.size() < paren + 3 || content[paren + 2] != 'Z';
}

class TestSupportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ResetDatabase().ok()); }
};

TEST_F(TestSupportTest, SelectWorksAndMigrationsAreApplied) {
  pqxx::connection conn(Env().database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT 1 + 1")[0].as<int>(), 2);
  EXPECT_EQ(tx.exec1("SELECT current_database()")[0].as<std::string>(), "quoteflow");
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'quote' "
                     "AND table_name IN ('quotes', 'outbox', 'inbox')")[0]
                .as<int>(),
            3);
  EXPECT_EQ(tx.exec1("SHOW max_connections")[0].as<std::string>(), "300");
  EXPECT_EQ(tx.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>(), "1min");
  EXPECT_EQ(tx.exec1("SHOW fsync")[0].as<std::string>(), "off");
  ASSERT_NE(Env().postgres(), nullptr);
  EXPECT_EQ(
      Env().database_url(),
      absl::StrCat("postgresql://quoteflow@127.0.0.1:", Env().postgres()->port(), "/quoteflow"));
}

TEST_F(TestSupportTest, ResetDatabaseEmptiesServiceTablesAndKeepsSchema) {
  const std::string url = Env().database_url();
  Exec(url,
       "INSERT INTO quote.quotes VALUES ('q1', 'c1', 100, 'DRAFT', 1, '', now(), now());"
       "INSERT INTO policy.outbox (event_id, event_type, aggregate_type, aggregate_id, "
       "  aggregate_version, quote_id, payload, source, occurred_at) "
       "  VALUES ('e1', 'PolicyCreated', 'Policy', 'p1', 1, 'q1', '{}', 'test', now());"
       "INSERT INTO customer.inbox (consumer, event_id) VALUES ('c', 'e1');");
  ASSERT_EQ(Count(url, "quote.quotes"), 1);
  ASSERT_EQ(Count(url, "policy.outbox"), 1);

  ASSERT_TRUE(ResetDatabase().ok());

  EXPECT_EQ(Count(url, "quote.quotes"), 0);
  EXPECT_EQ(Count(url, "policy.outbox"), 0);
  EXPECT_EQ(Count(url, "customer.inbox"), 0);
  // Sequences restart, so tests see deterministic seq values.
  Exec(url,
       "INSERT INTO policy.outbox (event_id, event_type, aggregate_type, aggregate_id, "
       "  aggregate_version, quote_id, payload, source, occurred_at) "
       "  VALUES ('e2', 'PolicyCreated', 'Policy', 'p1', 1, 'q1', '{}', 'test', now());");
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT seq FROM policy.outbox")[0].as<long long>(), 1);
  // The migrations bookkeeping survives (when the real ApplyMigrations keeps one).
  pqxx::result bookkeeping = tx.exec(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' "
      "AND table_name = 'quoteflow_migrations'");
  if (!bookkeeping.empty()) {
    EXPECT_GT(tx.exec1("SELECT count(*) FROM public.quoteflow_migrations")[0].as<long long>(), 0);
  }
}

TEST_F(TestSupportTest, SharedClusterKeepsCommittedDataAcrossImmediateStop) {
  LocalPostgres* pg = Env().postgres();
  if (pg == nullptr) GTEST_SKIP() << "external database";
  const std::string url = Env().database_url();
  Exec(url, "INSERT INTO quote.quotes VALUES ('q-crash', 'c1', 100, 'DRAFT', 1, '', now(), now())");
  ASSERT_TRUE(pg->Stop(LocalPostgres::Mode::kImmediate).ok());
  EXPECT_FALSE(pg->running());
  EXPECT_THROW(Count(url, "quote.quotes"), pqxx::broken_connection);
  absl::Time t0 = absl::Now();
  absl::Status restarted = pg->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  std::printf("[ timing ] restart after immediate stop (crash recovery): %lld ms\n",
              static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0)));
  EXPECT_EQ(pg->database_url(), url);
  EXPECT_EQ(Count(url, "quote.quotes"), 1);
}

TEST_F(TestSupportTest, RestartFromAShortLivedThreadKeepsServerAlive) {
  LocalPostgres* pg = Env().postgres();
  if (pg == nullptr) GTEST_SKIP() << "external database";
  absl::Status restarted;
  std::thread([&] { restarted = pg->Restart(); }).join();
  ASSERT_TRUE(restarted.ok()) << restarted;
  // PDEATHSIG would have fired when that thread exited had it forked the postmaster.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(pg->running());
  EXPECT_EQ(Count(Env().database_url(), "quote.quotes"), 0);
}

TEST(LocalPostgresTest, DurableClusterKeepsDataAcrossImmediateStopAndRestart) {
  absl::Time t0 = absl::Now();
  auto started = LocalPostgres::Start({.durable = true});
  ASSERT_TRUE(started.ok()) << started.status();
  std::printf("[ timing ] durable cluster initdb+start+createdb: %lld ms\n",
              static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0)));
  std::unique_ptr<LocalPostgres> pg = std::move(started).value();
  const std::string url = pg->database_url();
  const int port = pg->port();
  {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    EXPECT_EQ(tx.exec1("SHOW fsync")[0].as<std::string>(), "on");
  }
  Exec(url, "CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000)");

  ASSERT_TRUE(pg->Stop(LocalPostgres::Mode::kImmediate).ok());
  EXPECT_FALSE(pg->running());
  absl::Status restarted = pg->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(pg->port(), port);
  EXPECT_EQ(Count(url, "t"), 1000);

  const std::string dir = std::filesystem::path(pg->data_dir()).parent_path().string();
  pg.reset();
  EXPECT_FALSE(std::filesystem::exists(dir)) << "temp dir not removed: " << dir;
}

TEST(LocalPostgresTest, PersistentDirIsReusedAndKept) {
  char tmpl[] = "/tmp/quoteflow-pgtest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  if (geteuid() == 0) chmod(root.c_str(), 0755);  // the postgres user must traverse it
  const std::string dir = root + "/pg";
  {
    auto pg = LocalPostgres::Start({.dir = dir});
    ASSERT_TRUE(pg.ok()) << pg.status();
    Exec((*pg)->database_url(), "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)");
  }
  EXPECT_TRUE(std::filesystem::exists(dir + "/data/PG_VERSION"));
  {
    absl::Time t0 = absl::Now();
    auto pg = LocalPostgres::Start({.dir = dir});
    ASSERT_TRUE(pg.ok()) << pg.status();
    std::printf("[ timing ] start of an already initialized cluster: %lld ms\n",
                static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0)));
    EXPECT_EQ(Count((*pg)->database_url(), "kept"), 1);
  }
  std::filesystem::remove_all(root);
}

TEST(LocalPostgresTest, ExtraSettingsAreApplied) {
  LocalPostgres::Options options;
  options.idle_in_transaction_session_timeout = "5s";
  options.settings = {{"application_name", "settings_test"}, {"work_mem", "8MB"}};
  auto pg = LocalPostgres::Start(options);
  ASSERT_TRUE(pg.ok()) << pg.status();
  pqxx::connection conn((*pg)->database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SHOW work_mem")[0].as<std::string>(), "8MB");
  EXPECT_EQ(tx.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>(), "5s");
}

TEST(LocalPostgresTest, BadSettingFailsWithServerLogInError) {
  LocalPostgres::Options options;
  options.settings = {{"no_such_setting_xyz", "1"}};
  auto pg = LocalPostgres::Start(options);
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(pg.status().message().find("no_such_setting_xyz"), absl::string_view::npos)
      << pg.status();
}

TEST(LocalPostgresTest, PostmasterDiesWithACrashedOwner) {
  // Become the subreaper for the orphaned postmaster, so it is reaped here rather than left a
  // zombie under a PID 1 that may not reap (containers).
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  FILE* out = popen(CRASH_HELPER, "r");
  ASSERT_NE(out, nullptr);
  char line[4096] = {0};
  ASSERT_NE(fgets(line, sizeof(line), out), nullptr) << "helper printed nothing";
  pclose(out);  // the helper SIGKILLed itself after printing
  int pid = 0;
  char dir[4000] = {0};
  ASSERT_EQ(sscanf(line, "PID %d DIR %3999s", &pid, dir), 2) << line;
  ASSERT_GT(pid, 0);
  absl::Status gone = WaitFor([&] { return !ProcessAlive(pid); }, absl::Seconds(30),
                              absl::StrCat("postmaster ", pid, " to exit after its owner died"));
  EXPECT_TRUE(gone.ok()) << gone;
  if (!gone.ok()) kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST(WaitForTest, ReturnsOkOnceTrueAndDescribesTimeout) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls >= 3; }, absl::Seconds(5), "three calls").ok());
  EXPECT_EQ(calls, 3);

  absl::Status timed_out = WaitFor([] { return false; }, absl::Milliseconds(30), "never");
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(timed_out.message().find("waiting for never"), absl::string_view::npos) << timed_out;

  absl::Status explained = WaitFor(
      []() -> absl::Status { return absl::FailedPreconditionError("outbox has 3 rows left"); },
      absl::Milliseconds(30), "outbox to drain");
  EXPECT_EQ(explained.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(explained.message().find("outbox has 3 rows left"), absl::string_view::npos)
      << explained;
}

// The run's real Kafka: topics made with this process's prefix get a leader on every partition,
// and the Event Hubs-shaped SASL_SSL listener is there.
TEST(KafkaTest, RealBrokerTakesTopicsWithThisProcesssPrefix) {
  const std::string servers = Env().bootstrap_servers();
  ASSERT_FALSE(servers.empty());
  EXPECT_FALSE(Env().topic_prefix().empty());
  EXPECT_NE(Env().topic_prefix().find(std::to_string(getpid())), std::string::npos);
  const std::string topic = Env().topic_prefix() + "probe";
  ASSERT_TRUE(Env().CreateTopics(topic + ":3").ok());
  ASSERT_TRUE(Env().CreateTopics(topic + ":3").ok()) << "creating an existing topic is a no-op";
  absl::StatusOr<std::vector<int32_t>> leaders =
      kafka::PartitionLeaders(kafka::KafkaSettings(servers, {}), topic);
  ASSERT_TRUE(leaders.ok()) << leaders.status();
  ASSERT_EQ(leaders->size(), 3u);
  for (int32_t leader : *leaders) EXPECT_GE(leader, 1);
  EXPECT_EQ(kafka::PartitionLeaders(kafka::KafkaSettings(servers, {}), topic + "-absent")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<QuoteflowEnvironment::SaslSsl> sasl = Env().sasl_ssl();
  ASSERT_TRUE(sasl.ok()) << sasl.status();
  EXPECT_TRUE(absl::StartsWith(sasl->password, "Endpoint=sb://")) << "an Event Hubs-shaped secret";
  EXPECT_TRUE(std::filesystem::exists(sasl->ca_file)) << sasl->ca_file;
}

}  // namespace
}  // namespace quoteflow::testing
