// End to end, the saga by choreography with the real binaries as child processes: PostgreSQL and
// the broker (test environment), quote-api, one outbox-relay per schema (quote, policy, customer),
// policy-worker, customer-worker and quote-worker. Customers are created over CustomerService,
// quotes created and approved over QuoteService, and every approved quote must end ISSUED (policy
// ACTIVE, counted) or REJECTED (no active policy, count unchanged) within a deadline (I5), on the
// happy path and on both compensation paths, and with many quotes approved concurrently.
#include <grpcpp/grpcpp.h>

#include <map>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "platform/messaging/dlq_admin.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/outbox_writer.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/policy.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/support/saga_fixture.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using quoteflow::testing::Env;
using quoteflow::testing::WaitFor;

constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1";

class SagaE2eTest : public quoteflow::testing::SagaSystemFixture {
 protected:
  static void SetUpTestSuite() {
    // The relays poll once a minute: every hop of every saga here is woken by the doorbell its
    // writer (quote-api, policy-, customer-, quote-worker) rings after committing, so a writer
    // that stops ringing shows as sagas that do not settle within their deadlines.
    StartSystem({.relay_poll_interval = "60s"});
  }
  static void TearDownTestSuite() { StopSystem(); }

  // Waits until none of the quotes is APPROVED any more.
  static void WaitSettled(const std::vector<std::string>& ids, absl::Duration timeout) {
    const std::string list = InList(ids);
    absl::Status settled = WaitFor(
        [&]() -> absl::Status {
          int64_t open = Count(
              "SELECT count(*) FROM quote.quotes WHERE status = 'APPROVED'"
              " AND quote_id IN (" +
              list + ")");
          if (open == 0) return absl::OkStatus();
          return absl::FailedPreconditionError(absl::StrCat(open, " quotes still APPROVED"));
        },
        timeout, "every approved quote to end ISSUED or REJECTED");
    ASSERT_TRUE(settled.ok()) << settled << "\n" << system_->Logs();
  }
};

