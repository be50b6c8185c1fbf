// End-to-end test of quoteflow-local, the `make run` launcher: starts the built binary against this
// build tree with a temporary state directory and free ports (so it never touches a developer's
// .quoteflow or :50051), waits for the summary and local.env, checks the addresses there really
// serve (gRPC health + a CreateQuote, Postgres, Kafka), that a second launcher on the same state
// directory is refused, that a SIGKILLed service is restarted, and that SIGTERM stops everything:
// exit 0, local.env removed, ports closed, and no process of it left behind. The last check makes
// this test a child subreaper, so every descendant the launcher leaves running becomes our child.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tools/local/local_env.h"

namespace quoteflow::local {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kStartDeadline = absl::Seconds(180);
constexpr absl::Duration kStopDeadline = absl::Seconds(60);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

bool TcpConnects(const std::string& host_port) {
  std::vector<std::string> parts = absl::StrSplit(host_port, ':');
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port)) return false;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, parts[0].c_str(), &addr.sin_addr);
  const bool ok = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// OK for SERVING, and for UNIMPLEMENTED (a server without the health service still serves).
grpc::Status HealthCheck(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) return grpc::Status::OK;
  if (status.ok() && response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not SERVING");
  }
  return status;
}

// PIDs of the direct children of `parent` whose command name is `comm`.
std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string& comm) {
  std::vector<pid_t> pids;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc")) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    const std::string stat = ReadFile(entry.path().string() + "/stat");
    // pid (comm) state ppid ...
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::vector<std::string> rest = absl::StrSplit(stat.substr(close + 2), ' ');
    pid_t ppid = 0;
    if (rest.size() > 1 && absl::SimpleAtoi(rest[1], &ppid) && ppid == parent &&
        stat.substr(open + 1, close - open - 1) == comm) {
      pids.push_back(pid);
    }
  }
  return pids;
}

class LocalLauncherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

  void SetUp() override {
    char dir[] = "/tmp/quoteflow-local-e2e.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
    // As root, Postgres runs as the postgres user, which must traverse the state directory.
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
    state_ = root_ + "/state";
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<process::ChildProcess> StartLauncher(const std::string& stderr_name) {
    absl::StatusOr<std::unique_ptr<process::ChildProcess>> child =
        process::ChildProcess::Start({.path = QUOTEFLOW_LOCAL_BIN,
                                      .args = {QUOTEFLOW_TEST_BUILD_DIR},
                                      .env = {{"QUOTEFLOW_STATE_DIR", state_},
                                              {"QUOTEFLOW_SOURCE_DIR", QUOTEFLOW_TEST_SOURCE_DIR},
                                              {"QUOTEFLOW_PG_PORT", "0"},
                                              {"QUOTEFLOW_GRPC_PORT", "0"},
                                              {"QUOTEFLOW_POLICY_GRPC_PORT", "0"},
                                              {"QUOTEFLOW_CUSTOMER_GRPC_PORT", "0"},
                                              {"QUOTEFLOW_SAGA_GRPC_PORT", "0"},
                                              {"QUOTEFLOW_SAGA_MODE", "choreography"},
                                              {"QUOTEFLOW_DATABASE_URL", ""},
                                              {"QUOTEFLOW_KAFKA_BOOTSTRAP_SERVERS", ""},
                                              {"KAFKA_BOOTSTRAP_SERVERS", ""},
                                              {"QUOTEFLOW_SERVICES", ""},
                                              {"QUOTEFLOW_RESTART", "true"},
                                              {"QUOTEFLOW_STOP_TIMEOUT", "10s"},
                                              {"QUOTEFLOW_LOG_FORMAT", "text"}},
                                      .capture_stdout = true,
                                      .stderr_path = root_ + "/" + stderr_name});
    EXPECT_TRUE(child.ok()) << child.status();
    return child.ok() ? *std::move(child) : nullptr;
  }

  std::string LauncherLog(const std::string& name = "launcher.log") {
    return ReadFile(root_ + "/" + name);
  }

  // Reads the launcher's stdout up to its summary's last line ("... stops everything") and returns
  // the summary; adds a failure (and returns "") when none came.
  std::string WaitForSummary(process::ChildProcess& launcher, const std::string& log_name) {
    std::string summary;
    const absl::Time deadline = absl::Now() + kStartDeadline;
    while (true) {
      absl::StatusOr<std::string> line = launcher.ReadLine(deadline);
      if (!line.ok()) {
        ADD_FAILURE() << "no summary: " << line.status() << "\nlauncher log:\n"
                      << LauncherLog(log_name);
        return "";
      }
      absl::StrAppend(&summary, *line, "\n");
      if (absl::StrContains(*line, "stops everything")) return summary;
    }
  }

  std::map<std::string, std::string> LocalEnv() {
    absl::StatusOr<std::map<std::string, std::string>> env =
        ParseLocalEnv(ReadFile(state_ + "/local.env"));
    EXPECT_TRUE(env.ok()) << env.status();
    return env.ok() ? *env : std::map<std::string, std::string>{};
  }

  std::string root_;
  std::string state_;
};

