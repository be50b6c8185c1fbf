// End-to-end security of the gRPC servers of policy-worker, customer-worker and saga-orchestrator
// (consumers/common/worker_main.cc with platform/grpc_security), the real binaries against a real
// PostgreSQL and the mock Kafka broker. One table of cases, one row per binary, drives:
//  - bearer tokens in plaintext mode: health open without a token; no or an unknown token →
//    UNAUTHENTICATED; an `ro` token reads but gets PERMISSION_DENIED on a mutating method, and the
//    service's schema is unchanged; an `rw` token passes;
//  - TLS: a plaintext client is refused, a TLS client is served and tokens are still checked;
//  - mutual TLS: a client with a certificate of the CA is served, one without (or plaintext) is
//    refused at the handshake.
// policy-worker and saga-orchestrator have no mutating RPC (PolicyService and SagaService only
// read): their row calls a method outside kReadOnlyMethods that the server does not implement, to
// show that such a method is refused to `ro` before routing (fail closed) and reaches the server
// (UNIMPLEMENTED) with `rw`. customer-worker's CreateCustomer is a real write.
// The certificates come from scripts/make-dev-certs.sh; quote-api has the same checks in
// security_e2e_test.cc.
#include <signal.h>

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/customer.pb.h"
#include "quoteflow/v1/policy.pb.h"
#include "quoteflow/v1/saga.pb.h"
#include "tests/e2e/security_test_util.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using process::ChildProcess;
using quoteflow::testing::CallUnary;
using quoteflow::testing::kRoToken;
using quoteflow::testing::kRwToken;
using quoteflow::testing::ReadFile;
using quoteflow::testing::WaitServing;
using Code = grpc::StatusCode;

constexpr char kNoQuote[] = "00000000-0000-0000-0000-000000000000";

struct ServerCase {
  std::string name;  // the binary's name
  std::string binary;
  std::vector<std::string> args;
  std::string schema;  // the service's own Postgres schema
  // A read-only method (in kReadOnlyMethods) and what it answers a caller that may call it.
  std::string read_method;
  std::string read_request;
  Code read_code;
  // A method outside kReadOnlyMethods and what it answers an `rw` caller.
  std::string write_method;
  std::string write_request;
  Code write_code;
};

void PrintTo(const ServerCase& c, std::ostream* os) { *os << c.name; }

std::vector<ServerCase> Cases() {
  v1::GetPolicyRequest get_policy;
  get_policy.set_quote_id(kNoQuote);
  v1::GetCustomerRequest get_customer;
  get_customer.set_customer_id("cust-nobody");
  v1::CreateCustomerRequest create_customer;
  create_customer.set_customer_id("cust-security");
  create_customer.set_name("Security Test");
  create_customer.set_max_policies(3);
  create_customer.set_request_id("security-create-1");
  v1::GetSagaRequest get_saga;
  get_saga.set_quote_id(kNoQuote);
  return {
      {.name = "policy-worker",
       .binary = QUOTEFLOW_POLICY_WORKER_BIN,
       .schema = "policy",
       .read_method = "/quoteflow.v1.PolicyService/GetPolicy",
       .read_request = get_policy.SerializeAsString(),
       .read_code = Code::NOT_FOUND,
       .write_method = "/quoteflow.v1.PolicyService/CancelPolicy",
       .write_request = "",
       .write_code = Code::UNIMPLEMENTED},
      {.name = "customer-worker",
       .binary = QUOTEFLOW_CUSTOMER_WORKER_BIN,
       .schema = "customer",
       .read_method = "/quoteflow.v1.CustomerService/GetCustomer",
       .read_request = get_customer.SerializeAsString(),
       .read_code = Code::NOT_FOUND,
       .write_method = "/quoteflow.v1.CustomerService/CreateCustomer",
       .write_request = create_customer.SerializeAsString(),
       .write_code = Code::OK},
      {.name = "saga-orchestrator",
       .binary = QUOTEFLOW_SAGA_ORCHESTRATOR_BIN,
       .args = {"--saga-mode=orchestration"},
       .schema = "saga",
       .read_method = "/quoteflow.v1.SagaService/GetSaga",
       .read_request = get_saga.SerializeAsString(),
       .read_code = Code::NOT_FOUND,
       .write_method = "/quoteflow.v1.SagaService/RetrySaga",
       .write_request = "",
       .write_code = Code::UNIMPLEMENTED},
  };
}

