#include "tests/ops/ops_kit_fixture.h"

#include <cstdio>
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "platform/process/child_process.h"
#include "tests/support/test_environment.h"

namespace quoteflow::ops_testing {

RunbookRunner* OpsKitTest::runner_ = nullptr;
std::string* OpsKitTest::mode_ = new std::string;
std::map<std::string, int>* OpsKitTest::ports_ = new std::map<std::string, int>;
std::map<std::string, OpsKitTest::ProcessInfo>* OpsKitTest::processes_ =
    new std::map<std::string, ProcessInfo>;

namespace {

std::string ScrapeFile(const std::string& mode) {
  return absl::StrCat(QUOTEFLOW_SCRAPE_DIR, "/", mode, ".txt");
}

}  // namespace

void OpsKitTest::StartSystem(testing::SagaSystemOptions options) {
  *mode_ = options.saga_mode;
  std::remove(ScrapeFile(*mode_).c_str());
  *processes_ = {{"quote-api", {"quote-api", "QUOTE_API_METRICS_URL"}},
                 {"relay-quote", {"outbox-relay", "OUTBOX_RELAY_QUOTE_METRICS_URL"}},
                 {"relay-policy", {"outbox-relay", "OUTBOX_RELAY_POLICY_METRICS_URL"}},
                 {"relay-customer", {"outbox-relay", "OUTBOX_RELAY_CUSTOMER_METRICS_URL"}},
                 {"policy-worker", {"policy-worker", "POLICY_WORKER_METRICS_URL"}},
                 {"customer-worker", {"customer-worker", "CUSTOMER_WORKER_METRICS_URL"}},
                 {"quote-worker", {"quote-worker", "QUOTE_WORKER_METRICS_URL"}}};
  if (*mode_ == "orchestration") {
    processes_->insert({"relay-saga", {"outbox-relay", "OUTBOX_RELAY_SAGA_METRICS_URL"}});
    processes_->insert(
        {"saga-orchestrator", {"saga-orchestrator", "SAGA_ORCHESTRATOR_METRICS_URL"}});
  }
  for (const auto& [name, _] : *processes_) {
    const int port = process::FreeTcpPort();
    (*ports_)[name] = port;
    options.extra_args[name].push_back(absl::StrCat("--metrics-address=127.0.0.1:", port));
  }
  SagaSystemFixture::StartSystem(std::move(options));
  if (start_error_ != nullptr) return;
  EnvVars env = {{"DATABASE_URL", testing::Env().database_url()},
                 {"KAFKA_BOOTSTRAP_SERVERS", testing::Env().bootstrap_servers()},
                 {"QUOTECTL", QUOTEFLOW_QUOTECTL_BIN}};
  for (const auto& [name, info] : *processes_) env.emplace_back(info.metrics_url_var, Url(name));
  runner_ = new RunbookRunner(QUOTEFLOW_RUNBOOK, *mode_, env);
}

void OpsKitTest::SetUp() {
  SagaSystemFixture::SetUp();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(runner_->status().ok()) << runner_->status();
}

std::string OpsKitTest::Url(const std::string& process) {
  return absl::StrCat("http://127.0.0.1:", ports_->at(process), "/metrics");
}

std::string OpsKitTest::Metrics(const std::string& process) {
  std::optional<HttpResponse> r = HttpGet(ports_->at(process), "/metrics");
  return r.has_value() && r->status == 200 ? r->body : "";
}

std::string OpsKitTest::RunBlock(const std::string& name, const EnvVars& extra, int want) {
  absl::StatusOr<BlockResult> r = runner_->Run(name, extra);
  EXPECT_TRUE(r.ok()) << name << ": " << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, want) << "runbook block " << name << ":\n"
                                << runner_->Script(name) << "output:\n"
                                << r->output;
  return r->output;
}

std::string OpsKitTest::QuoteStatus(const std::string& quote_id) {
  pqxx::connection c(testing::Env().database_url());
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec_params("SELECT status FROM quote.quotes WHERE quote_id = $1", quote_id);
  return r.empty() ? "" : r[0][0].as<std::string>();
}

void OpsKitTest::ScrapeMetricNames() {
  std::vector<std::pair<std::string, std::string>> scrapes;
  for (const auto& [name, info] : *processes_) {
    const std::string body = Metrics(name);
    EXPECT_TRUE(absl::StrContains(body, "quoteflow_")) << name << " /metrics:\n" << body;
    scrapes.emplace_back(info.binary, body);
  }
  absl::Status s = ops_testing::WriteScrapedMetricNames(ScrapeFile(*mode_), scrapes);
  EXPECT_TRUE(s.ok()) << s;
}

void OpsKitTest::ExpectEveryBlockRan() {
  EXPECT_TRUE(runner_->NotRun().empty())
      << "blocks of docs/runbook.md tagged tested=" << *mode_
      << ":... that no test ran: " << absl::StrJoin(runner_->NotRun(), ", ");
}

}  // namespace quoteflow::ops_testing
