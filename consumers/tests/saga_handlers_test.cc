// The three workers' EventHandlers on a real PostgreSQL, called the way the consumer runtime calls
// them (one transaction per event, committed when Handle returns OK): effects and outbox rows,
// duplicates delivered in separate transactions, every compensation path, concurrent events of one
// customer, and the whole choreography pumped through the outboxes without Kafka.
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "consumers/common/doorbell_handler.h"
#include "consumers/customer/customer_event_handler.h"
#include "consumers/policy/policy_event_handler.h"
#include "consumers/quote/quote_event_handler.h"
#include "gtest/gtest.h"
#include "platform/events/event_codec.h"
#include "platform/runtime/runtime.h"
#include "tests/support/test_environment.h"

namespace quoteflow::workers {
namespace {

using quoteflow::testing::Env;

constexpr char kTrace[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr int64_t kLimit = 1'000'000;

struct OutboxRow {
  std::string event_id, event_type, aggregate_type, aggregate_id, traceparent;
  int64_t aggregate_version;
  DomainEvent event;
};

class SagaHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok()); }

  // One delivery: its own transaction, committed only on OK (and `commit`), then the handler's
  // after-commit work, as the consumer runtime does.
  absl::Status Deliver(messaging::EventHandler& handler, const DomainEvent& event,
                       const std::string& traceparent = kTrace, bool commit = true) {
    if (!handler.Wants(event.type())) return absl::OkStatus();
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    messaging::AfterCommit after_commit;
    absl::Status s = handler.Handle(tx, messaging::InboundEvent{.event = event,
                                                                .topic = "t",
                                                                .traceparent = traceparent,
                                                                .after_commit = &after_commit});
    if (s.ok() && commit) {
      tx.commit();
      after_commit.Run();
    }
    return s;
  }

  void Exec(const std::string& sql) {
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  }

  pqxx::result Query(const std::string& sql) {
    pqxx::connection conn(Env().database_url());
    pqxx::nontransaction tx(conn);
    return tx.exec(sql);
  }

  int64_t Count(const std::string& sql) { return Query(sql)[0][0].as<int64_t>(); }

  std::vector<OutboxRow> Outbox(const std::string& schema) {
    std::vector<OutboxRow> rows;
    for (const pqxx::row& r :
         Query("SELECT event_id, event_type, aggregate_type, aggregate_id, traceparent,"
               " aggregate_version, payload FROM " +
               schema + ".outbox ORDER BY seq")) {
      absl::StatusOr<DomainEvent> e = DecodeEnvelope(r[6].as<std::string>());
      EXPECT_TRUE(e.ok()) << e.status();
      rows.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                      r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<int64_t>(),
                      e.ok() ? *e : DomainEvent{}});
    }
    return rows;
  }

  void RegisterCustomer(const std::string& id, int64_t max_policies, int64_t count = 0) {
    Exec("INSERT INTO customer.customers VALUES ('" + id + "', 'name', " +
         std::to_string(max_policies) + ", " + std::to_string(count) + ", " +
         std::to_string(count + 1) + ", now(), now())");
  }

  void InsertApprovedQuote(const std::string& id, const std::string& customer, int64_t premium) {
    Exec("INSERT INTO quote.quotes VALUES ('" + id + "', '" + customer + "', " +
         std::to_string(premium) + ", 'APPROVED', 2, '', now(), now())");
  }

  static DomainEvent Approved(const std::string& quote_id, int64_t premium,
                              const std::string& customer = "cust-1") {
    return DomainEvent{.event_id = "approved-" + quote_id,
                       .aggregate_id = quote_id,
                       .quote_id = quote_id,
                       .aggregate_version = 2,
                       .occurred_at = absl::Now(),
                       .payload = QuoteApproved{.customer_id = customer, .premium = premium}};
  }

  static DomainEvent Created(const std::string& quote_id, const std::string& customer = "cust-1") {
    return DomainEvent{
        .event_id = "pol-" + quote_id + "/created",
        .aggregate_id = "pol-" + quote_id,
        .quote_id = quote_id,
        .aggregate_version = 1,
        .occurred_at = absl::Now(),
        .payload = PolicyCreated{
            .policy_id = "pol-" + quote_id, .customer_id = customer, .premium = 1200}};
  }

  std::string QuoteStatusOf(const std::string& id) {
    return Query("SELECT status FROM quote.quotes WHERE quote_id = '" + id + "'")[0][0]
        .as<std::string>();
  }

  SystemClock clock_;
  PolicySaga policy_saga_{clock_, kLimit};
  CustomerSaga customer_saga_{clock_};
  QuoteSaga quote_saga_{clock_};
  PolicyEventHandler policy_{policy_saga_};
  CustomerEventHandler customer_{customer_saga_};
  QuoteEventHandler quote_{quote_saga_};
};

