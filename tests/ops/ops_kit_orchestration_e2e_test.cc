// End to end, orchestration mode: the operators' kit against the whole system by orchestration
// (SagaSystem with saga-orchestrator and its relay; every process with --metrics-address). It
// runs the blocks of docs/runbook.md tagged tested=orchestration:<name>:
//
//   1. a saga made STUCK (quote-worker down, so IssueQuote gets no reply after
//      --max-compensation-attempts with short deadlines): listed with `quotectl saga list --state
//      STUCK`, shown with its stuck reason, counted by quoteflow_saga_stuck_total; resumed with
//      `quotectl saga retry`, it completes once quote-worker is back, and verify exits 0;
//   2. last, every binary's live /metrics names (saga-orchestrator's included) are written to
//      <QUOTEFLOW_SCRAPE_DIR>/orchestration.txt for promql_names_test, and every orchestration
//      block has run.
//
// The orchestration topics have fixed names (no prefix, consumers/orchestrator/saga_topics.h),
// and "quotes" is read from the earliest offset by a new orchestrator's group: on the run's shared
// Kafka this test and orchestration_e2e_test would start sagas for each other's quotes. So this
// binary is registered without the run's Kafka fixture, and Env() starts a single-node Kafka of
// its own (tests/support/test_environment.h) with the topics below.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <map>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "quoteflow/v1/saga.grpc.pb.h"
#include "tests/ops/ops_test_util.h"
#include "tests/support/saga_system.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using ops_testing::BlockResult;
using ops_testing::HttpGet;
using ops_testing::RunbookRunner;
using ops_testing::Sample;
using testing::Env;
using testing::SagaSystem;
using testing::WaitFor;

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// Process name in SagaSystem -> (binary, the <SERVICE>_METRICS_URL variable `make run` writes).
const std::map<std::string, std::pair<std::string, std::string>>& Processes() {
  static const auto* processes = new std::map<std::string, std::pair<std::string, std::string>>{
      {"quote-api", {"quote-api", "QUOTE_API_METRICS_URL"}},
      {"relay-quote", {"outbox-relay", "OUTBOX_RELAY_QUOTE_METRICS_URL"}},
      {"relay-policy", {"outbox-relay", "OUTBOX_RELAY_POLICY_METRICS_URL"}},
      {"relay-customer", {"outbox-relay", "OUTBOX_RELAY_CUSTOMER_METRICS_URL"}},
      {"relay-saga", {"outbox-relay", "OUTBOX_RELAY_SAGA_METRICS_URL"}},
      {"policy-worker", {"policy-worker", "POLICY_WORKER_METRICS_URL"}},
      {"customer-worker", {"customer-worker", "CUSTOMER_WORKER_METRICS_URL"}},
      {"quote-worker", {"quote-worker", "QUOTE_WORKER_METRICS_URL"}},
      {"saga-orchestrator", {"saga-orchestrator", "SAGA_ORCHESTRATOR_METRICS_URL"}}};
  return *processes;
}

constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1,"
    "policy-commands:4,customer-commands:4,quote-commands:4,saga-replies:4,"
    "policy-commands.dlq:1,customer-commands.dlq:1,quote-commands.dlq:1,saga-replies.dlq:1";

// Short group timings, so that a SIGKILLed worker's partitions move within seconds.
constexpr char kKafkaProperties[] =
    "--kafka-properties=session.timeout.ms=6000,heartbeat.interval.ms=500,"
    "topic.metadata.refresh.interval.ms=1000";

