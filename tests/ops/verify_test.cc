// `quotectl verify` against a real PostgreSQL: a consistent saga state (issued, both compensations,
// an approval in flight, a draft) reports nothing and exits 0; each planted inconsistency is
// reported by its check and makes the command exit 1.
#include "tools/quotectl/verify.h"

#include <pqxx/pqxx>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/test_environment.h"

namespace quoteflow::quotectl {
namespace {

using ::quoteflow::testing::Env;

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok());
    conn_ = std::make_unique<pqxx::connection>(Env().database_url());
    // A consistent state. alice: two issued quotes (counted), one compensated after her limit
    // (policy CANCELLED, count REJECTED), one refused by underwriting (no policy), one approval in
    // flight (policy ACTIVE, not counted yet), one draft.
    Customer("alice", 2);
    Quote("q1", "alice", "ISSUED");
    Policy("q1", "alice", "ACTIVE");
    Count("q1", "alice", "COUNTED");
    Quote("q2", "alice", "ISSUED");
    Policy("q2", "alice", "ACTIVE");
    Count("q2", "alice", "COUNTED");
    Quote("q3", "alice", "REJECTED");
    Policy("q3", "alice", "CANCELLED");
    Count("q3", "alice", "REJECTED");
    Quote("q4", "alice", "REJECTED");
    Quote("q5", "alice", "APPROVED");
    Policy("q5", "alice", "ACTIVE");
    Quote("q6", "alice", "DRAFT");
    Customer("bob", 0);
  }

  void Exec(const std::string& sql) {
    pqxx::work tx(*conn_);
    tx.exec(sql);
    tx.commit();
  }
  // `age` ago (a Postgres interval) is when the row last changed.
  void Quote(const std::string& id, const std::string& customer, const std::string& status,
             const std::string& age = "0 s") {
    Exec(
        absl::StrCat("INSERT INTO quote.quotes (quote_id, customer_id, premium, status, version,"
                     " rejection_reason, created_at, updated_at) VALUES ('",
                     id, "', '", customer, "', 1000, '", status, "', 2, '",
                     status == "REJECTED" ? "refused" : "", "', now() - interval '", age,
                     "', now() - interval '", age, "')"));
  }
  void Policy(const std::string& quote, const std::string& customer, const std::string& status,
              const std::string& age = "0 s") {
    Exec(
        absl::StrCat("INSERT INTO policy.policies (policy_id, quote_id, customer_id, premium,"
                     " status, quote_version, version, created_at, updated_at) VALUES ('pol-",
                     quote, "', '", quote, "', '", customer, "', 1000, '", status,
                     "', 2, 1, now() - interval '", age, "', now() - interval '", age, "')"));
  }
  void Customer(const std::string& id, int count) {
    Exec(
        absl::StrCat("INSERT INTO customer.customers (customer_id, name, max_policies,"
                     " policy_count, version, created_at, updated_at) VALUES ('",
                     id, "', '", id, "', 3, ", count, ", 1, now(), now())"));
  }
  void Count(const std::string& quote, const std::string& customer, const std::string& status,
             const std::string& age = "0 s") {
    Exec(
        absl::StrCat("INSERT INTO customer.policy_counts (policy_id, customer_id, quote_id,"
                     " status, updated_at) VALUES ('pol-",
                     quote, "', '", customer, "', '", quote, "', '", status,
                     "', now() - interval '", age, "')"));
  }

  // Runs the command; returns its exit code, and its stdout in `out`.
  int Run(std::vector<std::string> args, std::string* out) {
    std::ostringstream o, e;
    int code = RunVerifyCommand(args, Env().database_url(), o, e);
    *out = o.str() + e.str();
    return code;
  }

  std::unique_ptr<pqxx::connection> conn_;
};

TEST_F(VerifyTest, ConsistentStateHasNoProblems) {
  absl::StatusOr<VerifyReport> report = Verify(Env().database_url(), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->problems.empty())
      << report->problems.front().check << ": " << report->problems.front().detail;
  EXPECT_EQ(report->quotes, 6);
  EXPECT_EQ(report->policies, 4);
  EXPECT_EQ(report->customers, 2);
  EXPECT_EQ(report->by_check.size(), 7u);
  std::string out;
  EXPECT_EQ(Run({"verify"}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out,
                                "verify: 0 inconsistencies in 6 quotes, 4 policies, "
                                "2 customers (stuck after 5m)"))
      << out;
}