// ---- the outbox doorbell (consumers/common/doorbell_handler.h) ----

// Counts rings and, at each, how many policy.outbox rows another session sees: a ring must come
// after the commit that wrote them.
class RecordingDoorbell : public OutboxDoorbell {
 public:
  void Ring() override {
    pqxx::connection conn(Env().database_url());
    pqxx::nontransaction tx(conn);
    visible_at_ring.push_back(tx.exec1("SELECT count(*) FROM policy.outbox")[0].as<int64_t>());
  }
  std::vector<int64_t> visible_at_ring;
};

TEST_F(SagaHandlersTest, DoorbellRingsAfterTheCommitThatWroteOutboxRows) {
  RecordingDoorbell doorbell;
  DoorbellHandler ringing(policy_, doorbell);
  ASSERT_TRUE(Deliver(ringing, Approved("q-bell", 1200)).ok());
  ASSERT_EQ(doorbell.visible_at_ring.size(), 1u);
  EXPECT_EQ(doorbell.visible_at_ring[0], 1) << "rung before the PolicyCreated row was committed";
  // Rolled back (the runtime never commits): no ring.
  ASSERT_TRUE(Deliver(ringing, Approved("q-bell-2", 1200), kTrace, /*commit=*/false).ok());
  EXPECT_EQ(doorbell.visible_at_ring.size(), 1u);
  // A poison event: the handler refuses it, nothing to ring for.
  EXPECT_EQ(Deliver(ringing, Approved("q-bell-3", 0)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(doorbell.visible_at_ring.size(), 1u);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.outbox"), 1);
}

// ---- policy-worker ----

TEST_F(SagaHandlersTest, PolicyCreatedOnceForAnApprovedQuoteEvenWhenDeliveredTwice) {
  ASSERT_TRUE(Deliver(policy_, Approved("q-1", 1200)).ok());
  ASSERT_TRUE(Deliver(policy_, Approved("q-1", 1200)).ok());
  pqxx::result p = Query(
      "SELECT policy_id, quote_id, customer_id, premium, status, quote_version, version"
      " FROM policy.policies");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0][0].as<std::string>(), "pol-q-1");
  EXPECT_EQ(p[0][1].as<std::string>(), "q-1");
  EXPECT_EQ(p[0][2].as<std::string>(), "cust-1");
  EXPECT_EQ(p[0][3].as<int64_t>(), 1200);
  EXPECT_EQ(p[0][4].as<std::string>(), "ACTIVE");
  EXPECT_EQ(p[0][5].as<int64_t>(), 2);
  EXPECT_EQ(p[0][6].as<int64_t>(), 1);
  std::vector<OutboxRow> out = Outbox("policy");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event_id, "pol-q-1/created");
  EXPECT_EQ(out[0].event_type, "PolicyCreated");
  EXPECT_EQ(out[0].aggregate_type, "policy");
  EXPECT_EQ(out[0].aggregate_id, "pol-q-1");
  EXPECT_EQ(out[0].aggregate_version, 1);
  EXPECT_EQ(out[0].event.quote_id, "q-1");
  // The incoming trace continues with a new span.
  EXPECT_EQ(out[0].traceparent.substr(0, 36), std::string(kTrace).substr(0, 36));
  EXPECT_NE(out[0].traceparent, kTrace);
}