// Rows in every table of `schema` (inbox, outbox and the service's own tables).
int64_t RowsInSchema(const std::string& schema) {
  pqxx::connection c(quoteflow::testing::Env().database_url());
  pqxx::work tx(c);
  int64_t rows = 0;
  for (const auto& table : tx.exec_params("SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                                          schema)) {
    rows += tx.exec1(absl::StrCat("SELECT count(*) FROM ", tx.quote_name(schema), ".",
                                  tx.quote_name(table[0].as<std::string>())))[0]
                .as<int64_t>();
  }
  return rows;
}

class WorkerSecurityTest : public ::testing::TestWithParam<ServerCase> {
 protected:
  static void SetUpTestSuite() {
    cert_dir_ = new std::string(quoteflow::testing::MakeDevCerts("grpc-security-e2e-certs"));
  }
  static void TearDownTestSuite() {
    delete cert_dir_;
    cert_dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok());
    ASSERT_FALSE(quoteflow::testing::Env().bootstrap_servers().empty());
  }

  void TearDown() override {
    if (server_ != nullptr && server_->Running()) {
      ASSERT_TRUE(server_->Signal(SIGTERM).ok());
      auto code = server_->Wait(absl::Now() + absl::Seconds(20));
      ASSERT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(*code, 0) << GetParam().name << " should exit 0 after SIGTERM\n"
                          << quoteflow::testing::ReadFileTail(log_path_);
    }
  }

  // Starts the case's binary with its arguments and `security` and waits until its gRPC port
  // accepts connections.
  void Start(const std::vector<std::string>& security) {
    const ServerCase& c = GetParam();
    const int port = process::FreeTcpPort();
    address_ = absl::StrCat("127.0.0.1:", port);
    std::vector<std::string> args = c.args;
    args.push_back("--grpc-address=" + address_);
    args.insert(args.end(), security.begin(), security.end());
    log_path_ = absl::StrCat(::testing::TempDir(), "grpc-security-e2e-", c.name, "-", port, ".log");
    auto child = ChildProcess::Start(
        {.path = c.binary,
         .args = args,
         .env = {{"DATABASE_URL", quoteflow::testing::Env().database_url()},
                 {"KAFKA_BOOTSTRAP_SERVERS", quoteflow::testing::Env().bootstrap_servers()}},
         .stderr_path = log_path_});
    ASSERT_TRUE(child.ok()) << child.status();
    server_ = std::move(*child);
    absl::Status listening =
        quoteflow::testing::WaitFor([&] { return quoteflow::testing::AcceptsTcpConnections(port); },
                                    absl::Seconds(30), absl::StrCat(c.name, " to listen"));
    ASSERT_TRUE(listening.ok()) << listening << "\n" << ReadFile(log_path_);
  }

  std::vector<std::string> Tls() const {
    return {"--tls-cert-file=" + *cert_dir_ + "/server.pem",
            "--tls-key-file=" + *cert_dir_ + "/server.key"};
  }

  // The token checks through `channel` (a server started with --auth-tokens-file).
  void ExpectTokensChecked(const std::shared_ptr<grpc::Channel>& channel) {
    const ServerCase& c = GetParam();
    for (const auto& [token, code] :
         std::vector<std::pair<std::string, Code>>{{"", Code::UNAUTHENTICATED},
                                                   {"not-a-token", Code::UNAUTHENTICATED},
                                                   {kRoToken, c.read_code},
                                                   {kRwToken, c.read_code}}) {
      grpc::Status s = CallUnary(channel, c.read_method, c.read_request, token);
      EXPECT_EQ(s.error_code(), code)
          << c.read_method << " with token '" << token << "': " << s.error_message();
      EXPECT_FALSE(absl::StrContains(s.error_message(), "canary")) << s.error_message();
    }
    const int64_t rows_before = RowsInSchema(c.schema);
    for (const auto& [token, code] :
         std::vector<std::pair<std::string, Code>>{{"", Code::UNAUTHENTICATED},
                                                   {"not-a-token", Code::UNAUTHENTICATED},
                                                   {kRoToken, Code::PERMISSION_DENIED}}) {
      grpc::Status s = CallUnary(channel, c.write_method, c.write_request, token);
      EXPECT_EQ(s.error_code(), code)
          << c.write_method << " with token '" << token << "': " << s.error_message();
      EXPECT_FALSE(absl::StrContains(s.error_message(), "canary")) << s.error_message();
    }
    EXPECT_EQ(RowsInSchema(c.schema), rows_before)
        << "a refused " << c.write_method << " changed schema " << c.schema;
    grpc::Status rw = CallUnary(channel, c.write_method, c.write_request, kRwToken);
    EXPECT_EQ(rw.error_code(), c.write_code)
        << c.write_method << " with the rw token: " << rw.error_message();
    if (c.write_code == Code::OK) {
      // The row count does see a write: the refusal above really prevented one.
      EXPECT_GT(RowsInSchema(c.schema), rows_before) << c.write_method << " wrote nothing";
    }
  }

  static std::string* cert_dir_;
  std::string address_;
  std::string log_path_;
  std::unique_ptr<ChildProcess> server_;
};