TEST_F(SagaE2eTest, HappyPathAndBothCompensations) {
  CreateCustomer("e2e-roomy", 5);
  CreateCustomer("e2e-full", 1);
  const std::string ok = CreateAndApprove("e2e-roomy", 1200);
  const std::string over_limit = CreateAndApprove("e2e-roomy", 5'000'000);
  const std::string first = CreateAndApprove("e2e-full", 1500);
  // Only after the first one is through, so that which of the two is refused is known.
  WaitSettled({ok, over_limit, first}, absl::Seconds(60));
  const std::string over_max = CreateAndApprove("e2e-full", 1700);
  const std::string unknown = CreateAndApprove("e2e-ghost", 1900);
  WaitSettled({over_max, unknown}, absl::Seconds(60));

  v1::Policy policy;
  // Happy path: ISSUED, policy ACTIVE, counted.
  EXPECT_EQ(GetQuote(ok).status(), v1::QUOTE_STATUS_ISSUED);
  ASSERT_TRUE(GetPolicy(ok, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_ACTIVE);
  EXPECT_EQ(policy.policy_id(), "pol-" + ok);
  EXPECT_EQ(policy.premium(), 1200);
  EXPECT_EQ(GetQuote(first).status(), v1::QUOTE_STATUS_ISSUED);

  // Underwriting refusal: REJECTED with the reason, no policy.
  v1::Quote refused = GetQuote(over_limit);
  EXPECT_EQ(refused.status(), v1::QUOTE_STATUS_REJECTED);
  EXPECT_EQ(refused.rejection_reason(), "premium 5000000 exceeds the underwriting limit 1000000");
  EXPECT_EQ(GetPolicy(over_limit, &policy).error_code(), grpc::StatusCode::NOT_FOUND);

  // Customer at its maximum: policy CANCELLED, quote REJECTED, count unchanged.
  v1::Quote at_max = GetQuote(over_max);
  EXPECT_EQ(at_max.status(), v1::QUOTE_STATUS_REJECTED);
  EXPECT_TRUE(absl::StrContains(at_max.rejection_reason(), "is at its maximum of 1"))
      << at_max.rejection_reason();
  ASSERT_TRUE(GetPolicy(over_max, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_CANCELLED);
  EXPECT_TRUE(absl::StrContains(policy.cancellation_reason(), "is at its maximum of 1"));

  // Unregistered customer: the same compensation.
  EXPECT_EQ(GetQuote(unknown).status(), v1::QUOTE_STATUS_REJECTED);
  ASSERT_TRUE(GetPolicy(unknown, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_CANCELLED);

  EXPECT_EQ(GetCustomer("e2e-roomy").policy_count(), 1);
  EXPECT_EQ(GetCustomer("e2e-full").policy_count(), 1);
  ExpectSagaInvariants();
}

// Each of a saga's three hops through a relay (QuoteApproved, PolicyCreated,
// CustomerPolicyCountUpdated) is published at once, not at the relays' next poll a minute away.
TEST_F(SagaE2eTest, EveryHopIsWokenByItsWritersDoorbell) {
  CreateCustomer("doorbell", 10);
  for (int i = 0; i < 3; ++i) {
    const std::string id = CreateAndApprove("doorbell", 1000 + i);
    ASSERT_FALSE(id.empty());
    WaitSettled({id}, absl::Seconds(15));
    EXPECT_EQ(GetQuote(id).status(), v1::QUOTE_STATUS_ISSUED) << i;
  }
}

TEST_F(SagaE2eTest, ManyQuotesApprovedConcurrentlyAllSettle) {
  constexpr int kCustomers = 10;
  constexpr int kQuotesPerCustomer = 12;
  constexpr int64_t kMax = 8;  // the last 4 of each customer are refused by the customer side
  for (int c = 0; c < kCustomers; ++c) CreateCustomer(absl::StrCat("load-", c), kMax);
  std::vector<std::string> ids(kCustomers * kQuotesPerCustomer);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < ids.size(); i += 4) {
        ids[i] = CreateAndApprove(absl::StrCat("load-", i % kCustomers), 1000 + i);
      }
    });
  }
  for (auto& t : threads) t.join();
  WaitSettled(ids, absl::Seconds(120));
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'load-%'"
                  " AND status = 'ISSUED'"),
            kCustomers * kMax);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'load-%'"
                  " AND status = 'REJECTED'"),
            kCustomers * (kQuotesPerCustomer - kMax));
  for (int c = 0; c < kCustomers; ++c) {
    EXPECT_EQ(GetCustomer(absl::StrCat("load-", c)).policy_count(), kMax);
  }
  ExpectSagaInvariants();
}

TEST_F(SagaE2eTest, ThousandQuotesForFiftyCustomersAllIssued) {
  constexpr int kCustomers = 50;
  constexpr int kQuotes = 1000;
  for (int c = 0; c < kCustomers; ++c) CreateCustomer(absl::StrCat("bulk-", c), 1000);
  std::vector<std::string> ids(kQuotes);
  std::vector<std::thread> threads;
  constexpr int kClients = 8;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kQuotes; i += kClients) {
        ids[i] = CreateAndApprove(absl::StrCat("bulk-", i % kCustomers), 100 + i);
      }
    });
  }
  for (auto& t : threads) t.join();
  WaitSettled(ids, absl::Seconds(180));
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'bulk-%'"
                  " AND status = 'ISSUED'"),
            kQuotes);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE customer_id LIKE 'bulk-%'"
                  " AND status = 'ACTIVE'"),
            kQuotes);
  EXPECT_EQ(Count("SELECT sum(policy_count) FROM customer.customers"
                  " WHERE customer_id LIKE 'bulk-%'"),
            kQuotes);
  ExpectSagaInvariants();
}