TEST_F(VerifyTest, FindsEachPlantedInconsistency) {
  Quote("q7", "bob", "ISSUED");  // no policy at all
  Quote("q8", "bob", "DRAFT");
  Policy("q8", "bob", "ACTIVE");  // a policy for a quote never approved
  Quote("q9", "bob", "REJECTED");
  Policy("q9", "bob", "ACTIVE");                  // compensation not applied
  Quote("q10", "bob", "APPROVED", "10 minutes");  // saga stuck
  Customer("carol", 5);                           // counts nothing
  Quote("q11", "bob", "ISSUED");
  Policy("q11", "bob", "ACTIVE");  // issued, but bob never counted it
  Customer("dave", 1);
  Count("q12", "dave", "COUNTED", "10 minutes");  // counted, policy missing

  std::string out;
  EXPECT_EQ(Run({"verify"}, &out), 1);
  for (const char* line : {
           "issued_without_one_active_policy: q7: quote ISSUED with 0 ACTIVE policies (customer "
           "bob)\n",
           "active_policy_quote_state: pol-q8: policy ACTIVE but its quote q8 is DRAFT\n",
           "rejected_with_active_policy: q9: quote REJECTED (refused) but policy pol-q9 is "
           "ACTIVE\n",
           "stuck_approved: q10: quote APPROVED since ",
           "policy_count_mismatch: carol: policy_count 5 but 0 policies COUNTED\n",
           "issued_policy_not_counted: pol-q11: policy ACTIVE for ISSUED quote q11 but unknown "
           "for customer bob\n",
           "counted_policy_not_active: pol-q12: policy COUNTED for customer dave but it is "
           "missing\n",
           "verify: 7 inconsistencies (",
       }) {
    EXPECT_TRUE(absl::StrContains(out, line)) << "missing: " << line << "\nin:\n" << out;
  }
  absl::StatusOr<VerifyReport> report = Verify(Env().database_url(), {});
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& [check, n] : report->by_check) EXPECT_EQ(n, 1) << check;

  // A longer --stuck-after tolerates the slow saga (and the old COUNTED row).
  EXPECT_EQ(Run({"verify", "--stuck-after=1h"}, &out), 1);
  EXPECT_FALSE(absl::StrContains(out, "stuck_approved: q10")) << out;
  EXPECT_FALSE(absl::StrContains(out, "counted_policy_not_active")) << out;
}

TEST_F(VerifyTest, CountedPolicyCancelledJustNowIsNotReported) {
  // A cancellation in flight: the policy was cancelled a moment ago, the customer not told yet.
  Customer("erin", 1);
  Quote("q20", "erin", "APPROVED");
  Policy("q20", "erin", "CANCELLED");
  Count("q20", "erin", "COUNTED", "10 minutes");
  std::string out;
  EXPECT_EQ(Run({"verify"}, &out), 0) << out;
}

TEST_F(VerifyTest, MaxPrintCapsLinesPerCheck) {
  for (int i = 0; i < 5; ++i) Quote(absl::StrCat("stuck-", i), "bob", "APPROVED", "1 hour");
  std::string out;
  EXPECT_EQ(Run({"verify", "--max-print", "2"}, &out), 1);
  EXPECT_TRUE(absl::StrContains(out, "stuck_approved: ... and 3 more\n")) << out;
  EXPECT_TRUE(absl::StrContains(out, "verify: 5 inconsistencies (stuck_approved=5)")) << out;
}

TEST(VerifyUsageTest, BadArgumentsAreUsageErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(RunVerifyCommand({"verify", "--stuck-after=soon"}, "postgresql://unused", out, err), 2);
  EXPECT_TRUE(absl::StrContains(err.str(), "--stuck-after: 'soon'")) << err.str();
  EXPECT_EQ(RunVerifyCommand({"verify", "--frobnicate"}, "postgresql://unused", out, err), 2);
}

TEST(VerifyUsageTest, UnreachableDatabaseFails) {
  std::ostringstream out, err;
  EXPECT_EQ(RunVerifyCommand({"verify"}, "postgresql://nobody@127.0.0.1:1/none", out, err), 1);
  EXPECT_TRUE(absl::StrContains(err.str(), "cannot connect to Postgres")) << err.str();
}

}  // namespace
}  // namespace quoteflow::quotectl
