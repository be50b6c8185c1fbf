#include "tests/ops/ops_kit_fixture.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/support/test_environment.h"

namespace quoteflow::ops_testing {

testing::SagaSystem* OpsKitTest::system_ = nullptr;
std::string* OpsKitTest::start_error_ = nullptr;
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
  system_ = new testing::SagaSystem(options);
  if (absl::Status s = system_->Start(); !s.ok()) {
    start_error_ = new std::string(s.ToString() + "\n" + system_->Logs());
    return;
  }
  EnvVars env = {{"DATABASE_URL", testing::Env().database_url()},
                 {"KAFKA_BOOTSTRAP_SERVERS", testing::Env().bootstrap_servers()},
                 {"QUOTECTL", QUOTEFLOW_QUOTECTL_BIN}};
  for (const auto& [name, info] : *processes_) env.emplace_back(info.metrics_url_var, Url(name));
  runner_ = new RunbookRunner(QUOTEFLOW_RUNBOOK, *mode_, env);
}

void OpsKitTest::TearDownTestSuite() {
  if (system_ == nullptr) return;
  std::vector<std::string> bad = system_->Stop();
  EXPECT_TRUE(bad.empty()) << "did not stop cleanly: " << absl::StrJoin(bad, ", ") << "\n"
                           << system_->Logs();
  delete system_;
  system_ = nullptr;
}

void OpsKitTest::SetUp() {
  if (start_error_ != nullptr) GTEST_FAIL() << "system did not start: " << *start_error_;
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

void OpsKitTest::CreateCustomer(const std::string& id, int max_policies) {
  grpc::ClientContext ctx;
  v1::CreateCustomerRequest req;
  req.set_customer_id(id);
  req.set_name("Customer " + id);
  req.set_max_policies(max_policies);
  req.set_request_id("create-" + id);
  v1::Customer resp;
  grpc::Status s = system_->customers().CreateCustomer(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

std::string OpsKitTest::CreateAndApprove(const std::string& customer, int64_t premium) {
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
