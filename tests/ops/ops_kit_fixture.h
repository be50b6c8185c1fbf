// OpsKitTest: the fixture the operators' kit e2e tests share (ops_kit_e2e_test in choreography,
// ops_kit_orchestration_e2e_test in orchestration). One system per test binary (SagaSystem on the
// run's shared Kafka, its own topics and groups), every process with --metrics-address on a port
// of its own, and a RunbookRunner over docs/runbook.md's blocks tagged tested=<mode>:<name>, whose
// environment carries what `make run` writes to local.env: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS,
// QUOTECTL and each <SERVICE>_METRICS_URL.
//
// A test binary derives its fixture from OpsKitTest and calls StartSystem() from its
// SetUpTestSuite(); the tests then run in order on the same system, with SagaSystemFixture's
// helpers.
#ifndef QUOTEFLOW_TESTS_OPS_OPS_KIT_FIXTURE_H_
#define QUOTEFLOW_TESTS_OPS_OPS_KIT_FIXTURE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_test_util.h"
#include "tests/support/saga_fixture.h"

namespace quoteflow::ops_testing {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

class OpsKitTest : public testing::SagaSystemFixture {
 protected:
  // A process of the system: its binary and the <SERVICE>_METRICS_URL variable `make run` writes.
  struct ProcessInfo {
    std::string binary;
    std::string metrics_url_var;
  };
  // Process name in SagaSystem -> its binary and variable, for the mode StartSystem() was given.
  static const std::map<std::string, ProcessInfo>& Processes() { return *processes_; }

  // Removes <QUOTEFLOW_SCRAPE_DIR>/<mode>.txt (no scrape from an earlier run may stand in for this
  // one's), starts the system in `options.saga_mode` with a metrics port per process, and the
  // runbook runner for that mode. A failure is reported by every test's SetUp().
  static void StartSystem(testing::SagaSystemOptions options);
  static void TearDownTestSuite() { StopSystem(); }
  void SetUp() override;

  // The port `process` serves /metrics and /healthz on; http://127.0.0.1:<port>/metrics; and that
  // page's body now ("" when it does not answer).
  static int MetricsPort(const std::string& process) { return ports_->at(process); }
  static std::string Url(const std::string& process);
  static std::string Metrics(const std::string& process);
  // Runs runbook block `name` and expects exit code `want`; returns its output.
  static std::string RunBlock(const std::string& name, const EnvVars& extra = {}, int want = 0);
  // The quote's status in quote.quotes ("" when there is none).
  static std::string QuoteStatus(const std::string& quote_id);
  // Writes every process's live /metrics names to <QUOTEFLOW_SCRAPE_DIR>/<mode>.txt, for
  // promql_names_test; each scrape must hold quoteflow_ series.
  static void ScrapeMetricNames();
  // Every block of the runbook tagged with this mode has run.
  static void ExpectEveryBlockRan();

  static RunbookRunner* runner_;

 private:
  static std::string* mode_;
  static std::map<std::string, int>* ports_;
  static std::map<std::string, ProcessInfo>* processes_;
};

}  // namespace quoteflow::ops_testing

#endif  // QUOTEFLOW_TESTS_OPS_OPS_KIT_FIXTURE_H_