TEST_F(SagaE2eTest, PoisonEventIsDeadLetteredWithItsReasonWhileOtherTrafficCompletes) {
  // A QuoteRejected for a quote that does not exist: quote-worker cannot apply it (NOT_FOUND).
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    InsertOutboxRow(tx, {.schema = "quote", .source = "/quoteflow/e2e"},
                    DomainEvent{.event_id = "poison-1",
                                .aggregate_id = "q-ghost",
                                .quote_id = "q-ghost",
                                .aggregate_version = 3,
                                .occurred_at = absl::Now(),
                                .payload = QuoteRejected{.customer_id = "c", .reason = "r"}});
    tx.commit();
  }
  CreateCustomer("poison-ok", 3);
  const std::string ok = CreateAndApprove("poison-ok", 1200);
  WaitSettled({ok}, absl::Seconds(60));
  EXPECT_EQ(GetQuote(ok).status(), v1::QUOTE_STATUS_ISSUED);

  kafka::KafkaSettings kafka(Env().bootstrap_servers(), {});
  std::vector<messaging::DlqRecord> records;
  absl::Status dead_lettered = WaitFor(
      [&]() -> absl::Status {
        absl::StatusOr<std::vector<messaging::DlqRecord>> read =
            messaging::ReadDlq(kafka, system_->topic("quotes.dlq"), {});
        if (!read.ok()) return read.status();
        for (const messaging::DlqRecord& r : *read) {
          if (r.key == "q-ghost") {
            records.push_back(r);
            return absl::OkStatus();
          }
        }
        return absl::NotFoundError("no record for q-ghost yet");
      },
      absl::Seconds(60), "the poison event on quotes.dlq");
  ASSERT_TRUE(dead_lettered.ok()) << dead_lettered << "\n" << system_->Logs();
  EXPECT_EQ(records[0].consumer, "quote-worker");
  EXPECT_EQ(records[0].original_topic, system_->topic("quotes"));
  EXPECT_TRUE(absl::StrContains(records[0].reason, "quote q-ghost not found")) << records[0].reason;
}

// Waits until `dlq_topic` holds a record with `key`; returns it.
absl::StatusOr<messaging::DlqRecord> WaitForDlqRecord(const std::string& dlq_topic,
                                                      const std::string& key) {
  kafka::KafkaSettings kafka(Env().bootstrap_servers(), {});
  messaging::DlqRecord found;
  absl::Status s = WaitFor(
      [&]() -> absl::Status {
        absl::StatusOr<std::vector<messaging::DlqRecord>> read =
            messaging::ReadDlq(kafka, dlq_topic, {});
        if (!read.ok()) return read.status();
        for (const messaging::DlqRecord& r : *read) {
          if (r.key == key) {
            found = r;
            return absl::OkStatus();
          }
        }
        return absl::NotFoundError(absl::StrCat("no record for ", key, " yet"));
      },
      absl::Seconds(60), absl::StrCat("a record keyed ", key, " on ", dlq_topic));
  if (!s.ok()) return s;
  return found;
}

