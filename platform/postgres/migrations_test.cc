// The migration runner on a real PostgreSQL: order, bookkeeping, re-runs, edited files, and the
// start-up check every binary runs.
#include "platform/postgres/migrations.h"

#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

class MigrationsTest : public ::testing::Test {
 protected:
  // A fresh database per test, so that the embedded migrations of the shared one stay untouched.
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    db_ = "mig_" + absl::AsciiStrToLower(name);
    pqxx::connection admin(testing::Env().database_url());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(db_));
    tx.exec("CREATE DATABASE " + tx.quote_name(db_));
    url_ = testing::Env().postgres()->DatabaseUrl(db_);
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int64_t>();
  }

  std::string db_;
  std::string url_;
};

const MigrationFile kV1[] = {
    {1, "0001_a.sql", "CREATE TABLE a (id int); INSERT INTO a VALUES (1);"},
    {2, "0002_b.sql", "CREATE TABLE b (id int);"},
};

TEST_F(MigrationsTest, AppliesInOrderAndARerunIsANoOp) {
  auto first = ApplyMigrations(url_, kV1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied, (std::vector<std::string>{"0001_a.sql", "0002_b.sql"}));
  auto again = ApplyMigrations(url_, kV1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->already_applied.size(), 2u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM a"), 1);  // not run twice
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.quoteflow_migrations"), 2);
}

TEST_F(MigrationsTest, AnEditedAppliedFileIsRefused) {
  ASSERT_TRUE(ApplyMigrations(url_, kV1).ok());
  const MigrationFile edited[] = {
      {1, "0001_a.sql", "CREATE TABLE a (id bigint);"},
      {2, "0002_b.sql", "CREATE TABLE b (id int);"},
      {3, "0003_c.sql", "CREATE TABLE c (id int);"},
  };
  auto r = ApplyMigrations(url_, edited);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "0001_a.sql was edited")) << r.status();
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'c'"), 0);
}

TEST_F(MigrationsTest, AFailingMigrationLeavesNothingOfItself) {
  const MigrationFile broken[] = {
      {1, "0001_a.sql", "CREATE TABLE a (id int);"},
      {2, "0002_bad.sql", "CREATE TABLE half (id int); SELECT no_such_function();"},
  };
  auto r = ApplyMigrations(url_, broken);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "0002_bad.sql")) << r.status();
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'half'"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM public.quoteflow_migrations"), 1);
}

TEST_F(MigrationsTest, CheckSaysWhatIsPendingUntilMigrated) {
  absl::Status before = CheckMigrations(url_);
  EXPECT_EQ(before.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(before.message(), "quotectl migrate")) << before;
  ASSERT_TRUE(ApplyMigrations(url_).ok());
  EXPECT_TRUE(CheckMigrations(url_).ok());
}

// No NOTIFY inside the writing transaction (0007_outbox_doorbell.sql): once migrated, no outbox
// has a trigger, and an outbox created by a later migration has none either; every outbox, later
// ones included, has the relay's index of ready rows (0011_outbox_ready_index.sql).
TEST_F(MigrationsTest, NoOutboxNotifiesFromItsWritingTransaction) {
  ASSERT_TRUE(ApplyMigrations(url_).ok());
  const std::string triggers_on_outboxes =
      "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
      "WHERE c.relname = 'outbox' AND NOT t.tgisinternal";
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_class WHERE relname = 'outbox'"), 4);
  EXPECT_EQ(Scalar(triggers_on_outboxes), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_proc WHERE proname = 'outbox_notify'"), 0);
  {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE SCHEMA later; SELECT public.quoteflow_create_outbox('later')");
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_class WHERE relname = 'outbox'"), 5);
  EXPECT_EQ(Scalar(triggers_on_outboxes), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'outbox_ready'"), 5);
}

TEST_F(MigrationsTest, UnreachableDatabaseIsUnavailable) {
  EXPECT_EQ(CheckMigrations("postgresql://quoteflow@127.0.0.1:1/none").code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace quoteflow