std::string* WorkerSecurityTest::cert_dir_ = nullptr;

TEST_P(WorkerSecurityTest, BearerTokensInPlaintextMode) {
  Start({"--auth-tokens-file=" + quoteflow::testing::TokensFile()});
  auto channel = quoteflow::testing::PlaintextChannel(address_);
  // Health needs no token.
  grpc::Status health = WaitServing(channel, absl::Seconds(30));
  ASSERT_TRUE(health.ok()) << health.error_message() << "\n" << ReadFile(log_path_);
  ExpectTokensChecked(channel);
}

TEST_P(WorkerSecurityTest, TlsRefusesPlaintextAndStillChecksTokens) {
  std::vector<std::string> security = Tls();
  security.push_back("--auth-tokens-file=" + quoteflow::testing::TokensFile());
  Start(security);
  auto tls = quoteflow::testing::TlsChannel(address_, *cert_dir_, /*client_certificate=*/false);
  grpc::Status health = WaitServing(tls, absl::Seconds(30));
  ASSERT_TRUE(health.ok()) << health.error_message() << "\n" << ReadFile(log_path_);
  ExpectTokensChecked(tls);

  auto plaintext = quoteflow::testing::PlaintextChannel(address_);
  grpc::Status plain = WaitServing(plaintext, absl::Seconds(2));
  EXPECT_EQ(plain.error_code(), Code::UNAVAILABLE) << plain.error_message();
  grpc::Status call =
      CallUnary(plaintext, GetParam().read_method, GetParam().read_request, kRwToken);
  EXPECT_EQ(call.error_code(), Code::UNAVAILABLE) << call.error_message();
}

TEST_P(WorkerSecurityTest, MutualTlsRefusesAClientWithoutACertificate) {
  std::vector<std::string> security = Tls();
  security.push_back("--tls-client-ca-file=" + *cert_dir_ + "/ca.pem");
  Start(security);
  const ServerCase& c = GetParam();
  auto good = quoteflow::testing::TlsChannel(address_, *cert_dir_, /*client_certificate=*/true);
  grpc::Status served = WaitServing(good, absl::Seconds(30));
  ASSERT_TRUE(served.ok()) << served.error_message() << "\n" << ReadFile(log_path_);
  grpc::Status read = CallUnary(good, c.read_method, c.read_request, "");
  EXPECT_EQ(read.error_code(), c.read_code) << read.error_message();

  auto no_cert = quoteflow::testing::TlsChannel(address_, *cert_dir_, /*client_certificate=*/false);
  grpc::Status refused = WaitServing(no_cert, absl::Seconds(2));
  EXPECT_EQ(refused.error_code(), Code::UNAVAILABLE) << refused.error_message();
  grpc::Status refused_call = CallUnary(no_cert, c.read_method, c.read_request, "");
  EXPECT_EQ(refused_call.error_code(), Code::UNAVAILABLE) << refused_call.error_message();

  auto plaintext = quoteflow::testing::PlaintextChannel(address_);
  grpc::Status plain = WaitServing(plaintext, absl::Seconds(2));
  EXPECT_EQ(plain.error_code(), Code::UNAVAILABLE) << plain.error_message();
}

INSTANTIATE_TEST_SUITE_P(Servers, WorkerSecurityTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ServerCase>& info) {
                           return absl::StrReplaceAll(info.param.name, {{"-", "_"}});
                         });

}  // namespace
}  // namespace quoteflow
