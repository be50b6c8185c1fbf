// Bounded tables (issue 14, item 5) on a real PostgreSQL: while rows keep arriving in every table a
// worker sweeps (an inbox, quote.requests, customer.requests, saga.history), the RetentionSweeper
// with a short retention keeps each table's size flat over a run that sweeps many times; rows it
// must keep (another consumer's inbox rows, the history of a saga still running) stay. The
// retention options refuse a window shorter than the replay window.
#include "consumers/common/retention_sweeper.h"

#include <algorithm>
#include <iostream>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/test_environment.h"

namespace quoteflow::workers {
namespace {

using quoteflow::testing::Env;

class RetentionSweeperTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok()); }

  void Exec(const std::string& sql) {
    pqxx::work tx(conn_);
    tx.exec(sql);
    tx.commit();
  }
  int64_t Count(const std::string& sql) {
    pqxx::nontransaction tx(conn_);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  // One round of arrivals: `n` rows in each swept table, stamped now (as the services write them).
  void Arrive(int round, int n) {
    std::string sql;
    for (int i = 0; i < n; ++i) {
      const std::string id = absl::StrCat("r", round, "-", i);
      absl::StrAppend(&sql,
                      "INSERT INTO policy.inbox (consumer, event_id) VALUES ('policy-worker', '",
                      id, "');");
      absl::StrAppend(
          &sql,
          "INSERT INTO quote.requests (request_id, operation, quote_id, status, version,"
          " updated_at) VALUES ('",
          id, "', 'approve', 'q-", id, "', 'APPROVED', 2, now());");
      absl::StrAppend(&sql, "INSERT INTO customer.requests (request_id, customer_id) VALUES ('", id,
                      "', 'c-", id, "');");
    }
    // A finished saga with n history rows.
    const std::string q = absl::StrCat("q-done-", round);
    absl::StrAppend(&sql, Saga(q, "COMPLETED"));
    for (int i = 0; i < n; ++i) {
      absl::StrAppend(&sql,
                      "INSERT INTO saga.history (quote_id, at, step, attempt, outcome)"
                      " VALUES ('",
                      q, "', now(), 'saga', 0, 'x');");
    }
    Exec(sql);
  }

  static std::string Saga(const std::string& q, const std::string& state) {
    return absl::StrCat(
        "INSERT INTO saga.sagas (quote_id, customer_id, policy_id, premium, quote_version, state,"
        " step, attempt, step_attempts, version, created_at, updated_at) VALUES ('",
        q, "', 'c1', 'pol-", q, "', 1, 2, '", state, "', 'issue-quote', 1, 1, 1, now(), now());");
  }

  pqxx::connection conn_{Env().database_url()};
};

std::vector<RetentionTable> AllTables() {
  return {InboxTable("policy", "policy-worker"), QuoteRequestsTable(), CustomerRequestsTable(),
          FinishedSagaHistoryTable()};
}

