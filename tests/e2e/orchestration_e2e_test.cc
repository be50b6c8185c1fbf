// End to end, the saga by ORCHESTRATION with the real binaries as child processes (SagaSystem with
// saga_mode "orchestration"): quote-api, one outbox-relay per schema (quote, policy, customer,
// saga), policy-worker, customer-worker and quote-worker on their command topics, and
// two saga-orchestrator instances in one consumer group. Checks:
//   - the choreography scenarios of saga_e2e_test reach the SAME final states (quote ISSUED or
//     REJECTED with the same reasons, policy ACTIVE / CANCELLED / absent, customer counts), and
//     GetSaga shows COMPLETED / COMPENSATED with the step history; the orchestrators (not
//     quote-worker) export the saga outcomes on /metrics under choreography's names;
//   - every reply and approval republished (same ids) changes nothing;
//   - two orchestrators share a batch without advancing a saga twice;
//   - the orchestrators SIGKILLed repeatedly mid-stream: every saga completes or compensates
//     exactly once;
//   - (short deadlines, the two sweepers competing) a participant that does not reply: every saga
//     compensated after its deadline, each deadline handled once; a compensation that keeps
//     failing (with a --max-compensation-attempts budget): STUCK with its reason, listed by
//     `quotectl saga list --state STUCK`, and resolved by the reply of its stuck step once the
//     cause is fixed, without an operator (issue 14).
// I5 is checked over the whole database after each test.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "domain/saga_orchestration.h"
#include "gtest/gtest.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/policy.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "quoteflow/v1/saga.grpc.pb.h"
#include "tests/support/saga_fixture.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using quoteflow::testing::Env;
using quoteflow::testing::SagaSystem;
using quoteflow::testing::SagaSystemOptions;
using quoteflow::testing::WaitFor;

constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1,"
    "policy-commands:4,customer-commands:4,quote-commands:4,saga-replies:4,"
    "policy-commands.dlq:1,customer-commands.dlq:1,quote-commands.dlq:1,saga-replies.dlq:1";

// Short group timings, so that a SIGKILLed consumer's partitions move within seconds.
constexpr char kKafkaProperties[] =
    "--kafka-properties=session.timeout.ms=4000,heartbeat.interval.ms=300,"
    "topic.metadata.refresh.interval.ms=1000";

SagaSystemOptions Options(const std::string& log_prefix, int orchestrators,
                          std::vector<std::string> orchestrator_flags) {
  SagaSystemOptions o;
  o.saga_mode = "orchestration";
  o.orchestrators = orchestrators;
  o.log_prefix = log_prefix;
  for (const char* w : {"policy-worker", "customer-worker", "quote-worker"}) {
    o.extra_args[w].push_back(kKafkaProperties);
  }
  orchestrator_flags.push_back(kKafkaProperties);
  for (int i = 0; i < orchestrators; ++i) {
    o.extra_args[i == 0 ? std::string("saga-orchestrator")
                        : absl::StrCat("saga-orchestrator-", i)] = orchestrator_flags;
  }
  return o;
}

// The body of GET /metrics on 127.0.0.1:port ("" when it cannot be read).
std::string ScrapeMetrics(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  std::string raw;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) raw.append(buf, n);
  }
  close(fd);
  const size_t body = raw.find("\r\n\r\n");
  return body == std::string::npos ? "" : raw.substr(body + 4);
}

// The value of `series` (name and label set as exposed) in a /metrics body, 0 when absent.
double MetricValue(const std::string& body, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    double v = 0;
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ") &&
        absl::SimpleAtod(line, &v)) {
      return v;
    }
  }
  return 0;
}

// "step:outcome" of each history entry, in order.
std::vector<std::string> Steps(const v1::Saga& saga) {
  std::vector<std::string> out;
  for (const v1::SagaStepRecord& r : saga.history()) out.push_back(r.step() + ":" + r.outcome());
  return out;
}

// Shared by both suites: one system per suite (static), helpers over its stubs and the database.
class OrchestrationTestBase : public quoteflow::testing::SagaSystemFixture {
 protected:
  static grpc::Status GetSaga(const std::string& quote_id, v1::Saga* out,
                              v1::SagaService::Stub* stub = nullptr) {
    v1::GetSagaRequest req;
    req.set_quote_id(quote_id);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return (stub != nullptr ? stub : &system_->sagas())->GetSaga(&ctx, req, out);
  }

  // Waits until the saga of `quote_id` is in `state`; returns it (empty after a failure).
  static v1::Saga WaitSaga(const std::string& quote_id, const std::string& state,
                           absl::Duration timeout) {
    v1::Saga saga;
    absl::Status s = WaitFor(
        [&]() -> absl::Status {
          saga.Clear();
          grpc::Status g = GetSaga(quote_id, &saga);
          if (!g.ok()) return absl::UnavailableError(g.error_message());
          if (saga.state() == state) return absl::OkStatus();
          return absl::FailedPreconditionError(
              absl::StrCat("saga is ", saga.state(), ": ", absl::StrJoin(Steps(saga), " ")));
        },
        timeout, absl::StrCat("saga ", quote_id, " to be ", state));
    EXPECT_TRUE(s.ok()) << s << "\n" << system_->Logs();
    return saga;
  }