TEST_F(LocalLauncherTest, RunsEverythingPublishesLocalEnvRestartsAndStopsCleanly) {
  std::unique_ptr<process::ChildProcess> launcher = StartLauncher("launcher.log");
  ASSERT_NE(launcher, nullptr);

  // The summary comes after local.env is written; its last line says how to stop.
  const std::string summary = WaitForSummary(*launcher, "launcher.log");
  ASSERT_FALSE(summary.empty());
  EXPECT_THAT(summary, HasSubstr("kafka (4.1, KRaft)"));
  EXPECT_THAT(summary, HasSubstr("started in"));

  const std::string env_path = state_ + "/local.env";
  ASSERT_TRUE(Exists(env_path)) << summary;
  const std::string env_text = ReadFile(env_path);
  absl::StatusOr<std::map<std::string, std::string>> env = ParseLocalEnv(env_text);
  ASSERT_TRUE(env.ok()) << env.status() << "\n" << env_text;
  for (const char* key : {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "GRPC_ADDRESS",
                          "QUOTE_GRPC_ADDRESS", "QUOTEFLOW_LOCAL_PID", "QUOTEFLOW_SAGA_MODE"}) {
    ASSERT_TRUE(env->contains(key)) << key << " missing from\n" << env_text;
    EXPECT_FALSE(env->at(key).empty()) << key;
  }
  const std::string grpc_address = env->at("GRPC_ADDRESS");
  EXPECT_EQ(env->at("QUOTE_GRPC_ADDRESS"), grpc_address);
  EXPECT_EQ(env->at("QUOTEFLOW_LOCAL_PID"), std::to_string(launcher->pid()));
  std::vector<std::string> lines = absl::StrSplit(env_text, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.back(), absl::StrCat("export PATH=\"$PATH:", state_, "/bin\""));
  EXPECT_THAT(summary, HasSubstr("grpcurl -plaintext " + grpc_address + " list"));
  // The real grpcurl when install-deps could `go install` it, else the stand-in.
  const std::string grpcurl = Exists(QUOTEFLOW_TEST_REAL_GRPCURL)
                                  ? std::string(QUOTEFLOW_TEST_REAL_GRPCURL)
                                  : fs::path(std::string(QUOTEFLOW_TEST_SOURCE_DIR) +
                                             "/tools/grpcurl/grpcurl")
                                        .lexically_normal()
                                        .string();
  EXPECT_EQ(fs::read_symlink(state_ + "/bin/grpcurl").string(), grpcurl);

  // Every gRPC server it published answers, and the API works against its database.
  for (const auto& [key, value] : *env) {
    if (absl::EndsWith(key, "GRPC_ADDRESS")) {
      grpc::Status health = HealthCheck(value);
      EXPECT_TRUE(health.ok()) << key << "=" << value << ": " << health.error_message();
    }
  }
  {
    auto stub = quoteflow::v1::QuoteService::NewStub(
        grpc::CreateChannel(grpc_address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    quoteflow::v1::CreateQuoteRequest request;
    request.set_customer_id("e2e-customer");
    request.set_premium(1234);
    quoteflow::v1::Quote quote;
    grpc::Status created = stub->CreateQuote(&context, request, &quote);
    ASSERT_TRUE(created.ok()) << created.error_message();
    EXPECT_FALSE(quote.quote_id().empty());
    pqxx::connection db(env->at("DATABASE_URL"));
    pqxx::nontransaction tx(db);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM quote.quotes WHERE quote_id = " +
                       tx.quote(quote.quote_id()))[0]
                  .as<int>(),
              1);
  }
  const std::string kafka =
      std::vector<std::string>(absl::StrSplit(env->at("KAFKA_BOOTSTRAP_SERVERS"), ','))[0];
  EXPECT_TRUE(TcpConnects(kafka)) << kafka;
  EXPECT_TRUE(Exists(state_ + "/logs/quote-api.log"));
  EXPECT_TRUE(Exists(state_ + "/kafka/node-1/kafka.log"));

  // A second launcher on the same state directory is refused and leaves the first one alone.
  {
    std::unique_ptr<process::ChildProcess> second = StartLauncher("second.log");
    ASSERT_NE(second, nullptr);
    absl::StatusOr<int> code = second->Wait(absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 1);
    EXPECT_THAT(LauncherLog("second.log"), HasSubstr("another quoteflow-local"));
    EXPECT_TRUE(Exists(env_path));
  }

  // A service that dies is restarted (backoff 1 s) and serves again on the same address.
  std::vector<pid_t> api = ChildrenNamed(launcher->pid(), "quote-api");
  ASSERT_EQ(api.size(), 1u) << LauncherLog();
  ASSERT_EQ(kill(api[0], SIGKILL), 0);
  {
    const absl::Time restart_deadline = absl::Now() + absl::Seconds(30);
    std::vector<pid_t> now;
    while (true) {
      now = ChildrenNamed(launcher->pid(), "quote-api");
      if (now.size() == 1 && now[0] != api[0] && HealthCheck(grpc_address).ok()) break;
      ASSERT_LT(absl::Now(), restart_deadline) << "quote-api not back\n" << LauncherLog();
      absl::SleepFor(absl::Milliseconds(100));  // polling a condition, bounded by the deadline
    }
    EXPECT_THAT(LauncherLog(), HasSubstr("exited unexpectedly"));
    EXPECT_THAT(LauncherLog(), HasSubstr("restarted"));
    EXPECT_TRUE(Exists(env_path));
  }

  // SIGTERM stops everything: exit 0, local.env gone, nothing listening, no process left.
  const absl::Time stop_start = absl::Now();
  ASSERT_TRUE(launcher->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = launcher->Wait(absl::Now() + kStopDeadline);
  ASSERT_TRUE(code.ok()) << "did not stop within " << kStopDeadline << "\n" << LauncherLog();
  EXPECT_EQ(*code, 0) << LauncherLog();
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(30)) << LauncherLog();
  EXPECT_FALSE(Exists(env_path));
  EXPECT_THAT(LauncherLog(), HasSubstr("all stopped"));
  // Any descendant still alive when the launcher exited was re-parented to us (subreaper).
  int status = 0;
  pid_t leftover = waitpid(-1, &status, WNOHANG);
  EXPECT_TRUE(leftover == -1 && errno == ECHILD)
      << "a process of the launcher outlived it (pid " << leftover << ")\n"
      << LauncherLog();
  EXPECT_FALSE(TcpConnects(grpc_address));
  const std::string& url = env->at("DATABASE_URL");
  const std::string pg_host_port =
      url.substr(url.find('@') + 1, url.rfind('/') - url.find('@') - 1);
  EXPECT_FALSE(TcpConnects(pg_host_port)) << pg_host_port;
}