TEST_F(SagaHandlersTest, PremiumAboveTheLimitRejectsTheQuoteOnceWithTheReason) {
  ASSERT_TRUE(Deliver(policy_, Approved("q-1", 5'000'000)).ok());
  ASSERT_TRUE(Deliver(policy_, Approved("q-1", 5'000'000)).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.declined_quotes"), 1);
  std::vector<OutboxRow> out = Outbox("policy");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event_type, "QuoteRejected");
  EXPECT_EQ(out[0].aggregate_type, "quote");  // the relay puts it on "quotes", keyed by quote id
  EXPECT_EQ(out[0].aggregate_id, "q-1");
  EXPECT_EQ(out[0].aggregate_version, 3);
  EXPECT_EQ(std::get<QuoteRejected>(out[0].event.payload).reason,
            "premium 5000000 exceeds the underwriting limit 1000000");
}

TEST_F(SagaHandlersTest, CustomerRefusalCancelsThePolicyAndRejectsTheQuoteOnce) {
  ASSERT_TRUE(Deliver(policy_, Approved("q-1", 1200)).ok());
  DomainEvent refused{
      .event_id = "cust-1/pol-q-1/count-rejected",
      .aggregate_id = "cust-1",
      .quote_id = "q-1",
      .aggregate_version = 0,
      .occurred_at = absl::Now(),
      .payload = CustomerPolicyCountRejected{.customer_id = "cust-1",
                                             .policy_id = "pol-q-1",
                                             .reason = "customer cust-1 is not registered"}};
  ASSERT_TRUE(Deliver(policy_, refused).ok());
  ASSERT_TRUE(Deliver(policy_, refused).ok());
  pqxx::result p = Query("SELECT status, cancellation_reason, version FROM policy.policies");
  EXPECT_EQ(p[0][0].as<std::string>(), "CANCELLED");
  EXPECT_EQ(p[0][1].as<std::string>(), "customer cust-1 is not registered");
  EXPECT_EQ(p[0][2].as<int64_t>(), 2);
  std::vector<OutboxRow> out = Outbox("policy");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].event_type, "PolicyCancelled");
  EXPECT_EQ(out[1].aggregate_version, 2);
  EXPECT_EQ(out[2].event_type, "QuoteRejected");
  EXPECT_EQ(out[2].aggregate_id, "q-1");
  EXPECT_EQ(std::get<QuoteRejected>(out[2].event.payload).policy_id, "pol-q-1");
}

TEST_F(SagaHandlersTest, PoisonEventsAreReportedAndWriteNothing) {
  DomainEvent refused{.event_id = "x",
                      .aggregate_id = "cust-1",
                      .quote_id = "q-404",
                      .payload = CustomerPolicyCountRejected{
                          .customer_id = "cust-1", .policy_id = "pol-q-404", .reason = "r"}};
  EXPECT_EQ(Deliver(policy_, refused).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Deliver(policy_, Approved("q-1", 0)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Deliver(policy_, Approved("q 1", 10)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.outbox"), 0);
}

// ---- customer-worker ----

TEST_F(SagaHandlersTest, CustomerCountsAPolicyOnceAndGivesTheSlotBackOnCancel) {
  RegisterCustomer("cust-1", 3);
  ASSERT_TRUE(Deliver(customer_, Created("q-1")).ok());
  ASSERT_TRUE(Deliver(customer_, Created("q-1")).ok());
  EXPECT_EQ(Count("SELECT policy_count FROM customer.customers"), 1);
  EXPECT_EQ(Count("SELECT version FROM customer.customers"), 2);
  EXPECT_EQ(Query("SELECT status FROM customer.policy_counts")[0][0].as<std::string>(), "COUNTED");
  std::vector<OutboxRow> out = Outbox("customer");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event_type, "CustomerPolicyCountUpdated");
  EXPECT_EQ(out[0].aggregate_id, "cust-1");
  EXPECT_EQ(out[0].aggregate_version, 2);
  EXPECT_EQ(out[0].event.quote_id, "q-1");
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(out[0].event.payload).delta, 1);

  DomainEvent cancelled{
      .event_id = "pol-q-1/cancelled",
      .aggregate_id = "pol-q-1",
      .quote_id = "q-1",
      .aggregate_version = 2,
      .payload = PolicyCancelled{.policy_id = "pol-q-1", .customer_id = "cust-1", .reason = "r"}};
  ASSERT_TRUE(Deliver(customer_, cancelled).ok());
  ASSERT_TRUE(Deliver(customer_, cancelled).ok());
  EXPECT_EQ(Count("SELECT policy_count FROM customer.customers"), 0);
  out = Outbox("customer");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(out[1].event.payload).delta, -1);
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(out[1].event.payload).policy_count, 0);
}