  // Waits until none of the quotes is APPROVED and each one's saga is COMPLETED or COMPENSATED.
  static void WaitSettled(const std::vector<std::string>& ids, absl::Duration timeout) {
    const std::string list = InList(ids);
    absl::Status settled = WaitFor(
        [&]() -> absl::Status {
          int64_t open = Count(
              "SELECT count(*) FROM quote.quotes WHERE status = 'APPROVED'"
              " AND quote_id IN (" +
              list + ")");
          int64_t done = Count(
              "SELECT count(*) FROM saga.sagas WHERE state IN ('COMPLETED', 'COMPENSATED')"
              " AND quote_id IN (" +
              list + ")");
          if (open == 0 && done == static_cast<int64_t>(ids.size())) return absl::OkStatus();
          return absl::FailedPreconditionError(
              absl::StrCat(open, " quotes still APPROVED, ", done, "/", ids.size(), " sagas done"));
        },
        timeout, "every approved quote to end ISSUED or REJECTED and its saga to end");
    ASSERT_TRUE(settled.ok()) << settled << "\n" << system_->Logs();
  }

  // I5 over the whole database (as saga_e2e_test), plus the orchestration's own: ISSUED <=> saga
  // COMPLETED, REJECTED <=> saga COMPENSATED (for settled sagas).
  static void ExpectInvariants() {
    ExpectSagaInvariants();
    EXPECT_EQ(Count("SELECT count(*) FROM (SELECT quote_id FROM policy.policies GROUP BY quote_id"
                    " HAVING count(*) > 1) d"),
              0);
    EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes q JOIN saga.sagas s USING (quote_id)"
                    " WHERE (q.status = 'ISSUED') <> (s.state = 'COMPLETED')"
                    " AND s.state IN ('COMPLETED', 'COMPENSATED')"),
              0);
    EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes q JOIN saga.sagas s USING (quote_id)"
                    " WHERE (q.status = 'REJECTED') <> (s.state = 'COMPENSATED')"
                    " AND s.state IN ('COMPLETED', 'COMPENSATED')"),
              0);
  }

  // Exactly once, for the sagas of `ids`: one "started" and one terminal entry per saga, every
  // step succeeded at most once, and a terminal entry only on a terminal saga.
  static void ExpectAdvancedOnce(const std::vector<std::string>& ids) {
    const std::string list = InList(ids);
    EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas WHERE quote_id IN (" + list + ")"),
              static_cast<int64_t>(ids.size()));
    EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas s WHERE quote_id IN (" + list +
                    ") AND (SELECT count(*) FROM saga.history h WHERE h.quote_id = s.quote_id"
                    " AND h.step = 'saga' AND h.outcome = 'started') <> 1"),
              0);
    EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas s WHERE quote_id IN (" + list +
                    ") AND (SELECT count(*) FROM saga.history h WHERE h.quote_id = s.quote_id"
                    " AND h.step = 'saga' AND h.outcome IN ('completed', 'compensated')) <> 1"),
              0);
    EXPECT_EQ(Count("SELECT count(*) FROM (SELECT quote_id, step FROM saga.history"
                    " WHERE outcome IN ('succeeded', 'refused') AND quote_id IN (" +
                    list + ") GROUP BY quote_id, step HAVING count(*) > 1) d"),
              0);
  }
};

// ---- Suite 1: two orchestrators (one consumer group), production-like deadlines ----

class OrchestrationE2eTest : public OrchestrationTestBase {
 protected:
  static void SetUpTestSuite() {
    SagaSystemOptions options =
        Options("orch-e2e", 2, {"--step-deadline=30s", "--sweep-interval=200ms"});
    for (const char* name : {"saga-orchestrator", "saga-orchestrator-1", "quote-worker"}) {
      const int port = process::FreeTcpPort();
      (*metrics_ports_)[name] = port;
      options.extra_args[name].push_back(absl::StrCat("--metrics-address=127.0.0.1:", port));
    }
    StartSystem(std::move(options));
  }
  static void TearDownTestSuite() { StopSystem(); }

  // A saga outcome series summed over both orchestrators.
  static double OrchestratorsTotal(const std::string& series) {
    return MetricValue(ScrapeMetrics(metrics_ports_->at("saga-orchestrator")), series) +
           MetricValue(ScrapeMetrics(metrics_ports_->at("saga-orchestrator-1")), series);
  }

  static std::map<std::string, int>* metrics_ports_;
};

std::map<std::string, int>* OrchestrationE2eTest::metrics_ports_ = new std::map<std::string, int>;