TEST_F(SagaE2eTest, EveryEventRepublishedChangesNothing) {
  CreateCustomer("dup", 2);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(CreateAndApprove("dup", 1000 + i));
    WaitSettled({ids.back()}, absl::Seconds(60));  // in order: the third one is refused
  }
  ASSERT_EQ(GetQuote(ids[2]).status(), v1::QUOTE_STATUS_REJECTED);
  // The cancellation of the refused policy is the one event that may still be on its way.
  ASSERT_TRUE(WaitFor(
                  [&] {
                    return Count("SELECT count(*) FROM customer.inbox WHERE event_id = 'pol-" +
                                 ids[2] + "/cancelled'") == 1;
                  },
                  absl::Seconds(60), "customer-worker to see the cancellation")
                  .ok());
  auto snapshot = [&] {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    std::string out;
    for (const char* sql :
         {"SELECT quote_id, status, version, rejection_reason FROM quote.quotes"
          " WHERE customer_id = 'dup' ORDER BY 1",
          "SELECT policy_id, status, version FROM policy.policies WHERE customer_id = 'dup'"
          " ORDER BY 1",
          "SELECT customer_id, policy_count, version FROM customer.customers"
          " WHERE customer_id = 'dup'",
          "SELECT policy_id, status FROM customer.policy_counts WHERE customer_id = 'dup'"
          " ORDER BY 1"}) {
      for (const pqxx::row& r : tx.exec(sql)) {
        for (const pqxx::field& f : r) absl::StrAppend(&out, f.c_str(), "|");
        out += "\n";
      }
    }
    return out;
  };
  const std::string before = snapshot();
  const std::string since = Query1("SELECT now()::text");

  // Republish every event of the three sagas that a worker consumes, with its original id: the
  // QuoteApproved events (ids recorded by quote-api) and the policy side's events, whose ids are
  // derived from the facts they state. Behind them, on the same keys (same partitions, so they
  // are consumed after the copies), poison events that land on the DLQs: when they are there, the
  // copies have been consumed.
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    const absl::Time now = absl::Now();
    for (const std::string& q : ids) {
      const std::string approved_id =
          tx.exec(
                "SELECT event_id FROM quote.requests WHERE operation = 'approve'"
                " AND quote_id = " +
                tx.quote(q))[0][0]
              .as<std::string>();
      const int64_t premium =
          tx.exec("SELECT premium FROM quote.quotes WHERE quote_id = " + tx.quote(q))[0][0]
              .as<int64_t>();
      const OutboxTarget quote_outbox{.schema = "quote", .source = "/quoteflow/e2e"};
      const OutboxTarget policy_outbox{.schema = "policy", .source = "/quoteflow/e2e"};
      InsertOutboxRow(
          tx, quote_outbox,
          DomainEvent{.event_id = approved_id,
                      .aggregate_id = q,
                      .quote_id = q,
                      .aggregate_version = 2,
                      .occurred_at = now,
                      .payload = QuoteApproved{.customer_id = "dup", .premium = premium}});
      InsertOutboxRow(tx, quote_outbox,
                      DomainEvent{.event_id = "barrier-" + q,
                                  .aggregate_id = q,
                                  .quote_id = q,
                                  .aggregate_version = 2,
                                  .occurred_at = now,
                                  .payload = QuoteApproved{.customer_id = "dup", .premium = 0}});
      const std::string pol = "pol-" + q;
      InsertOutboxRow(tx, policy_outbox,
                      DomainEvent{.event_id = pol + "/created",
                                  .aggregate_id = pol,
                                  .quote_id = q,
                                  .aggregate_version = 1,
                                  .occurred_at = now,
                                  .payload = PolicyCreated{
                                      .policy_id = pol, .customer_id = "dup", .premium = premium}});
      if (q == ids[2]) {
        InsertOutboxRow(tx, policy_outbox,
                        DomainEvent{.event_id = pol + "/cancelled",
                                    .aggregate_id = pol,
                                    .quote_id = q,
                                    .aggregate_version = 2,
                                    .occurred_at = now,
                                    .payload = PolicyCancelled{
                                        .policy_id = pol, .customer_id = "dup", .reason = "copy"}});
      }
      InsertOutboxRow(tx, policy_outbox,
                      DomainEvent{.event_id = "barrier-" + pol,
                                  .aggregate_id = pol,
                                  .quote_id = q,
                                  .aggregate_version = 3,
                                  .occurred_at = now,
                                  .payload = PolicyCancelled{
                                      .policy_id = pol, .customer_id = "", .reason = "poison"}});
    }
    tx.commit();
    // Like every writer, ring the relays' doorbell after the commit (they poll once a minute).
    pqxx::nontransaction notify(c);
    for (const char* schema : {"quote", "policy"}) {
      notify.exec("NOTIFY " + notify.quote_name(OutboxChannel(schema)));
    }
  }
  for (const std::string& q : ids) {
    absl::StatusOr<messaging::DlqRecord> a = WaitForDlqRecord(system_->topic("quotes.dlq"), q);
    ASSERT_TRUE(a.ok()) << a.status() << "\n" << system_->Logs();
    EXPECT_EQ(a->consumer, "policy-worker");
    absl::StatusOr<messaging::DlqRecord> b = WaitForDlqRecord(system_->topic("policies.dlq"), "pol-" + q);
    ASSERT_TRUE(b.ok()) << b.status() << "\n" << system_->Logs();
    EXPECT_EQ(b->consumer, "customer-worker");
  }
  EXPECT_EQ(snapshot(), before);
  // Nothing of these sagas was applied again by any worker.
  for (const char* schema : {"policy", "customer", "quote"}) {
    std::string cond;
    for (const std::string& q : ids) {
      absl::StrAppend(&cond, cond.empty() ? "" : " OR ", "event_id LIKE '%", q, "%'");
    }
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM ", schema, ".inbox WHERE received_at >= '",
                                 since, "' AND (", cond, ")")),
              0)
        << schema;
  }
  ExpectSagaInvariants();
}

}  // namespace
}  // namespace quoteflow

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(
      &argc, argv, {.kafka_topics = quoteflow::kTopics});
  return RUN_ALL_TESTS();
}
