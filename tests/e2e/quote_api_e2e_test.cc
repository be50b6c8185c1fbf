// End to end: the real quote-api binary against a real PostgreSQL, called over gRPC both with the
// generated stub and through server reflection with the grpcurl-compatible client that the README
// uses (tools/grpcurl/grpcurl), then stopped with SIGTERM.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

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
    StartApi({});
  }

  // Starts quote-api with its defaults plus `extra_args` and waits until it is SERVING.
  void StartApi(const std::vector<std::string>& extra_args) {
    port_ = process::FreeTcpPort();
    address_ = absl::StrCat("127.0.0.1:", port_);
    std::vector<std::string> args = {"--grpc-address=" + address_};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    auto child =
        ChildProcess::Start({.path = QUOTEFLOW_QUOTE_API_BIN,
                             .args = args,
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

  void TearDown() override { StopApi(); }

  void StopApi() {
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

// Inserts `n` DRAFT quotes "<prefix><i>".
void InsertDraftQuotes(const std::string& prefix, int n) {
  pqxx::connection c(quoteflow::testing::Env().database_url());
  pqxx::nontransaction tx(c);
  tx.exec_params(
      "INSERT INTO quote.quotes (quote_id, customer_id, premium, status, version, "
      "rejection_reason, created_at, updated_at) SELECT $1::text || g, 'cust-1', 100, 'DRAFT', 1, "
      "'', now(), now() FROM generate_series(0, $2 - 1) AS g",
      prefix, n);
}

// Approves "<prefix>0" .. "<prefix><n-1>" with `n` concurrent callers (one blocking call each,
// spread over 8 connections) while a test transaction holds SHARE on quote.outbox, so that every
// call is in progress at once: its write waits on the lock, or the call waits in quote-api for a
// write batch (ApproveQuote is group-committed) or a pooled connection. The lock goes `hold` after
// the first write waits on it. Returns the calls' status codes.
std::map<grpc::StatusCode, int> ApproveAllAtOnce(const std::string& address,
                                                 const std::string& prefix, int n,
                                                 absl::Duration hold) {
  std::vector<std::unique_ptr<v1::QuoteService::Stub>> stubs;
  for (int c = 0; c < 8; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("quoteflow.test.channel", c);  // distinct arguments: a connection each
    stubs.push_back(v1::QuoteService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
  pqxx::connection locker(quoteflow::testing::Env().database_url());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE quote.outbox IN SHARE MODE");
  std::mutex mu;
  std::map<grpc::StatusCode, int> codes;
  std::vector<std::thread> callers;
  for (int i = 0; i < n; ++i) {
    callers.emplace_back([&, i] {
      v1::ApproveQuoteRequest req;
      req.set_quote_id(absl::StrCat(prefix, i));
      v1::ApproveQuoteResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      grpc::Status s = stubs[i % stubs.size()]->ApproveQuote(&ctx, req, &resp);
      std::lock_guard<std::mutex> l(mu);
      ++codes[s.error_code()];
    });
  }
  // A write waits on the lock, or some calls were refused already; then the other calls have
  // `hold` to arrive and wait behind it.
  (void)quoteflow::testing::WaitFor(
      [&] {
        {
          std::lock_guard<std::mutex> l(mu);
          if (!codes.empty()) return true;
        }
        pqxx::connection c(quoteflow::testing::Env().database_url());
        pqxx::nontransaction tx(c);
        return tx.exec1("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                        "'quote.outbox'::regclass")[0]
                   .as<int>() >= 1;
      },
      absl::Seconds(20), "ApproveQuote calls waiting on quote.outbox");
  absl::SleepFor(hold);
  lock.commit();
  for (std::thread& t : callers) t.join();
  return codes;
}

// 256 concurrent callers, far more than the database pool's 16 connections: their calls wait for
// a write batch, none is refused (quote-api's overload bound, --max-concurrent-calls, is 1000).
TEST_F(QuoteApiE2eTest, ManyConcurrentCallersWaitInsteadOfBeingRefused) {
  constexpr int kCallers = 256;
  InsertDraftQuotes("many-", kCallers);
  std::map<grpc::StatusCode, int> codes =
      ApproveAllAtOnce(address_, "many-", kCallers, absl::Milliseconds(1500));
  EXPECT_EQ(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 0);
  EXPECT_EQ(codes[grpc::StatusCode::OK], kCallers);
  pqxx::connection c(quoteflow::testing::Env().database_url());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM quote.outbox")[0].as<int>(), kCallers);
}

// Past the stated bound, and only then, calls are refused with RESOURCE_EXHAUSTED: every call
// that is not refused stays in progress until the lock goes, so the calls served are the calls
// that were in progress at once.
TEST_F(QuoteApiE2eTest, CallsPastTheOverloadBoundAreRefused) {
  StopApi();
  StartApi({"--max-concurrent-calls=32", "--db-pool-size=4"});
  InsertDraftQuotes("bound-", 96);
  std::map<grpc::StatusCode, int> codes =
      ApproveAllAtOnce(address_, "bound-", 96, absl::Milliseconds(1500));
  EXPECT_GT(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 0);
  EXPECT_EQ(codes[grpc::StatusCode::OK], 32);  // ApproveQuote's calls are counted, exactly
  EXPECT_EQ(codes[grpc::StatusCode::OK] + codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 96);
  std::printf("[figures] --max-concurrent-calls=32, 96 callers at once: %d served, %d refused\n",
              codes[grpc::StatusCode::OK], codes[grpc::StatusCode::RESOURCE_EXHAUSTED]);
}

}  // namespace
}  // namespace quoteflow