TEST_F(OrchestrationE2eTest, HappyPathAndBothCompensationsLikeChoreography) {
  CreateCustomer("orch-roomy", 5);
  CreateCustomer("orch-full", 1);
  const std::string ok = CreateAndApprove("orch-roomy", 1200);
  const std::string over_limit = CreateAndApprove("orch-roomy", 5'000'000);
  const std::string first = CreateAndApprove("orch-full", 1500);
  // Only after the first one is through, so that which of the two is refused is known.
  WaitSettled({ok, over_limit, first}, absl::Seconds(60));
  const std::string over_max = CreateAndApprove("orch-full", 1700);
  const std::string unknown = CreateAndApprove("orch-ghost", 1900);
  WaitSettled({over_max, unknown}, absl::Seconds(60));

  v1::Policy policy;
  v1::Saga saga;
  // Happy path: ISSUED, policy ACTIVE, counted; the saga COMPLETED step by step.
  EXPECT_EQ(GetQuote(ok).status(), v1::QUOTE_STATUS_ISSUED);
  ASSERT_TRUE(GetPolicy(ok, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_ACTIVE);
  EXPECT_EQ(policy.policy_id(), "pol-" + ok);
  EXPECT_EQ(policy.premium(), 1200);
  EXPECT_EQ(GetQuote(first).status(), v1::QUOTE_STATUS_ISSUED);
  ASSERT_TRUE(GetSaga(ok, &saga).ok());
  EXPECT_EQ(saga.state(), "COMPLETED");
  EXPECT_EQ(saga.customer_id(), "orch-roomy");
  EXPECT_EQ(saga.policy_id(), "pol-" + ok);
  EXPECT_EQ(saga.failure_reason(), "");
  EXPECT_FALSE(saga.has_deadline());
  EXPECT_EQ(Steps(saga), (std::vector<std::string>{"saga:started", "create-policy:sent",
                                                   "create-policy:succeeded", "count-policy:sent",
                                                   "count-policy:succeeded", "issue-quote:sent",
                                                   "issue-quote:succeeded", "saga:completed"}));
  if (saga.history_size() > 1) {
    EXPECT_EQ(saga.history(1).detail(), ok + "/saga/create-policy/1");
  }
  // The second orchestrator answers the same (the state is in the database).
  auto second = v1::SagaService::NewStub(SagaSystem::Channel(system_->saga_ports()[1]));
  v1::Saga again;
  ASSERT_TRUE(GetSaga(ok, &again, second.get()).ok());
  EXPECT_EQ(again.SerializeAsString(), saga.SerializeAsString());

  // Underwriting refusal: REJECTED with the reason, no policy; only the quote is compensated.
  v1::Quote refused = GetQuote(over_limit);
  EXPECT_EQ(refused.status(), v1::QUOTE_STATUS_REJECTED);
  EXPECT_EQ(refused.rejection_reason(), "premium 5000000 exceeds the underwriting limit 1000000");
  EXPECT_EQ(GetPolicy(over_limit, &policy).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(GetSaga(over_limit, &saga).ok());
  EXPECT_EQ(saga.state(), "COMPENSATED");
  EXPECT_EQ(saga.failure_reason(), "premium 5000000 exceeds the underwriting limit 1000000");
  EXPECT_EQ(Steps(saga),
            (std::vector<std::string>{"saga:started", "create-policy:sent", "create-policy:refused",
                                      "saga:compensating", "reject-quote:sent",
                                      "reject-quote:succeeded", "saga:compensated"}));

  // Customer at its maximum: policy CANCELLED, quote REJECTED, count unchanged.
  v1::Quote at_max = GetQuote(over_max);
  EXPECT_EQ(at_max.status(), v1::QUOTE_STATUS_REJECTED);
  EXPECT_TRUE(absl::StrContains(at_max.rejection_reason(), "is at its maximum of 1"))
      << at_max.rejection_reason();
  ASSERT_TRUE(GetPolicy(over_max, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_CANCELLED);
  EXPECT_TRUE(absl::StrContains(policy.cancellation_reason(), "is at its maximum of 1"));
  // Choreography's texts: "policy <id> cancelled: <the customer's reason>".
  EXPECT_EQ(at_max.rejection_reason(),
            absl::StrCat("policy pol-", over_max, " cancelled: ", policy.cancellation_reason()));
  const std::vector<std::string> customer_refused = {
      "saga:started",           "create-policy:sent",      "create-policy:succeeded",
      "count-policy:sent",      "count-policy:refused",    "saga:compensating",
      "cancel-policy:sent",     "cancel-policy:succeeded", "reject-quote:sent",
      "reject-quote:succeeded", "saga:compensated"};
  ASSERT_TRUE(GetSaga(over_max, &saga).ok());
  EXPECT_EQ(saga.state(), "COMPENSATED");
  EXPECT_EQ(Steps(saga), customer_refused);

  // Unregistered customer: the same compensation.
  EXPECT_EQ(GetQuote(unknown).status(), v1::QUOTE_STATUS_REJECTED);
  ASSERT_TRUE(GetPolicy(unknown, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_CANCELLED);
  ASSERT_TRUE(GetSaga(unknown, &saga).ok());
  EXPECT_EQ(saga.state(), "COMPENSATED");
  EXPECT_EQ(Steps(saga), customer_refused);

  EXPECT_EQ(GetCustomer("orch-roomy").policy_count(), 1);
  EXPECT_EQ(GetCustomer("orch-full").policy_count(), 1);
  ExpectAdvancedOnce({ok, over_limit, first, over_max, unknown});
  ExpectInvariants();

  // The orchestrators committed the ends (the first sagas of this system): 2 issued, 3 rejected,
  // each with its latency, on the same metric names as quote-worker's in choreography mode.
  const std::string issued = "quoteflow_saga_outcomes_total{outcome=\"issued\"}";
  const std::string rejected = "quoteflow_saga_outcomes_total{outcome=\"rejected\"}";
  absl::Status counted =
      WaitFor([&] { return OrchestratorsTotal(issued) >= 2 && OrchestratorsTotal(rejected) >= 3; },
              absl::Seconds(30), "the orchestrators' saga outcomes");
  EXPECT_TRUE(counted.ok()) << counted;
  EXPECT_EQ(OrchestratorsTotal(issued), 2);
  EXPECT_EQ(OrchestratorsTotal(rejected), 3);
  EXPECT_EQ(OrchestratorsTotal("quoteflow_saga_approve_to_final_seconds_count{outcome=\"issued\"}"),
            2);
  EXPECT_EQ(
      OrchestratorsTotal("quoteflow_saga_approve_to_final_seconds_count{outcome=\"rejected\"}"), 3);
  const std::string quote_worker = ScrapeMetrics(metrics_ports_->at("quote-worker"));
  EXPECT_TRUE(absl::StrContains(quote_worker, "quoteflow_consumer_handled_total")) << quote_worker;
  EXPECT_FALSE(absl::StrContains(quote_worker, "quoteflow_saga_outcomes_total")) << quote_worker;
}

TEST_F(OrchestrationE2eTest, ManyQuotesApprovedConcurrentlyAllSettleLikeChoreography) {
  constexpr int kCustomers = 10;
  constexpr int kQuotesPerCustomer = 12;
  constexpr int64_t kMax = 8;  // the last 4 of each customer are refused by the customer side
  for (int c = 0; c < kCustomers; ++c) CreateCustomer(absl::StrCat("orch-load-", c), kMax);
  std::vector<std::string> ids(kCustomers * kQuotesPerCustomer);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < ids.size(); i += 4) {
        ids[i] = CreateAndApprove(absl::StrCat("orch-load-", i % kCustomers), 1000 + i);
      }
    });
  }
  for (auto& t : threads) t.join();
  WaitSettled(ids, absl::Seconds(120));
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-load-%'"
                  " AND status = 'ISSUED'"),
            kCustomers * kMax);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-load-%'"
                  " AND status = 'REJECTED'"),
            kCustomers * (kQuotesPerCustomer - kMax));
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE customer_id LIKE 'orch-load-%'"
                  " AND status = 'CANCELLED'"),
            kCustomers * (kQuotesPerCustomer - kMax));
  for (int c = 0; c < kCustomers; ++c) {
    EXPECT_EQ(GetCustomer(absl::StrCat("orch-load-", c)).policy_count(), kMax);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas WHERE customer_id LIKE 'orch-load-%'"
                  " AND state = 'COMPLETED'"),
            kCustomers * kMax);
  ExpectAdvancedOnce(ids);
  ExpectInvariants();
}

