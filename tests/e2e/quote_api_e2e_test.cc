// End to end: the real quote-api binary against a real PostgreSQL, called over gRPC both with the
// generated stub and through server reflection with the grpcurl-compatible client that the README
// uses (tools/grpcurl/grpcurl), then stopped with SIGTERM.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using process::ChildProcess;

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// Runs `args` through /bin/sh-free exec of grpcurl and collects its stdout+stderr: the real
// grpcurl when scripts/install-deps.sh could build it, else the tools/grpcurl stand-in.
CommandResult Grpcurl(std::vector<std::string> args) {
  const char* grpcurl = access(QUOTEFLOW_REAL_GRPCURL, X_OK) == 0 ? QUOTEFLOW_REAL_GRPCURL
                                                                  : QUOTEFLOW_GRPCURL;
  std::vector<std::string> all = {"-c", "exec \"$0\" \"$@\" 2>&1", grpcurl};
  all.insert(all.end(), args.begin(), args.end());
  auto child = ChildProcess::Start({.path = "/bin/sh", .args = all, .capture_stdout = true});
  CommandResult result;
  if (!child.ok()) {
    result.out = child.status().ToString();
    return result;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    auto line = (*child)->ReadLine(deadline);
    if (!line.ok()) break;
    absl::StrAppend(&result.out, *line, "\n");
  }
  auto code = (*child)->Wait(deadline);
  result.exit_code = code.ok() ? *code : -1;
  return result;
}

class QuoteApiE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok());
    port_ = process::FreeTcpPort();
    address_ = absl::StrCat("127.0.0.1:", port_);
    auto child =
        ChildProcess::Start({.path = QUOTEFLOW_QUOTE_API_BIN,
                             .args = {"--grpc-address=" + address_},
                             .env = {{"DATABASE_URL", quoteflow::testing::Env().database_url()}},
                             .stderr_path = ::testing::TempDir() + "quote-api-e2e.log"});
    ASSERT_TRUE(child.ok()) << child.status();
    api_ = std::move(*child);
    // Connect only once the port listens: a channel whose first attempts are refused backs off.
    absl::Status listening = quoteflow::testing::WaitFor(
        [&] { return quoteflow::testing::AcceptsTcpConnections(port_); }, absl::Seconds(30),
        "quote-api to listen");
    ASSERT_TRUE(listening.ok()) << listening;
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel_);
    absl::Status ready = quoteflow::testing::WaitFor(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
          grpc::health::v1::HealthCheckRequest req;
          grpc::health::v1::HealthCheckResponse resp;
          return health->Check(&ctx, req, &resp).ok() &&
                 resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
        },
        absl::Seconds(30), "quote-api to report SERVING");
    ASSERT_TRUE(ready.ok()) << ready;
    stub_ = v1::QuoteService::NewStub(channel_);
  }

  void TearDown() override {
    if (api_ != nullptr && api_->Running()) {
      // Close our connection first: gRPC's Shutdown waits for open client connections to go.
      stub_.reset();
      channel_.reset();
      ASSERT_TRUE(api_->Signal(SIGTERM).ok());
      auto code = api_->Wait(absl::Now() + absl::Seconds(15));
      ASSERT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(*code, 0) << "quote-api should exit 0 after SIGTERM";
    }
  }

  int port_ = 0;
  std::string address_;
  std::unique_ptr<ChildProcess> api_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::QuoteService::Stub> stub_;
};

TEST_F(QuoteApiE2eTest, ReflectionDescribesEveryServiceIncludingHealth) {
  CommandResult list = Grpcurl({"-plaintext", address_, "list"});
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "quoteflow.v1.QuoteService")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "grpc.health.v1.Health")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "grpc.reflection.v1alpha.ServerReflection")) << list.out;

  CommandResult health = Grpcurl({"-plaintext", address_, "grpc.health.v1.Health/Check"});
  ASSERT_EQ(health.exit_code, 0) << health.out;
  EXPECT_TRUE(absl::StrContains(health.out, "\"status\": \"SERVING\"")) << health.out;
}

TEST_F(QuoteApiE2eTest, CreateApproveGetThroughReflection) {
  CommandResult created = Grpcurl(
      {"-plaintext", "-d", R"({"customer_id":"cust-456","premium":1200,"request_id":"e2e-c1"})",
       address_, "quoteflow.v1.QuoteService/CreateQuote"});
  ASSERT_EQ(created.exit_code, 0) << created.out;
  EXPECT_TRUE(absl::StrContains(created.out, "QUOTE_STATUS_DRAFT")) << created.out;

  // Read the id back through the stub: the JSON printer's layout is the tool's business.
  pqxx::connection c(quoteflow::testing::Env().database_url());
  pqxx::nontransaction tx(c);
  const std::string quote_id = tx.exec("SELECT quote_id FROM quote.quotes")[0][0].as<std::string>();
  EXPECT_TRUE(absl::StrContains(created.out, quote_id));

  CommandResult approved =
      Grpcurl({"-plaintext", "-d",
               absl::StrCat(R"({"quote_id":")", quote_id, R"(","request_id":"e2e-a1"})"), address_,
               "quoteflow.v1.QuoteService/ApproveQuote"});
  ASSERT_EQ(approved.exit_code, 0) << approved.out;
  EXPECT_TRUE(absl::StrContains(approved.out, "QUOTE_STATUS_APPROVED")) << approved.out;
  EXPECT_TRUE(absl::StrContains(approved.out, "\"event_id\"")) << approved.out;

  v1::GetQuoteRequest get;
  get.set_quote_id(quote_id);
  v1::Quote quote;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->GetQuote(&ctx, get, &quote).ok());
  EXPECT_EQ(quote.status(), v1::QUOTE_STATUS_APPROVED);
  EXPECT_EQ(quote.version(), 2);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM quote.outbox")[0][0].as<int>(), 1);
}

TEST_F(QuoteApiE2eTest, BadInputIsInvalidArgumentNamingTheField) {
  CommandResult bad = Grpcurl({"-plaintext", "-d", R"({"customer_id":"c1","premium":0})", address_,
                               "quoteflow.v1.QuoteService/CreateQuote"});
  EXPECT_EQ(bad.exit_code, 64 + 3) << bad.out;  // grpcurl: 64 + INVALID_ARGUMENT
  EXPECT_TRUE(absl::StrContains(bad.out, "InvalidArgument")) << bad.out;
  EXPECT_TRUE(absl::StrContains(bad.out, "premium")) << bad.out;

  CommandResult missing = Grpcurl({"-plaintext", "-d", R"({"quote_id":"nope"})", address_,
                                   "quoteflow.v1.QuoteService/GetQuote"});
  EXPECT_EQ(missing.exit_code, 64 + 5) << missing.out;  // NOT_FOUND
}

TEST_F(QuoteApiE2eTest, OversizedRequestIsRefusedAndServerKeepsServing) {
  v1::CreateQuoteRequest req;
  req.set_customer_id(std::string(1 << 20, 'x'));
  req.set_premium(1);
  v1::Quote out;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->CreateQuote(&ctx, req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  grpc::ClientContext ctx2;
  v1::GetQuoteRequest get;
  get.set_quote_id("nope");
  EXPECT_EQ(stub_->GetQuote(&ctx2, get, &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace quoteflow