// The broker keeps its log across runs: stopping `make run` right after 400 approvals and starting
// it again, every saga still ends (ISSUED) within 120 s, and `quotectl verify` exits 0.
TEST_F(LocalLauncherTest, RestartResumesInFlightSagas) {
  constexpr int kApprovals = 400;
  std::unique_ptr<process::ChildProcess> launcher = StartLauncher("first.log");
  ASSERT_NE(launcher, nullptr);
  ASSERT_FALSE(WaitForSummary(*launcher, "first.log").empty());
  std::map<std::string, std::string> env = LocalEnv();
  ASSERT_TRUE(env.contains("CUSTOMER_GRPC_ADDRESS"));
  {
    auto customers = quoteflow::v1::CustomerService::NewStub(
        grpc::CreateChannel(env.at("CUSTOMER_GRPC_ADDRESS"), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    quoteflow::v1::CreateCustomerRequest request;
    request.set_customer_id("restart-customer");
    request.set_name("Restart");
    request.set_max_policies(10000);
    request.set_request_id("restart-customer");
    quoteflow::v1::Customer customer;
    grpc::Status created = customers->CreateCustomer(&context, request, &customer);
    ASSERT_TRUE(created.ok()) << created.error_message();
  }
  auto quotes = quoteflow::v1::QuoteService::NewStub(
      grpc::CreateChannel(env.at("GRPC_ADDRESS"), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < kApprovals; ++i) {
    grpc::ClientContext create_context;
    create_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    quoteflow::v1::CreateQuoteRequest create;
    create.set_customer_id("restart-customer");
    create.set_premium(1000 + i);
    quoteflow::v1::Quote quote;
    grpc::Status created = quotes->CreateQuote(&create_context, create, &quote);
    ASSERT_TRUE(created.ok()) << created.error_message();
    grpc::ClientContext approve_context;
    approve_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    quoteflow::v1::ApproveQuoteRequest approve;
    approve.set_quote_id(quote.quote_id());
    quoteflow::v1::ApproveQuoteResponse approved;
    grpc::Status ok = quotes->ApproveQuote(&approve_context, approve, &approved);
    ASSERT_TRUE(ok.ok()) << ok.error_message();
  }
  // Stop right after the last approval returned: most sagas are still in flight.
  ASSERT_TRUE(launcher->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = launcher->Wait(absl::Now() + kStopDeadline);
  ASSERT_TRUE(code.ok()) << LauncherLog("first.log");
  EXPECT_EQ(*code, 0) << LauncherLog("first.log");
  const std::string url = env.at("DATABASE_URL");

  launcher = StartLauncher("second.log");
  ASSERT_NE(launcher, nullptr);
  ASSERT_FALSE(WaitForSummary(*launcher, "second.log").empty());
  env = LocalEnv();
  int64_t open = -1, issued = -1;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (absl::Now() < deadline) {
    pqxx::connection db(env.at("DATABASE_URL"));
    pqxx::nontransaction tx(db);
    open = tx.exec1("SELECT count(*) FROM quote.quotes WHERE status = 'APPROVED'")[0].as<int64_t>();
    issued = tx.exec1("SELECT count(*) FROM quote.quotes WHERE status = 'ISSUED'")[0].as<int64_t>();
    if (open == 0) break;
    absl::SleepFor(absl::Milliseconds(200));  // polling a condition, bounded by the deadline
  }
  EXPECT_EQ(open, 0) << "sagas still open 120 s after the restart\n" << LauncherLog("second.log");
  EXPECT_EQ(issued, kApprovals);
  std::printf("[figures] restart: %d approvals, %lld ISSUED after the restart\n", kApprovals,
              static_cast<long long>(issued));
  absl::StatusOr<std::unique_ptr<process::ChildProcess>> verify = process::ChildProcess::Start(
      {.path = env.at("QUOTECTL"), .args = {"--database-url", env.at("DATABASE_URL"), "verify"}});
  ASSERT_TRUE(verify.ok()) << verify.status();
  absl::StatusOr<int> verified = (*verify)->Wait(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(*verified, 0) << "quotectl verify found inconsistencies";

  ASSERT_TRUE(launcher->Signal(SIGTERM).ok());
  code = launcher->Wait(absl::Now() + kStopDeadline);
  ASSERT_TRUE(code.ok()) << LauncherLog("second.log");
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace quoteflow::local