TEST_F(OrchestrationE2eTest, EveryReplyAndApprovalRepublishedChangesNothing) {
  CreateCustomer("orch-dup", 1);
  const std::string issued = CreateAndApprove("orch-dup", 1000);
  WaitSettled({issued}, absl::Seconds(60));
  const std::string refused = CreateAndApprove("orch-dup", 1100);  // the customer is full
  WaitSettled({refused}, absl::Seconds(60));
  ASSERT_EQ(GetQuote(issued).status(), v1::QUOTE_STATUS_ISSUED);
  ASSERT_EQ(GetQuote(refused).status(), v1::QUOTE_STATUS_REJECTED);
  const std::string list = InList({issued, refused});
  auto snapshot = [&] {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    std::string out;
    for (const std::string& sql : std::vector<std::string>{
             "SELECT quote_id, state, step, attempt, version, updated_at FROM saga.sagas"
             " WHERE quote_id IN (" +
                 list + ") ORDER BY 1",
             "SELECT quote_id, seq, step, attempt, outcome, detail FROM saga.history"
             " WHERE quote_id IN (" +
                 list + ") ORDER BY 1, 2",
             "SELECT quote_id, status, version, rejection_reason FROM quote.quotes"
             " WHERE customer_id = 'orch-dup' ORDER BY 1",
             std::string("SELECT policy_id, status, version FROM policy.policies"
                         " WHERE customer_id = 'orch-dup' ORDER BY 1"),
             std::string("SELECT customer_id, policy_count, version FROM customer.customers"
                         " WHERE customer_id = 'orch-dup'"),
             std::string("SELECT policy_id, status FROM customer.policy_counts"
                         " WHERE customer_id = 'orch-dup' ORDER BY 1")}) {
      for (const pqxx::row& r : tx.exec(sql)) {
        for (const pqxx::field& f : r) absl::StrAppend(&out, f.c_str(), "|");
        out += "\n";
      }
    }
    return out;
  };
  const std::string before = snapshot();

  // Copies, with their original ids, of each saga's QuoteApproved (on quotes) and of every reply
  // it got (on saga-replies); behind them, on the same keys (so on the same partitions, consumed
  // after the copies), barrier events with new ids that the orchestrator records in its inbox and
  // otherwise ignores (a saga that exists is not started again; a terminal saga takes no reply).
  std::vector<std::string> barriers;
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    const absl::Time now = absl::Now();
    const OutboxTarget quote_outbox{.schema = "quote", .source = "/quoteflow/e2e"};
    const OutboxTarget policy_outbox{.schema = "policy", .source = "/quoteflow/e2e"};
    const OutboxTarget customer_outbox{.schema = "customer", .source = "/quoteflow/e2e"};
    const std::string replies = "saga-replies";
    for (const std::string& q : {issued, refused}) {
      const std::string pol = "pol-" + q;
      const std::string approved_id =
          tx.exec(
                "SELECT event_id FROM quote.requests WHERE operation = 'approve'"
                " AND quote_id = " +
                tx.quote(q))[0][0]
              .as<std::string>();
      const int64_t premium =
          tx.exec("SELECT premium FROM quote.quotes WHERE quote_id = " + tx.quote(q))[0][0]
              .as<int64_t>();
      auto event = [&](std::string id, std::string aggregate, int64_t version,
                       EventPayload payload) {
        return DomainEvent{.event_id = std::move(id),
                           .aggregate_id = std::move(aggregate),
                           .quote_id = q,
                           .aggregate_version = version,
                           .occurred_at = now,
                           .payload = std::move(payload)};
      };
      auto reply_id = [&](SagaStep step, int attempt) {
        return ReplyEventId(SagaCommandId(q, step, attempt));
      };
      InsertOutboxRow(
          tx, quote_outbox,
          event(approved_id, q, 2, QuoteApproved{.customer_id = "orch-dup", .premium = premium}));
      InsertOutboxRow(
          tx, policy_outbox,
          event(reply_id(SagaStep::kCreatePolicy, 1), pol, 1,
                PolicyCreated{.policy_id = pol, .customer_id = "orch-dup", .premium = premium}),
          "", replies);
      if (q == issued) {
        InsertOutboxRow(
            tx, customer_outbox,
            event(reply_id(SagaStep::kCountPolicy, 1), "orch-dup", 2,
                  CustomerPolicyCountUpdated{
                      .customer_id = "orch-dup", .policy_id = pol, .policy_count = 1, .delta = 1}),
            "", replies);
        InsertOutboxRow(tx, quote_outbox,
                        event(reply_id(SagaStep::kIssueQuote, 1), q, 3,
                              QuoteIssued{.customer_id = "orch-dup", .policy_id = pol}),
                        "", replies);
      } else {
        InsertOutboxRow(tx, customer_outbox,
                        event(reply_id(SagaStep::kCountPolicy, 1), "orch-dup", 2,
                              CustomerPolicyCountRejected{
                                  .customer_id = "orch-dup", .policy_id = pol, .reason = "copy"}),
                        "", replies);
        InsertOutboxRow(
            tx, policy_outbox,
            event(reply_id(SagaStep::kCancelPolicy, 1), pol, 2,
                  PolicyCancelled{.policy_id = pol, .customer_id = "orch-dup", .reason = "copy"}),
            "", replies);
        InsertOutboxRow(tx, quote_outbox,
                        event(reply_id(SagaStep::kRejectQuote, 1), q, 3,
                              QuoteRejected{.customer_id = "orch-dup", .reason = "copy"}),
                        "", replies);
      }
      // The barriers, one per key and topic.
      barriers.push_back("barrier-approved-" + q);
      InsertOutboxRow(tx, quote_outbox,
                      event(barriers.back(), q, 2,
                            QuoteApproved{.customer_id = "orch-dup", .premium = premium}));
      barriers.push_back(reply_id(SagaStep::kIssueQuote, 99));
      InsertOutboxRow(
          tx, quote_outbox,
          event(barriers.back(), q, 4, QuoteIssued{.customer_id = "orch-dup", .policy_id = pol}),
          "", replies);
      barriers.push_back(reply_id(SagaStep::kCreatePolicy, 99));
      InsertOutboxRow(
          tx, policy_outbox,
          event(barriers.back(), pol, 3,
                PolicyCreated{.policy_id = pol, .customer_id = "orch-dup", .premium = premium}),
          "", replies);
      barriers.push_back(reply_id(SagaStep::kCountPolicy, 99));
      InsertOutboxRow(
          tx, customer_outbox,
          event(barriers.back(), "orch-dup", 9,
                CustomerPolicyCountUpdated{
                    .customer_id = "orch-dup", .policy_id = pol, .policy_count = 1, .delta = 1}),
          "", replies);
    }
    tx.commit();
  }
  absl::Status consumed = WaitFor(
      [&]() -> absl::Status {
        const int64_t n =
            Count("SELECT count(*) FROM saga.inbox WHERE event_id IN (" + InList(barriers) + ")");
        if (n == static_cast<int64_t>(barriers.size())) return absl::OkStatus();
        return absl::FailedPreconditionError(
            absl::StrCat(n, "/", barriers.size(), " barriers in saga.inbox"));
      },
      absl::Seconds(60), "the orchestrators to consume the copies and the barriers");
  ASSERT_TRUE(consumed.ok()) << consumed << "\n" << system_->Logs();
  EXPECT_EQ(snapshot(), before);
  ExpectAdvancedOnce({issued, refused});
  ExpectInvariants();
}