class OpsKitOrchestrationE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // No scrape from an earlier run may stand in for this one's (promql_names_test reads it).
    std::remove((std::string(QUOTEFLOW_SCRAPE_DIR) + "/orchestration.txt").c_str());
    testing::SagaSystemOptions options;
    options.saga_mode = "orchestration";
    options.log_prefix = "ops-kit-orch";
    for (const auto& [name, _] : Processes()) {
      const int port = process::FreeTcpPort();
      (*ports_)[name] = port;
      options.extra_args[name].push_back(absl::StrCat("--metrics-address=127.0.0.1:", port));
    }
    for (const char* w : {"policy-worker", "customer-worker", "quote-worker"}) {
      options.extra_args[w].push_back(kKafkaProperties);
    }
    // A step without reply is retried twice, 2 s apart, then the saga is STUCK (seconds, not the
    // default minutes).
    for (const char* flag :
         {"--step-deadline=2s", "--max-step-attempts=2", "--max-compensation-attempts=2",
          "--max-backoff=2s", "--sweep-interval=200ms", kKafkaProperties}) {
      options.extra_args["saga-orchestrator"].push_back(flag);
    }
    system_ = new SagaSystem(options);
    absl::Status s = system_->Start();
    if (!s.ok()) {
      start_error_ = new std::string(s.ToString() + "\n" + system_->Logs());
      return;
    }
    EnvVars env = {{"DATABASE_URL", Env().database_url()},
                   {"KAFKA_BOOTSTRAP_SERVERS", Env().bootstrap_servers()},
                   {"QUOTECTL", QUOTEFLOW_QUOTECTL_BIN}};
    for (const auto& [name, binary_and_var] : Processes()) {
      env.emplace_back(binary_and_var.second, Url(name));
    }
    runner_ = new RunbookRunner(QUOTEFLOW_RUNBOOK, "orchestration", env);
  }
  static void TearDownTestSuite() {
    if (system_ == nullptr) return;
    std::vector<std::string> bad = system_->Stop();
    EXPECT_TRUE(bad.empty()) << "did not stop cleanly: " << absl::StrJoin(bad, ", ") << "\n"
                             << system_->Logs();
    delete system_;
    system_ = nullptr;
  }
  void SetUp() override {
    if (start_error_ != nullptr) GTEST_FAIL() << "system did not start: " << *start_error_;
    ASSERT_TRUE(runner_->status().ok()) << runner_->status();
  }

  static std::string Url(const std::string& process) {
    return absl::StrCat("http://127.0.0.1:", ports_->at(process), "/metrics");
  }
  static std::string Metrics(const std::string& process) {
    std::optional<ops_testing::HttpResponse> r = HttpGet(ports_->at(process), "/metrics");
    return r.has_value() && r->status == 200 ? r->body : "";
  }
  // Runs runbook block `name` and expects exit code 0; returns its output.
  static std::string RunBlock(const std::string& name, const EnvVars& extra = {}) {
    absl::StatusOr<BlockResult> r = runner_->Run(name, extra);
    EXPECT_TRUE(r.ok()) << name << ": " << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << "runbook block " << name << ":\n"
                               << runner_->Script(name) << "output:\n"
                               << r->output;
    return r->output;
  }

  static std::string CreateAndApprove(const std::string& customer, int64_t premium) {
    grpc::ClientContext create_ctx;
    v1::CreateQuoteRequest create;
    create.set_customer_id(customer);
    create.set_premium(premium);
    v1::Quote quote;
    grpc::Status s = system_->quotes().CreateQuote(&create_ctx, create, &quote);
    EXPECT_TRUE(s.ok()) << s.error_message();
    grpc::ClientContext approve_ctx;
    v1::ApproveQuoteRequest approve;
    approve.set_quote_id(quote.quote_id());
    v1::ApproveQuoteResponse approved;
    s = system_->quotes().ApproveQuote(&approve_ctx, approve, &approved);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return quote.quote_id();
  }
  // Waits until saga-orchestrator answers GetSaga(quote_id) with `state`.
  static absl::Status WaitForSaga(const std::string& quote_id, const std::string& state,
                                  absl::Duration timeout) {
    std::string last;
    absl::Status s = WaitFor(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          v1::GetSagaRequest req;
          req.set_quote_id(quote_id);
          v1::Saga saga;
          if (!system_->sagas().GetSaga(&ctx, req, &saga).ok()) return false;
          last = saga.state();
          return saga.state() == state;
        },
        timeout, absl::StrCat("saga ", quote_id, " ", state));
    if (s.ok()) return s;
    return absl::Status(s.code(), absl::StrCat(s.message(), " (last state ", last, ")"));
  }
  static std::string QuoteStatus(const std::string& quote_id) {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    pqxx::result r =
        tx.exec_params("SELECT status FROM quote.quotes WHERE quote_id = $1", quote_id);
    return r.empty() ? "" : r[0][0].as<std::string>();
  }

  static SagaSystem* system_;
  static std::string* start_error_;
  static std::map<std::string, int>* ports_;
  static RunbookRunner* runner_;
};

SagaSystem* OpsKitOrchestrationE2eTest::system_ = nullptr;
std::string* OpsKitOrchestrationE2eTest::start_error_ = nullptr;
std::map<std::string, int>* OpsKitOrchestrationE2eTest::ports_ = new std::map<std::string, int>;
RunbookRunner* OpsKitOrchestrationE2eTest::runner_ = nullptr;