TEST_F(SagaHandlersTest, CustomerAtItsMaximumRefusesWithoutChangingTheCount) {
  RegisterCustomer("cust-1", 2, /*count=*/2);
  ASSERT_TRUE(Deliver(customer_, Created("q-1")).ok());
  ASSERT_TRUE(Deliver(customer_, Created("q-1")).ok());
  EXPECT_EQ(Count("SELECT policy_count FROM customer.customers"), 2);
  pqxx::result e = Query("SELECT status, reason FROM customer.policy_counts");
  EXPECT_EQ(e[0][0].as<std::string>(), "REJECTED");
  EXPECT_EQ(e[0][1].as<std::string>(), "customer cust-1 is at its maximum of 2 active policies");
  std::vector<OutboxRow> out = Outbox("customer");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event_type, "CustomerPolicyCountRejected");
  // A cancellation of the refused policy does not touch the count.
  DomainEvent cancelled{
      .event_id = "pol-q-1/cancelled",
      .aggregate_id = "pol-q-1",
      .quote_id = "q-1",
      .payload = PolicyCancelled{.policy_id = "pol-q-1", .customer_id = "cust-1", .reason = "r"}};
  ASSERT_TRUE(Deliver(customer_, cancelled).ok());
  EXPECT_EQ(Count("SELECT policy_count FROM customer.customers"), 2);
  EXPECT_EQ(Outbox("customer").size(), 1u);
}

TEST_F(SagaHandlersTest, UnregisteredCustomerRefuses) {
  ASSERT_TRUE(Deliver(customer_, Created("q-1", "ghost")).ok());
  std::vector<OutboxRow> out = Outbox("customer");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event_type, "CustomerPolicyCountRejected");
  EXPECT_EQ(out[0].aggregate_version, 0);
  EXPECT_EQ(std::get<CustomerPolicyCountRejected>(out[0].event.payload).reason,
            "customer ghost is not registered");
  EXPECT_EQ(Count("SELECT count(*) FROM customer.customers"), 0);
}