TEST_F(OrchestrationE2eTest, TwoOrchestratorsShareABatchWithoutAdvancingASagaTwice) {
  ASSERT_EQ(system_->saga_ports().size(), 2u);
  constexpr int kCustomers = 6;
  constexpr int kQuotesPerCustomer = 10;
  constexpr int64_t kMax = 9;
  for (int c = 0; c < kCustomers; ++c) CreateCustomer(absl::StrCat("orch-two-", c), kMax);
  std::vector<std::string> ids(kCustomers * kQuotesPerCustomer);
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < ids.size(); i += 6) {
        // One quote per customer (the fourth round) over the underwriting limit: refused by the
        // policy side.
        const int64_t premium = i / kCustomers == 3 ? 2'000'000 : 500 + i;
        ids[i] = CreateAndApprove(absl::StrCat("orch-two-", i % kCustomers), premium);
      }
    });
  }
  for (auto& t : threads) t.join();
  WaitSettled(ids, absl::Seconds(120));
  ASSERT_TRUE(system_->Dead().empty()) << absl::StrJoin(system_->Dead(), ", ");
  // One premium refusal per customer; each customer then has 9 candidates for 9 places.
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-two-%'"
                  " AND status = 'ISSUED'"),
            54);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-two-%'"
                  " AND status = 'REJECTED' AND rejection_reason LIKE '%underwriting limit%'"),
            6);
  EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas WHERE customer_id LIKE 'orch-two-%'"
                  " AND state = 'COMPLETED'"),
            54);
  EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas WHERE customer_id LIKE 'orch-two-%'"
                  " AND state = 'COMPENSATED'"),
            6);
  // No step was re-sent (no deadline passed: every attempt is 1); ExpectAdvancedOnce below checks
  // one start, one end and at most one outcome per step of each saga.
  EXPECT_EQ(Count("SELECT count(*) FROM saga.history WHERE attempt > 1 AND quote_id IN (" +
                  InList(ids) + ")"),
            0);
  // The work was shared: each instance's latest assignment (its log is appended to, so the last
  // line is this process's) holds partitions, and the two are disjoint.
  std::vector<std::string> assigned;
  for (const char* name : {"saga-orchestrator", "saga-orchestrator-1"}) {
    const std::string log = testing::FileTail(system_->LogPath(name), 1 << 20);
    const size_t line = log.rfind("\"msg\":\"partitions assigned\"");
    ASSERT_NE(line, std::string::npos) << name << ":\n" << log;
    const std::string key = "\"partitions\":\"";
    const size_t from = log.find(key, line);
    ASSERT_NE(from, std::string::npos) << log.substr(line);
    const size_t to = log.find('"', from + key.size());
    assigned.push_back(log.substr(from + key.size(), to - from - key.size()));
    EXPECT_TRUE(absl::StrContains(assigned.back(), "saga-replies["))
        << name << ": " << assigned.back();
  }
  for (absl::string_view p : absl::StrSplit(assigned[0], ',', absl::SkipEmpty())) {
    EXPECT_FALSE(absl::StrContains(assigned[1], p)) << assigned[0] << " / " << assigned[1];
  }
  // Both instances serve the same view.
  for (int port : system_->saga_ports()) {
    auto stub = v1::SagaService::NewStub(SagaSystem::Channel(port));
    v1::Saga saga;
    ASSERT_TRUE(GetSaga(ids[0], &saga, stub.get()).ok());
    EXPECT_EQ(saga.state(), "COMPLETED");
  }
  for (int c = 0; c < kCustomers; ++c) {
    EXPECT_EQ(GetCustomer(absl::StrCat("orch-two-", c)).policy_count(), kMax);
  }
  ExpectAdvancedOnce(ids);
  ExpectInvariants();
}