TEST_F(OpsKitOrchestrationE2eTest, StuckSagaIsFoundAndRetriedWithQuotectl) {
  {
    grpc::ClientContext ctx;
    v1::CreateCustomerRequest req;
    req.set_customer_id("ops-orch");
    req.set_name("Orchestrated");
    req.set_max_policies(5);
    req.set_request_id("create-ops-orch");
    v1::Customer resp;
    grpc::Status s = system_->customers().CreateCustomer(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const std::string done = CreateAndApprove("ops-orch", 1000);
  absl::Status s = WaitForSaga(done, "COMPLETED", absl::Seconds(90));
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();

  // quote-worker down: IssueQuote gets no reply, twice, and the saga is left STUCK.
  ASSERT_TRUE(system_->Kill("quote-worker").ok());
  const std::string q = CreateAndApprove("ops-orch", 1100);
  s = WaitForSaga(q, "STUCK", absl::Seconds(90));
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();

  std::string out = RunBlock("saga-stuck-list");
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat(q, "\tSTUCK\tissue-quote#"))) << out;
  EXPECT_FALSE(absl::StrContains(out, done)) << out;
  const EnvVars saga = {{"QUOTE_ID", q}};
  out = RunBlock("saga-show", saga);
  EXPECT_TRUE(absl::StrContains(out, "state STUCK step issue-quote")) << out;
  EXPECT_TRUE(absl::StrContains(out, "stuck: no reply to issue-quote after 2 attempts")) << out;
  out = RunBlock("saga-metrics");
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_saga_stuck_total 1")) << out;
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_saga_started_total 2")) << out;
  EXPECT_EQ(QuoteStatus(q), "APPROVED");

  // The saga resumed, then the cause fixed (quote-worker back). In this order: once quote-worker
  // is back, the reply to an IssueQuote sent before would resolve the STUCK saga by itself
  // (issue 14), and the retry would find nothing to resume.
  out = RunBlock("saga-retry", saga);
  EXPECT_TRUE(absl::StrContains(out, "resumed " + q)) << out;
  s = system_->Restart("quote-worker");
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  s = WaitForSaga(q, "COMPLETED", absl::Seconds(90));
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  out = RunBlock("saga-show", saga);
  EXPECT_TRUE(absl::StrContains(out, "state COMPLETED")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\tresumed\t")) << out;
  EXPECT_EQ(QuoteStatus(q), "ISSUED");
  out = RunBlock("saga-stuck-list");
  EXPECT_FALSE(absl::StrContains(out, q)) << out;
  EXPECT_TRUE(absl::StrContains(RunBlock("verify"), "verify: 0 inconsistencies"));
}

// Last: what every binary exports in orchestration mode, for promql_names_test.
TEST_F(OpsKitOrchestrationE2eTest, EveryBinarysMetricNamesAreScraped) {
  std::vector<std::pair<std::string, std::string>> scrapes;
  for (const auto& [name, binary_and_var] : Processes()) {
    const std::string body = Metrics(name);
    EXPECT_TRUE(absl::StrContains(body, "quoteflow_")) << name << " /metrics:\n" << body;
    scrapes.emplace_back(binary_and_var.first, body);
  }
  // saga-orchestrator commits each saga's end in this mode: the outcomes are its metrics.
  const std::string orchestrator = Metrics("saga-orchestrator");
  EXPECT_GE(Sample(orchestrator, "quoteflow_saga_outcomes_total{outcome=\"issued\"}").value_or(0),
            2)
      << orchestrator;
  const std::string path = std::string(QUOTEFLOW_SCRAPE_DIR) + "/orchestration.txt";
  absl::Status s = ops_testing::WriteScrapedMetricNames(path, scrapes);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(OpsKitOrchestrationE2eTest, EveryOrchestrationBlockOfTheRunbookRan) {
  EXPECT_TRUE(runner_->NotRun().empty())
      << "blocks of docs/runbook.md tagged tested=orchestration:... that no test ran: "
      << absl::StrJoin(runner_->NotRun(), ", ");
}

}  // namespace
}  // namespace quoteflow

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(
      &argc, argv, {.kafka_topics = quoteflow::kTopics, .prefix_topics = false});
  return RUN_ALL_TESTS();
}
