// saga-orchestrator's handler and deadline sweeper on a real PostgreSQL (issue 14, item 4):
// decisions are taken at the database's time (now() of their transaction), never a host's, and a
// STUCK saga is resolved by the reply its stuck step waited for.
#include "consumers/orchestrator/saga_orchestrator.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "platform/postgres/pg_pool.h"
#include "tests/support/test_environment.h"

namespace quoteflow::workers {
namespace {

using quoteflow::testing::Env;

const SagaSettings kSettings{.step_deadline = absl::Seconds(30),
                             .max_step_attempts = 2,
                             .max_compensation_attempts = 2,
                             .max_backoff = absl::Seconds(60)};

DomainEvent Approved(const std::string& q) {
  return DomainEvent{.event_id = absl::StrCat(q, "-approved"),
                     .aggregate_id = q,
                     .quote_id = q,
                     .aggregate_version = 2,
                     .occurred_at = absl::Now(),
                     .payload = QuoteApproved{.customer_id = "c1", .premium = 500}};
}

DomainEvent ReplyTo(const std::string& q, SagaStep step, int attempt, EventPayload payload) {
  return DomainEvent{.event_id = ReplyEventId(SagaCommandId(q, step, attempt)),
                     .aggregate_id = "x",
                     .quote_id = q,
                     .occurred_at = absl::Now(),
                     .payload = std::move(payload)};
}

class SagaOrchestratorDbTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok()); }

  // Delivers `event` in a transaction that began at least `age` earlier (its now() is that far
  // behind the wall clock: a host clock used instead of the database's shows as that gap), runs
  // `check` in the same transaction, then commits.
  void Deliver(const DomainEvent& event, absl::Duration age = absl::ZeroDuration(),
               const std::function<void(pqxx::work&)>& check = nullptr) {
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    tx.exec("SELECT now()");  // the transaction (and its now()) starts here
    const absl::Time deadline = absl::Now() + age + absl::Seconds(10);
    while (tx.exec1("SELECT extract(epoch from clock_timestamp() - now())")[0].as<double>() <
           absl::ToDoubleSeconds(age)) {
      ASSERT_LT(absl::Now(), deadline) << "the transaction never aged";
      absl::SleepFor(absl::Milliseconds(20));
    }
    absl::Status s = handler_.Handle(tx, messaging::InboundEvent{.event = event, .topic = "t"});
    ASSERT_TRUE(s.ok()) << s;
    if (check) check(tx);
    tx.commit();
  }

  pqxx::row Row(const std::string& sql) {
    pqxx::connection conn(Env().database_url());
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql);
  }
  void Exec(const std::string& sql) {
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  }
  std::string State(const std::string& q) {
    return Row(absl::StrCat("SELECT state FROM saga.sagas WHERE quote_id = '", q, "'"))[0]
        .as<std::string>();
  }

  SagaStats stats_;
  SagaEventHandler handler_{kSettings, stats_, /*active=*/true};
  PgPool pool_{{.database_url = Env().database_url(), .size = 2}};
  DeadlineSweeper sweeper_{pool_, kSettings, stats_, absl::Seconds(1), 100};
};

// Before issue 14 the handler stamped created_at, updated_at, the history and the deadline with the
// host's clock: here that is 1.5 s past the transaction's now(), and these checks fail.
TEST_F(SagaOrchestratorDbTest, DecisionsTakeTheDatabasesTime) {
  auto same_as_now = [](pqxx::work& tx, const std::string& what) {
    pqxx::row r =
        tx.exec1(absl::StrCat("SELECT abs(extract(epoch from ", what, " - now())) < 0.001,",
                              " deadline = ", what, " + interval '30 seconds', ", what,
                              "::text, now()::text FROM saga.sagas WHERE quote_id = 'q1'"));
    EXPECT_TRUE(r[0].as<bool>()) << what << " " << r[2].c_str() << " vs now() " << r[3].c_str();
    EXPECT_TRUE(r[1].as<bool>()) << "deadline is not " << what << " + step deadline";
  };
  Deliver(Approved("q1"), absl::Milliseconds(1500), [&](pqxx::work& tx) {
    same_as_now(tx, "created_at");
    same_as_now(tx, "updated_at");
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM saga.history WHERE quote_id = 'q1'"
                       " AND abs(extract(epoch from at - now())) >= 0.001")[0]
                  .as<int>(),
              0);
  });
  Deliver(ReplyTo("q1", SagaStep::kCreatePolicy, 1, PolicyCreated{"pol-q1", "c1", 500}),
          absl::Milliseconds(1500), [&](pqxx::work& tx) { same_as_now(tx, "updated_at"); });
  EXPECT_EQ(State("q1"), "CUSTOMER_UPDATE_REQUESTED");
}