TEST_F(OrchestrationE2eTest, OrchestratorsSigkilledRepeatedlyMidStreamEverySagaEndsOnce) {
  constexpr int kCustomers = 10;
  constexpr int kQuotes = 100;
  constexpr int64_t kMax = 8;  // 10 quotes per customer: 8 ISSUED, 2 REJECTED each
  constexpr int kKills = 5;
  for (int c = 0; c < kCustomers; ++c) CreateCustomer(absl::StrCat("orch-kill-", c), kMax);
  std::vector<std::string> ids(kQuotes);
  std::atomic<int> approved{0};
  std::vector<std::thread> threads;
  constexpr int kClients = 2;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kQuotes; i += kClients) {
        ids[i] = CreateAndApprove(absl::StrCat("orch-kill-", i % kCustomers), 1000 + i);
        ++approved;
        absl::SleepFor(absl::Milliseconds(100));  // a stream, not one burst
      }
    });
  }
  auto ended = [] {
    return Count(
        "SELECT count(*) FROM saga.sagas WHERE customer_id LIKE 'orch-kill-%'"
        " AND state IN ('COMPLETED', 'COMPENSATED')");
  };
  // Kill every orchestrator (no instance survives to take over) at spread points of the stream:
  // after some sagas started and while others are still running.
  std::vector<std::string> kills;
  for (int k = 0; k < kKills; ++k) {
    const int64_t target = (k + 1) * kQuotes / (kKills + 2);
    absl::Status progressed = WaitFor(
        [&]() -> absl::Status {
          const int64_t n = ended();
          if (n >= target) return absl::OkStatus();
          return absl::FailedPreconditionError(absl::StrCat(n, " sagas ended"));
        },
        absl::Seconds(60), absl::StrCat(target, " sagas to end before kill ", k + 1));
    ASSERT_TRUE(progressed.ok()) << progressed << "\n" << system_->Logs();
    for (const char* name : {"saga-orchestrator", "saga-orchestrator-1"}) {
      ASSERT_TRUE(system_->Kill(name).ok());
    }
    kills.push_back(
        absl::StrCat("kill ", k + 1, " at ", ended(), " ended, ", approved.load(), " approved"));
    for (const char* name : {"saga-orchestrator", "saga-orchestrator-1"}) {
      absl::Status s = system_->Restart(name);
      ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
    }
  }
  for (auto& t : threads) t.join();
  WaitSettled(ids, absl::Seconds(120));
  std::cerr << absl::StrJoin(kills, "\n") << "\n";
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-kill-%'"
                  " AND status = 'ISSUED'"),
            kCustomers * kMax);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-kill-%'"
                  " AND status = 'REJECTED'"),
            kQuotes - kCustomers * kMax);
  EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas WHERE customer_id LIKE 'orch-kill-%'"
                  " AND state = 'COMPLETED'"),
            kCustomers * kMax);
  EXPECT_EQ(Count("SELECT count(*) FROM saga.sagas WHERE customer_id LIKE 'orch-kill-%'"
                  " AND state = 'COMPENSATED'"),
            kQuotes - kCustomers * kMax);
  // One policy per quote at most; ACTIVE for ISSUED, CANCELLED for the customer's refusals.
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE customer_id LIKE 'orch-kill-%'"),
            kQuotes);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE customer_id LIKE 'orch-kill-%'"
                  " AND status = 'ACTIVE'"),
            kCustomers * kMax);
  for (int c = 0; c < kCustomers; ++c) {
    EXPECT_EQ(GetCustomer(absl::StrCat("orch-kill-", c)).policy_count(), kMax);
  }
  // No duplicate command effects: each quote moved APPROVED -> ISSUED/REJECTED once (version 3),
  // each policy was created once and cancelled at most once.
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE customer_id LIKE 'orch-kill-%'"
                  " AND version <> 3"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE customer_id LIKE 'orch-kill-%'"
                  " AND version <> CASE status WHEN 'ACTIVE' THEN 1 ELSE 2 END"),
            0);
  ExpectAdvancedOnce(ids);
  ExpectInvariants();
}