TEST_F(SagaHandlersTest, ConcurrentPoliciesOfOneCustomerNeverExceedTheMaximum) {
  RegisterCustomer("cust-1", 3);
  constexpr int kPolicies = 8;
  std::vector<absl::Status> results(kPolicies);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPolicies; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = Deliver(customer_, Created("q-" + std::to_string(i))); });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(Count("SELECT policy_count FROM customer.customers"), 3);
  EXPECT_EQ(Count("SELECT version FROM customer.customers"), 1 + kPolicies);
  EXPECT_EQ(Count("SELECT count(*) FROM customer.policy_counts WHERE status = 'COUNTED'"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM customer.policy_counts WHERE status = 'REJECTED'"), 5);
  EXPECT_EQ(Count("SELECT count(DISTINCT aggregate_version) FROM customer.outbox"), kPolicies);
}

// ---- quote-worker ----

TEST_F(SagaHandlersTest, QuoteIssuedWhenThePolicyIsCountedAndRejectedWithTheReason) {
  InsertApprovedQuote("q-1", "cust-1", 1200);
  InsertApprovedQuote("q-2", "cust-1", 1200);
  DomainEvent counted{
      .event_id = "cust-1/pol-q-1/counted",
      .aggregate_id = "cust-1",
      .quote_id = "q-1",
      .aggregate_version = 2,
      .payload = CustomerPolicyCountUpdated{
          .customer_id = "cust-1", .policy_id = "pol-q-1", .policy_count = 1, .delta = 1}};
  ASSERT_TRUE(Deliver(quote_, counted).ok());
  ASSERT_TRUE(Deliver(quote_, counted).ok());
  EXPECT_EQ(QuoteStatusOf("q-1"), "ISSUED");
  EXPECT_EQ(Count("SELECT version FROM quote.quotes WHERE quote_id = 'q-1'"), 3);

  DomainEvent rejected{.event_id = "q-2/rejected",
                       .aggregate_id = "q-2",
                       .quote_id = "q-2",
                       .aggregate_version = 3,
                       .payload = QuoteRejected{.customer_id = "cust-1", .reason = "too risky"}};
  ASSERT_TRUE(Deliver(quote_, rejected).ok());
  ASSERT_TRUE(Deliver(quote_, rejected).ok());
  pqxx::result q =
      Query("SELECT status, rejection_reason, version FROM quote.quotes WHERE quote_id = 'q-2'");
  EXPECT_EQ(q[0][0].as<std::string>(), "REJECTED");
  EXPECT_EQ(q[0][1].as<std::string>(), "too risky");
  EXPECT_EQ(q[0][2].as<int64_t>(), 3);

  // Impossible by the rules, so dead-lettered rather than applied: the quote is left alone.
  rejected.aggregate_id = rejected.quote_id = "q-1";
  EXPECT_EQ(Deliver(quote_, rejected).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(QuoteStatusOf("q-1"), "ISSUED");
  rejected.aggregate_id = rejected.quote_id = "q-404";
  EXPECT_EQ(Deliver(quote_, rejected).code(), absl::StatusCode::kNotFound);
}

TEST_F(SagaHandlersTest, QuoteWorkerRecordsEachSagaEndOnceAfterItsCommit) {
  metrics::Registry registry;
  SagaOutcomeMetrics outcomes(clock_);
  outcomes.Register(registry);
  QuoteEventHandler quote(quote_saga_, &outcomes);
  InsertApprovedQuote("q-1", "cust-1", 1200);
  InsertApprovedQuote("q-2", "cust-1", 1200);
  InsertApprovedQuote("q-3", "cust-1", 1200);
  DomainEvent counted{
      .event_id = "cust-1/pol-q-1/counted",
      .aggregate_id = "cust-1",
      .quote_id = "q-1",
      .aggregate_version = 2,
      .payload = CustomerPolicyCountUpdated{
          .customer_id = "cust-1", .policy_id = "pol-q-1", .policy_count = 1, .delta = 1}};
  DomainEvent rejected{.event_id = "q-2/rejected",
                       .aggregate_id = "q-2",
                       .quote_id = "q-2",
                       .aggregate_version = 3,
                       .payload = QuoteRejected{.customer_id = "cust-1", .reason = "too risky"}};
  // Each delivered twice (the second finds the quote final already: nothing changes).
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Deliver(quote, counted).ok());
    ASSERT_TRUE(Deliver(quote, rejected).ok());
  }
  // A transaction rolled back records nothing (q-3 stays APPROVED).
  rejected.event_id = "q-3/rejected";
  rejected.aggregate_id = rejected.quote_id = "q-3";
  ASSERT_TRUE(Deliver(quote, rejected, kTrace, /*commit=*/false).ok());
  EXPECT_EQ(QuoteStatusOf("q-3"), "APPROVED");
  // Without AfterCommit (a caller outside the runtime), nothing is recorded either.
  {
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    ASSERT_TRUE(quote.Handle(tx, messaging::InboundEvent{.event = rejected}).ok());
    tx.commit();
  }
  EXPECT_EQ(QuoteStatusOf("q-3"), "REJECTED");

  const std::string text = registry.Serialize();
  EXPECT_TRUE(absl::StrContains(text, "quoteflow_saga_outcomes_total{outcome=\"issued\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "quoteflow_saga_outcomes_total{outcome=\"rejected\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_count{outcome=\"issued\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_count{outcome=\"rejected\"} 1\n"))
      << text;
}

// ---- the whole choreography, pumped through the outboxes ----

class SagaChainTest : public SagaHandlersTest {
 protected:
  // Delivers every outbox row (policy and customer) to every handler until none is left; each row
  // is delivered `copies` times. Rows are deleted as they are delivered, as the relay does.
  void Pump(int copies = 1) {
    for (int round = 0; round < 20; ++round) {
      std::vector<OutboxRow> rows = Outbox("policy");
      for (OutboxRow& r : Outbox("customer")) rows.push_back(std::move(r));
      if (rows.empty()) return;
      Exec("DELETE FROM policy.outbox; DELETE FROM customer.outbox");
      for (const OutboxRow& r : rows) {
        for (int i = 0; i < copies; ++i) {
          for (messaging::EventHandler* h :
               std::initializer_list<messaging::EventHandler*>{&policy_, &customer_, &quote_}) {
            ASSERT_TRUE(Deliver(*h, r.event, r.traceparent).ok()) << r.event_type;
          }
        }
      }
    }
    FAIL() << "the saga did not settle";
  }

  void Approve(const std::string& quote_id, const std::string& customer, int64_t premium,
               int copies) {
    InsertApprovedQuote(quote_id, customer, premium);
    for (int i = 0; i < copies; ++i)
      ASSERT_TRUE(Deliver(policy_, Approved(quote_id, premium, customer)).ok());
    Pump(copies);
  }
};

TEST_F(SagaChainTest, HappyPathAndBothCompensationsEndInTheRightStates) {
  for (int copies : {1, 2}) {
    SCOPED_TRACE(copies);
    ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok());
    RegisterCustomer("full", 1);
    RegisterCustomer("roomy", 5);
    Approve("q-ok", "roomy", 1200, copies);
    Approve("q-first", "full", 1200, copies);
    Approve("q-over-max", "full", 1300, copies);
    Approve("q-over-limit", "roomy", 5'000'000, copies);
    Approve("q-unknown", "nobody", 1200, copies);

    EXPECT_EQ(QuoteStatusOf("q-ok"), "ISSUED");
    EXPECT_EQ(QuoteStatusOf("q-first"), "ISSUED");
    EXPECT_EQ(QuoteStatusOf("q-over-max"), "REJECTED");
    EXPECT_EQ(QuoteStatusOf("q-over-limit"), "REJECTED");
    EXPECT_EQ(QuoteStatusOf("q-unknown"), "REJECTED");
    EXPECT_TRUE(absl::StrContains(
        Query("SELECT rejection_reason FROM quote.quotes WHERE quote_id = 'q-over-max'")[0][0]
            .as<std::string>(),
        "customer full is at its maximum of 1 active policies"));
    EXPECT_EQ(
        Query("SELECT rejection_reason FROM quote.quotes WHERE quote_id = 'q-over-limit'")[0][0]
            .as<std::string>(),
        "premium 5000000 exceeds the underwriting limit 1000000");
    // I5: ISSUED <=> an ACTIVE policy counted for its customer; REJECTED <=> no active policy.
    EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE status = 'ACTIVE'"), 2);
    EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE status = 'CANCELLED'"), 2);
    EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE quote_id = 'q-over-limit'"), 0);
    EXPECT_EQ(Count("SELECT policy_count FROM customer.customers WHERE customer_id = 'full'"), 1);
    EXPECT_EQ(Count("SELECT policy_count FROM customer.customers WHERE customer_id = 'roomy'"), 1);
    EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes q JOIN policy.policies p USING (quote_id)"
                    " WHERE (q.status = 'ISSUED') <> (p.status = 'ACTIVE')"),
              0);
  }
}

}  // namespace
}  // namespace quoteflow::workers