// A transaction's events are decided in order on one lock of all their sagas: an event sees what
// the earlier ones of its batch decided (a reply right after its saga's start advances it, a
// repeated start does nothing), and the commands enter saga.outbox in that order.
TEST_F(SagaOrchestratorDbTest, BatchDecidesEachEventOnWhatTheEarlierOnesLeft) {
  Deliver(Approved("b"));
  const std::vector<DomainEvent> events = {
      Approved("a"),
      ReplyTo("a", SagaStep::kCreatePolicy, 1, PolicyCreated{"pol-a", "c1", 500}),
      Approved("b"),
      ReplyTo("b", SagaStep::kCreatePolicy, 1, PolicyCreated{"pol-b", "c1", 500}),
      ReplyTo("unknown", SagaStep::kCreatePolicy, 1, PolicyCreated{"pol-u", "c1", 500}),
      ReplyTo("a", SagaStep::kCountPolicy, 1, CustomerPolicyCountUpdated{"c1", "pol-a", 1, 1}),
  };
  std::vector<messaging::InboundEvent> inbound;
  for (const DomainEvent& e : events) inbound.push_back({.event = e, .topic = "t"});
  std::vector<const messaging::InboundEvent*> batch;
  for (const messaging::InboundEvent& in : inbound) batch.push_back(&in);
  {
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    absl::Status s = handler_.HandleBatch(tx, batch);
    ASSERT_TRUE(s.ok()) << s;
    tx.commit();
  }
  EXPECT_EQ(State("a"), "ISSUE_REQUESTED");
  EXPECT_EQ(State("b"), "CUSTOMER_UPDATE_REQUESTED");
  EXPECT_EQ(Row("SELECT count(*) FROM saga.sagas WHERE quote_id = 'unknown'")[0].as<int>(), 0);
  EXPECT_EQ(Row("SELECT version FROM saga.sagas WHERE quote_id = 'a'")[0].as<int>(), 3);
  EXPECT_EQ(Row("SELECT version FROM saga.sagas WHERE quote_id = 'b'")[0].as<int>(), 2);
  EXPECT_EQ(Row("SELECT string_agg(event_type || ':' || quote_id, ',' ORDER BY seq)"
                " FROM saga.outbox")[0]
                .as<std::string>(),
            "CreatePolicy:b,CreatePolicy:a,UpdateCustomerPolicyCount:a,"
            "UpdateCustomerPolicyCount:b,IssueQuote:a");
  EXPECT_EQ(stats_.started.load(), 2);
  EXPECT_EQ(stats_.replies.load(), 3);
}

// The sweeper selects `deadline <= now()` in SQL and re-sends at the database's time.
TEST_F(SagaOrchestratorDbTest, SweeperExpiresByTheDatabasesClock) {
  Deliver(Approved("due"));
  Deliver(Approved("later"));
  Exec("UPDATE saga.sagas SET deadline = now() - interval '1 second' WHERE quote_id = 'due'");
  Exec("UPDATE saga.sagas SET deadline = now() + interval '10 minutes' WHERE quote_id = 'later'");
  absl::StatusOr<int> swept = sweeper_.SweepOnce();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1);
  pqxx::row due =
      Row("SELECT attempt, deadline - updated_at = interval '30 seconds',"
          " abs(extract(epoch from updated_at - clock_timestamp())) < 5"
          " FROM saga.sagas WHERE quote_id = 'due'");
  EXPECT_EQ(due[0].as<int>(), 2);
  EXPECT_TRUE(due[1].as<bool>());
  EXPECT_TRUE(due[2].as<bool>());
  EXPECT_EQ(Row("SELECT attempt FROM saga.sagas WHERE quote_id = 'later'")[0].as<int>(), 1);
  swept = sweeper_.SweepOnce();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 0);
}

// Issue 14: a STUCK saga recorded the reply that would resolve it as "late-reply" and stayed STUCK.
TEST_F(SagaOrchestratorDbTest, ReplyToTheStuckStepResolvesTheSaga) {
  Deliver(Approved("q1"));
  Deliver(ReplyTo("q1", SagaStep::kCreatePolicy, 1, QuoteRejected{"c1", "refused", ""}));
  ASSERT_EQ(State("q1"), "REJECT_QUOTE_REQUESTED");
  // RejectQuote gets no reply: two expired deadlines (the budget of kSettings), then STUCK.
  for (int i = 0; i < 2; ++i) {
    Exec("UPDATE saga.sagas SET deadline = now() - interval '1 second' WHERE quote_id = 'q1'");
    absl::StatusOr<int> swept = sweeper_.SweepOnce();
    ASSERT_TRUE(swept.ok()) << swept.status();
    ASSERT_EQ(*swept, 1);
  }
  ASSERT_EQ(State("q1"), "STUCK");
  EXPECT_EQ(stats_.stuck_total.load(), 1);
  // The outage ends: the reply to the first RejectQuote arrives.
  Deliver(ReplyTo("q1", SagaStep::kRejectQuote, 1, QuoteRejected{"c1", "refused", ""}));
  EXPECT_EQ(State("q1"), "COMPENSATED");
  EXPECT_EQ(Row("SELECT stuck_reason FROM saga.sagas WHERE quote_id = 'q1'")[0].as<std::string>(),
            "");
  EXPECT_EQ(Row("SELECT count(*) FROM saga.history WHERE quote_id = 'q1'"
                " AND step = 'reject-quote' AND outcome = 'unstuck'")[0]
                .as<int>(),
            1);
  // A later reply of another attempt changes nothing.
  Deliver(ReplyTo("q1", SagaStep::kRejectQuote, 2, QuoteRejected{"c1", "refused", ""}));
  EXPECT_EQ(State("q1"), "COMPENSATED");
}

}  // namespace
}  // namespace quoteflow::workers