// ---- Suite 2: two orchestrators with short deadlines (their deadline sweepers compete) ----

class OrchestrationDeadlineE2eTest : public OrchestrationTestBase {
 protected:
  static void SetUpTestSuite() {
    StartSystem(
        Options("orch-deadline", 2,
                {"--step-deadline=2s", "--max-step-attempts=2", "--max-compensation-attempts=3",
                 "--max-backoff=4s", "--sweep-interval=200ms"}));
  }
  static void TearDownTestSuite() { StopSystem(); }

  // Runs the real quotectl; returns its exit code and stdout (stderr appended).
  static int Quotectl(const std::vector<std::string>& args, std::string* out) {
    std::string cmd =
        absl::StrCat(QUOTEFLOW_QUOTECTL_BIN, " --database-url='", Env().database_url(), "'");
    for (const std::string& a : args) absl::StrAppend(&cmd, " '", a, "'");
    absl::StrAppend(&cmd, " 2>&1");
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return -1;
    out->clear();
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out->append(buf, n);
    const int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

TEST_F(OrchestrationDeadlineE2eTest, ParticipantThatDoesNotReplyIsCompensatedAfterItsDeadline) {
  constexpr int kQuotes = 8;
  CreateCustomer("orch-silent-0", 5);
  CreateCustomer("orch-silent-1", 5);
  // The customer side goes silent: its commands wait on customer-commands, unanswered.
  ASSERT_TRUE(system_->Kill("customer-worker").ok());
  std::vector<std::string> ids;
  for (int i = 0; i < kQuotes; ++i) {
    ids.push_back(CreateAndApprove(absl::StrCat("orch-silent-", i % 2), 1300 + i));
  }
  const std::string list = InList(ids);
  // Two attempts of 2 s without a reply, then the compensation starts (with the release: a step
  // that timed out may still take effect). Both orchestrators' sweepers see the same deadlines.
  absl::Status compensating = WaitFor(
      [&]() -> absl::Status {
        const int64_t n = Count(
            "SELECT count(*) FROM saga.sagas WHERE state = 'RELEASE_COUNT_REQUESTED'"
            " AND quote_id IN (" +
            list + ")");
        if (n == kQuotes) return absl::OkStatus();
        return absl::FailedPreconditionError(absl::StrCat(n, " sagas compensating"));
      },
      absl::Seconds(60), "every saga to time out on count-policy and start compensating");
  ASSERT_TRUE(compensating.ok()) << compensating << "\n" << system_->Logs();
  const std::string q = ids[0];
  v1::Saga saga;
  ASSERT_TRUE(GetSaga(q, &saga).ok());
  EXPECT_EQ(saga.failure_reason(), "no reply to count-policy after 2 attempts");
  EXPECT_EQ(GetQuote(q).status(), v1::QUOTE_STATUS_APPROVED);
  // Each deadline was handled once (SKIP LOCKED between the two sweepers): per saga exactly two
  // timeouts of count-policy, its attempts 1 and 2 sent once each, one "compensating".
  for (const char* cond : {"step = 'count-policy' AND outcome = 'timed-out'",
                           "step = 'count-policy' AND outcome = 'sent'"}) {
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM saga.sagas s WHERE quote_id IN (", list,
                                 ") AND (SELECT count(*) FROM saga.history h WHERE h.quote_id ="
                                 " s.quote_id AND ",
                                 cond, ") <> 2")),
              0)
        << cond;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM saga.history WHERE step = 'count-policy' AND attempt > 2"
                  " AND quote_id IN (" +
                  list + ")"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM saga.history WHERE outcome = 'compensating'"
                  " AND quote_id IN (" +
                  list + ")"),
            kQuotes);
  // The participant comes back: it finds the count commands (answered late, ignored by the
  // sagas) and the releases, and the compensations complete.
  absl::Status s = system_->Restart("customer-worker");
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  WaitSettled(ids, absl::Seconds(60));
  saga = WaitSaga(q, "COMPENSATED", absl::Seconds(30));
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE status = 'REJECTED'"
                  " AND rejection_reason = 'policy pol-' || quote_id || ' cancelled: no reply to"
                  " count-policy after 2 attempts' AND quote_id IN (" +
                  list + ")"),
            kQuotes);
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies WHERE status = 'CANCELLED'"
                  " AND quote_id IN (" +
                  list + ")"),
            kQuotes);
  v1::Policy policy;
  ASSERT_TRUE(GetPolicy(q, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_CANCELLED);
  EXPECT_EQ(GetCustomer("orch-silent-0").policy_count(), 0);
  EXPECT_EQ(GetCustomer("orch-silent-1").policy_count(), 0);
  const std::vector<std::string> done = Steps(saga);
  for (const char* step : {"release-count:succeeded", "cancel-policy:succeeded",
                           "reject-quote:succeeded", "saga:compensated"}) {
    EXPECT_EQ(std::count(done.begin(), done.end(), step), 1)
        << step << ": " << absl::StrJoin(done, " ");
  }
  EXPECT_EQ(std::count(done.begin(), done.end(), "count-policy:succeeded"), 0);
  ExpectAdvancedOnce(ids);
  ExpectInvariants();
}

