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
// It runs on the ctest run's shared Kafka, on this process's own topics and consumer groups (as
// ops_kit_e2e_test).
#include <grpcpp/grpcpp.h>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "quoteflow/v1/saga.grpc.pb.h"
#include "tests/ops/ops_kit_fixture.h"
#include "tests/ops/ops_test_util.h"
#include "tests/support/saga_system.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using ops_testing::EnvVars;
using testing::Env;
using testing::WaitFor;

constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1,"
    "policy-commands:4,customer-commands:4,quote-commands:4,saga-replies:4,"
    "policy-commands.dlq:1,customer-commands.dlq:1,quote-commands.dlq:1,saga-replies.dlq:1";

// Short group timings, so that a SIGKILLed worker's partitions move within seconds.
constexpr char kKafkaProperties[] =
    "--kafka-properties=session.timeout.ms=6000,heartbeat.interval.ms=500,"
    "topic.metadata.refresh.interval.ms=1000";

class OpsKitOrchestrationE2eTest : public ops_testing::OpsKitTest {
 protected:
  static void SetUpTestSuite() {
    testing::SagaSystemOptions options;
    options.saga_mode = "orchestration";
    options.log_prefix = "ops-kit-orch";
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
    StartSystem(options);
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
};

TEST_F(OpsKitOrchestrationE2eTest, StuckSagaIsFoundAndRetriedWithQuotectl) {
  CreateCustomer("ops-orch", 5);
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
  // saga-orchestrator commits each saga's end in this mode: the outcomes are its metrics.
  const std::string orchestrator = Metrics("saga-orchestrator");
  EXPECT_GE(ops_testing::Sample(orchestrator, "quoteflow_saga_outcomes_total{outcome=\"issued\"}")
                .value_or(0),
            2)
      << orchestrator;
  ScrapeMetricNames();
}

TEST_F(OpsKitOrchestrationE2eTest, EveryOrchestrationBlockOfTheRunbookRan) {
  ExpectEveryBlockRan();
}

}  // namespace
}  // namespace quoteflow

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(
      &argc, argv, {.kafka_topics = quoteflow::kTopics});
  return RUN_ALL_TESTS();
}