// Rows arrive at a steady rate for 6 s; the retention is 1 s and the sweep runs every 200 ms, so
// each table should hold about 1 s of arrivals (plus one interval). Without the sweep every table
// grows to the whole run, 6x the bound: the test fails if the sweep does nothing.
TEST_F(RetentionSweeperTest, TableSizesStayFlatOverManySweeps) {
  // Rows the sweep must keep whatever their age: another consumer's inbox rows, and the history
  // of a saga still running.
  Exec(Saga("q-running", "ISSUE_REQUESTED"));
  Exec(
      "INSERT INTO policy.inbox (consumer, event_id, received_at) VALUES"
      " ('other-consumer', 'old', now() - interval '1 hour');"
      "INSERT INTO saga.history (quote_id, at, step, attempt, outcome) VALUES"
      " ('q-running', now() - interval '1 hour', 'saga', 0, 'started')");

  const RetentionOptions options{.retention = absl::Seconds(1),
                                 .replay_window = absl::Seconds(1),
                                 .interval = absl::Milliseconds(200),
                                 .batch = 50};
  ASSERT_TRUE(ValidateRetention(options).ok());
  PgPool pool({.database_url = Env().database_url(), .size = 2});
  RetentionSweeper sweeper(pool, AllTables(), options);
  sweeper.Start();

  const char* const kSizes[] = {
      "SELECT count(*) FROM policy.inbox WHERE consumer = 'policy-worker'",
      "SELECT count(*) FROM quote.requests",
      "SELECT count(*) FROM customer.requests",
      "SELECT count(*) FROM saga.history WHERE quote_id LIKE 'q-done-%'",
  };
  constexpr int kPerRound = 8;  // every 50 ms: 160 rows/s per table
  constexpr int kBound = 320;   // 160 rows/s x (1 s retention + 0.2 s interval + 0.8 s slack)
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(6);
  std::vector<int64_t> max(4, 0);
  int samples = 0;
  int round = 0;
  absl::Time next_sample = start + absl::Seconds(2);  // past the first retention window
  for (absl::Time next_round = start; absl::Now() < end; next_round += absl::Milliseconds(50)) {
    Arrive(round++, kPerRound);
    if (absl::Now() >= next_sample) {
      for (int t = 0; t < 4; ++t) max[t] = std::max(max[t], Count(kSizes[t]));
      ++samples;
      next_sample += absl::Milliseconds(250);
    }
    absl::SleepFor(next_round + absl::Milliseconds(50) - absl::Now());  // the arrival rate
  }
  const int64_t arrived = static_cast<int64_t>(round) * kPerRound;
  ASSERT_GE(arrived, 3 * kBound) << "the run is too short to tell a sweep from none";
  EXPECT_GE(samples, 10);
  for (int t = 0; t < 4; ++t) {
    std::cout << "RETENTION " << AllTables()[t].table << " arrived=" << arrived
              << " max_rows_after_2s=" << max[t] << " bound=" << kBound
              << " deleted=" << sweeper.deleted(AllTables()[t].table)
              << " passes=" << sweeper.passes() << "\n";
  }
  for (int t = 0; t < 4; ++t) {
    EXPECT_LE(max[t], kBound) << kSizes[t] << ": grew with the run (" << arrived << " arrived)";
    EXPECT_GT(max[t], 0) << kSizes[t];
  }
  EXPECT_GE(sweeper.passes(), 10);
  for (const RetentionTable& t : AllTables()) {
    EXPECT_GT(sweeper.deleted(t.table), kBound) << t.table;
  }
  // Kept: another consumer's inbox rows, the history of a saga still running.
  EXPECT_EQ(Count("SELECT count(*) FROM policy.inbox WHERE consumer = 'other-consumer'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM saga.history WHERE quote_id = 'q-running'"), 1);
}

// One pass deletes in bounded batches until the table is within its window.
TEST_F(RetentionSweeperTest, APassDeletesInBatchesUntilDone) {
  Exec(
      "INSERT INTO customer.requests (request_id, customer_id, created_at)"
      " SELECT 'old-' || i, 'c', now() - interval '2 hours' FROM generate_series(1, 250) i;"
      "INSERT INTO customer.requests (request_id, customer_id)"
      " SELECT 'new-' || i, 'c' FROM generate_series(1, 7) i");
  PgPool pool({.database_url = Env().database_url(), .size = 1});
  RetentionSweeper sweeper(pool, {CustomerRequestsTable()},
                           {.retention = absl::Hours(1),
                            .replay_window = absl::Hours(1),
                            .interval = absl::Minutes(1),
                            .batch = 100});
  absl::StatusOr<int64_t> n = sweeper.SweepOnce();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 250);
  EXPECT_EQ(Count("SELECT count(*) FROM customer.requests"), 7);
  n = sweeper.SweepOnce();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0);
}

absl::StatusOr<RetentionOptions> Parse(std::vector<std::string> args) {
  Config config("test", "test");
  DeclareRetentionOptions(config);
  args.insert(args.begin(), "test");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  if (auto parsed = config.Parse(static_cast<int>(argv.size()), argv.data()); !parsed.ok()) {
    return parsed.status();
  }
  return RetentionOptionsFromConfig(config);
}

TEST(RetentionOptionsTest, RetentionIsAtLeastTheReplayWindow) {
  absl::StatusOr<RetentionOptions> o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->retention, absl::Hours(336));
  EXPECT_EQ(o->replay_window, absl::Hours(336));
  o = Parse({"--retention=24h"});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("shorter than --replay-window"), std::string::npos)
      << o.status();
  o = Parse({"--retention=24h", "--replay-window=12h", "--retention-sweep-interval=10s"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->interval, absl::Seconds(10));
  EXPECT_FALSE(Parse({"--replay-window=0s", "--retention=1h"}).ok());
  EXPECT_FALSE(Parse({"--retention-sweep-interval=0s"}).ok());
  EXPECT_FALSE(Parse({"--retention-sweep-batch=0"}).ok());
}

}  // namespace
}  // namespace quoteflow::workers