TEST_F(OrchestrationDeadlineE2eTest, FailingCompensationEndsStuckAndItsLateReplyResolvesIt) {
  CreateCustomer("orch-stuck", 1);
  const std::string first = CreateAndApprove("orch-stuck", 1000);
  WaitSettled({first}, absl::Seconds(60));
  ASSERT_EQ(GetQuote(first).status(), v1::QUOTE_STATUS_ISSUED);
  // The customer is at its maximum: the next saga must cancel its policy. Hold the customer's
  // answer until the policy side is down, so that the cancellation finds no policy-worker.
  ASSERT_TRUE(system_->Kill("customer-worker").ok());
  const std::string q = CreateAndApprove("orch-stuck", 1100);
  WaitSaga(q, "CUSTOMER_UPDATE_REQUESTED", absl::Seconds(60));
  ASSERT_TRUE(system_->Kill("policy-worker").ok());
  absl::Status s = system_->Restart("customer-worker");
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  // CancelPolicy: 3 attempts (2 s, 4 s, 4 s) without a reply, then STUCK.
  v1::Saga saga = WaitSaga(q, "STUCK", absl::Seconds(90));
  EXPECT_EQ(saga.current_step(), "cancel-policy");
  EXPECT_EQ(saga.stuck_reason(), "no reply to cancel-policy after 3 attempts");
  EXPECT_FALSE(saga.has_deadline());
  EXPECT_EQ(GetQuote(q).status(), v1::QUOTE_STATUS_APPROVED);

  std::string out;
  ASSERT_EQ(Quotectl({"saga", "list", "--state", "STUCK"}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, q + "\tSTUCK\tcancel-policy#")) << out;
  EXPECT_TRUE(absl::StrContains(out, "no reply to cancel-policy after 3 attempts")) << out;
  EXPECT_FALSE(absl::StrContains(out, first)) << out;
  ASSERT_EQ(Quotectl({"saga", "show", q}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "stuck: no reply to cancel-policy after 3 attempts")) << out;
  // STUCK is sticky: nothing moves it while the cause remains.
  EXPECT_EQ(GetQuote(q).status(), v1::QUOTE_STATUS_APPROVED);

  // Fix the cause: policy-worker back. The CancelPolicy commands sent before are answered, and
  // the reply of the stuck step resolves the saga; no operator needed (before issue 14 the reply
  // was recorded as "late-reply" and the saga stayed STUCK until `quotectl saga retry`).
  s = system_->Restart("policy-worker");
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  WaitSettled({q}, absl::Seconds(90));
  saga = WaitSaga(q, "COMPENSATED", absl::Seconds(30));
  EXPECT_EQ(saga.stuck_reason(), "");
  const std::vector<std::string> steps = Steps(saga);
  for (const char* step :
       {"cancel-policy:stuck", "cancel-policy:unstuck", "cancel-policy:succeeded",
        "reject-quote:succeeded", "saga:compensated"}) {
    EXPECT_EQ(std::count(steps.begin(), steps.end(), step), 1)
        << step << ": " << absl::StrJoin(steps, " ");
  }
  v1::Quote quote = GetQuote(q);
  EXPECT_EQ(quote.status(), v1::QUOTE_STATUS_REJECTED);
  // The customer's refusal ("... is at its maximum of 1") or, when its restart outlasted the
  // count step's deadlines, "no reply to count-policy after 2 attempts": cancelled either way.
  EXPECT_TRUE(
      absl::StartsWith(quote.rejection_reason(), absl::StrCat("policy pol-", q, " cancelled: ")))
      << quote.rejection_reason();
  v1::Policy policy;
  ASSERT_TRUE(GetPolicy(q, &policy).ok());
  EXPECT_EQ(policy.status(), v1::POLICY_STATUS_CANCELLED);
  EXPECT_EQ(GetCustomer("orch-stuck").policy_count(), 1);
  ASSERT_EQ(Quotectl({"saga", "list", "--state", "STUCK"}, &out), 0) << out;
  EXPECT_FALSE(absl::StrContains(out, q)) << out;
  // Nothing left to resume.
  EXPECT_EQ(Quotectl({"saga", "retry", q}, &out), 1) << out;
  EXPECT_TRUE(absl::StrContains(out, "not STUCK")) << out;
  ExpectAdvancedOnce({first, q});
  ExpectInvariants();
}

}  // namespace
}  // namespace quoteflow

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(
      &argc, argv, {.kafka_topics = quoteflow::kTopics});
  return RUN_ALL_TESTS();
}
