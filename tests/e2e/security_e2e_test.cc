// End to end security of the real quote-api binary against a real PostgreSQL:
//  - bearer tokens in plaintext mode: no token → UNAUTHENTICATED, `ro` → reads only
//    (PERMISSION_DENIED on ApproveQuote), `rw` → everything, health open without a token;
//  - mutual TLS with certificates made by scripts/make-dev-certs.sh: a client with the CA and a
//    client certificate is served, a client without a certificate (or plaintext) is refused;
//  - canary secrets: a DB password and tokens are planted, errors are provoked (unreachable DB,
//    wrong tokens, bad requests), and no output (stderr log, gRPC error messages, /metrics)
//    contains any of them;
//  - the Kafka clients' secrets: outbox-relay and policy-worker hold a SASL password (and a secret
//    librdkafka property) that a broker refusing SASL logins proves they send, and no output of
//    theirs contains it.
// The workers' gRPC servers have the TLS and token checks in grpc_security_e2e_test.cc.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <pqxx/pqxx>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/policy.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/e2e/security_test_util.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using process::ChildProcess;
using quoteflow::testing::Authorize;
using quoteflow::testing::HttpGet;
using quoteflow::testing::kRoToken;
using quoteflow::testing::kRwToken;
using quoteflow::testing::ReadFile;
using quoteflow::testing::TokensFile;
using quoteflow::testing::WaitServing;

// Adds a failure for every canary found in `outputs` and prints one summary line.
void ExpectNoCanary(const std::string& outputs, const std::vector<std::string>& canaries) {
  int hits = 0;
  for (const std::string& canary : canaries) {
    if (absl::StrContains(outputs, canary)) {
      ++hits;
      ADD_FAILURE() << "secret '" << canary << "' appears in the outputs";
    }
  }
  std::printf("CANARY hits=0 expected, got hits=%d over %zu bytes of output\n", hits,
              outputs.size());
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok()); }

  void TearDown() override {
    if (api_ != nullptr && api_->Running()) {
      ASSERT_TRUE(api_->Signal(SIGTERM).ok());
      auto code = api_->Wait(absl::Now() + absl::Seconds(15));
      ASSERT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(*code, 0) << "quote-api should exit 0 after SIGTERM";
    }
  }

  // Starts quote-api with `args` and waits until its port accepts connections.
  void Start(std::vector<std::string> args, std::string database_url = "") {
    port_ = process::FreeTcpPort();
    address_ = absl::StrCat("127.0.0.1:", port_);
    args.push_back("--grpc-address=" + address_);
    log_path_ = ::testing::TempDir() + "security-e2e-" + std::to_string(port_) + ".log";
    auto child = ChildProcess::Start(
        {.path = QUOTEFLOW_QUOTE_API_BIN,
         .args = args,
         .env = {{"DATABASE_URL",
                  database_url.empty() ? quoteflow::testing::Env().database_url() : database_url}},
         .stderr_path = log_path_});
    ASSERT_TRUE(child.ok()) << child.status();
    api_ = std::move(*child);
    absl::Status listening = quoteflow::testing::WaitFor(
        [&] { return quoteflow::testing::AcceptsTcpConnections(port_); }, absl::Seconds(30),
        "quote-api to listen");
    ASSERT_TRUE(listening.ok()) << listening << "\n" << ReadFile(log_path_);
  }

  int port_ = 0;
  std::string address_;
  std::string log_path_;
  std::unique_ptr<ChildProcess> api_;
};

TEST_F(SecurityE2eTest, BearerTokensInPlaintextMode) {
  Start({"--auth-tokens-file=" + TokensFile()});
  auto channel = quoteflow::testing::PlaintextChannel(address_);
  // Health needs no token.
  ASSERT_TRUE(WaitServing(channel, absl::Seconds(30)).ok()) << ReadFile(log_path_);
  auto stub = v1::QuoteService::NewStub(channel);

  auto create = [&](const std::string& token, const std::string& request_id, v1::Quote* quote) {
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    v1::CreateQuoteRequest req;
    req.set_customer_id("cust-sec");
    req.set_premium(1000);
    req.set_request_id(request_id);
    return stub->CreateQuote(&ctx, req, quote);
  };
  v1::Quote quote;
  grpc::Status none = create("", "sec-1", &quote);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  grpc::Status wrong = create("not-a-token", "sec-1", &quote);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
  grpc::Status ro_create = create(kRoToken, "sec-1", &quote);
  EXPECT_EQ(ro_create.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << ro_create.error_message();
  grpc::Status rw_create = create(kRwToken, "sec-1", &quote);
  ASSERT_TRUE(rw_create.ok()) << rw_create.error_message();

  for (const auto& [token, code] : std::vector<std::pair<std::string, grpc::StatusCode>>{
           {"", grpc::StatusCode::UNAUTHENTICATED},
           {kRoToken, grpc::StatusCode::OK},
           {kRwToken, grpc::StatusCode::OK}}) {
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    v1::GetQuoteRequest req;
    req.set_quote_id(quote.quote_id());
    v1::Quote got;
    grpc::Status s = stub->GetQuote(&ctx, req, &got);
    EXPECT_EQ(s.error_code(), code) << "GetQuote with " << (token.empty() ? "no token" : "a token")
                                    << ": " << s.error_message();
  }
  auto approve = [&](const std::string& token) {
    grpc::ClientContext ctx;
    Authorize(ctx, token);
    v1::ApproveQuoteRequest req;
    req.set_quote_id(quote.quote_id());
    req.set_expected_version(quote.version());
    req.set_request_id("sec-approve-1");
    v1::ApproveQuoteResponse resp;
    return stub->ApproveQuote(&ctx, req, &resp);
  };
  grpc::Status ro_approve = approve(kRoToken);
  EXPECT_EQ(ro_approve.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << ro_approve.error_message();
  grpc::Status rw_approve = approve(kRwToken);
  EXPECT_TRUE(rw_approve.ok()) << rw_approve.error_message();
  // Replies name no token.
  for (const grpc::Status& s : {none, wrong, ro_create, ro_approve}) {
    EXPECT_FALSE(absl::StrContains(s.error_message(), "canary")) << s.error_message();
  }
}

TEST_F(SecurityE2eTest, MutualTlsRefusesAClientWithoutACertificate) {
  const std::string dir = quoteflow::testing::MakeDevCerts();
  Start({"--tls-cert-file=" + dir + "/server.pem", "--tls-key-file=" + dir + "/server.key",
         "--tls-client-ca-file=" + dir + "/ca.pem"});
  auto good = quoteflow::testing::TlsChannel(address_, dir, /*client_certificate=*/true);
  grpc::Status served = WaitServing(good, absl::Seconds(30));
  ASSERT_TRUE(served.ok()) << served.error_message() << "\n" << ReadFile(log_path_);
  {
    auto stub = v1::QuoteService::NewStub(good);
    grpc::ClientContext ctx;
    Authorize(ctx, "");
    v1::GetQuoteRequest req;
    req.set_quote_id("00000000-0000-0000-0000-000000000000");
    v1::Quote got;
    grpc::Status s = stub->GetQuote(&ctx, req, &got);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }

  auto bad = quoteflow::testing::TlsChannel(address_, dir, /*client_certificate=*/false);
  grpc::Status refused = WaitServing(bad, absl::Seconds(2));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();

  auto plaintext = quoteflow::testing::PlaintextChannel(address_);
  grpc::Status plain = WaitServing(plaintext, absl::Seconds(2));
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
}

TEST_F(SecurityE2eTest, CanarySecretsAppearInNoOutput) {
  const std::string db_password = "canaryDbPw8d41";
  const std::string sasl_password = "canarySaslPw2c77";
  const std::string wrong_token = "canary-wrong-token-93e1";
  const std::string url = quoteflow::testing::Env().database_url();
  ASSERT_TRUE(absl::StartsWith(url, "postgresql://quoteflow@")) << url;
  const std::string url_with_password =
      absl::StrReplaceAll(url, {{"quoteflow@", "quoteflow:" + db_password + "@"}});
  std::string outputs;

  // 1. An unreachable database: quote-api gives up and says why.
  {
    const std::string log = quoteflow::testing::TempPath("security-e2e-baddb") + ".log";
    const std::string bad_url = absl::StrCat("postgresql://quoteflow:", db_password,
                                             "@127.0.0.1:", process::FreeTcpPort(), "/quoteflow");
    auto child = ChildProcess::Start(
        {.path = QUOTEFLOW_QUOTE_API_BIN,
         .args = {"--startup-timeout=1s", "--auth-tokens-file=" + TokensFile(),
                  "--grpc-address=127.0.0.1:0"},
         .env = {{"DATABASE_URL", bad_url}, {"KAFKA_SASL_PASSWORD", sasl_password}},
         .stderr_path = log});
    ASSERT_TRUE(child.ok()) << child.status();
    auto code = (*child)->Wait(absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 1);
    const std::string text = ReadFile(log);
    EXPECT_TRUE(absl::StrContains(text, "database not ready")) << text;
    absl::StrAppend(&outputs, text);
  }

  // 2. A serving quote-api: wrong tokens, denied calls, bad requests, /metrics.
  const int metrics_port = process::FreeTcpPort();
  Start({"--auth-tokens-file=" + TokensFile(),
         absl::StrCat("--metrics-address=127.0.0.1:", metrics_port)},
        url_with_password);
  auto channel = quoteflow::testing::PlaintextChannel(address_);
  ASSERT_TRUE(WaitServing(channel, absl::Seconds(30)).ok()) << ReadFile(log_path_);
  auto stub = v1::QuoteService::NewStub(channel);
  for (const std::string& token : {std::string(""), wrong_token, std::string(kRoToken),
                                   std::string(kRwToken), "Bearer " + std::string(kRwToken)}) {
    for (int request = 0; request < 3; ++request) {
      grpc::ClientContext ctx;
      Authorize(ctx, token);
      v1::ApproveQuoteRequest req;
      // Bad requests (the handler echoes bad fields back, so they hold no secret).
      req.set_quote_id(request == 0   ? ""
                       : request == 1 ? "not-a-uuid"
                                      : "00000000-0000-0000-0000-000000000000");
      req.set_request_id(request == 2 ? "canary-request" : "");
      v1::ApproveQuoteResponse resp;
      grpc::Status s = stub->ApproveQuote(&ctx, req, &resp);
      EXPECT_FALSE(s.ok());
      absl::StrAppend(&outputs, s.error_message(), "\n", s.error_details(), "\n");
    }
  }
  std::string metrics = HttpGet(metrics_port, "/metrics");
  EXPECT_TRUE(absl::StrContains(metrics, "quoteflow_grpc_server")) << metrics;
  absl::StrAppend(&outputs, metrics, HttpGet(metrics_port, "/readyz"));
  ASSERT_TRUE(api_->Signal(SIGTERM).ok());
  auto code = api_->Wait(absl::Now() + absl::Seconds(15));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  absl::StrAppend(&outputs, ReadFile(log_path_));
  EXPECT_TRUE(absl::StrContains(outputs, "effective configuration")) << outputs;

  ExpectNoCanary(outputs, {db_password, sasl_password, wrong_token, std::string(kRoToken),
                           std::string(kRwToken)});
}

// The Kafka clients: outbox-relay (password as a flag) and policy-worker (password from
// KAFKA_SASL_PASSWORD) log in with SASL/PLAIN over TLS to the test Kafka's Event Hubs-shaped
// listener (user "$ConnectionString", an Event Hubs-style connection string as the password), with
// librdkafka's debug logging of its configuration, security and broker events on, and do their
// work: the relay publishes an approval, the worker creates its policy (so both really sent the
// password). Neither the password (nor its key part), nor a second secret given as a librdkafka
// property (sasl.oauthbearer.config), nor the database password appears in their logs, their
// /metrics and /readyz, the worker's gRPC errors, or the relay's refusal of an invalid
// configuration.
TEST_F(SecurityE2eTest, KafkaSaslPasswordAppearsInNoOutput) {
  const std::string db_password = "canaryDbPw3a90";
  const std::string oauth_secret = "canaryOauthConfig77d2";
  const std::string url = quoteflow::testing::Env().database_url();
  ASSERT_TRUE(absl::StartsWith(url, "postgresql://quoteflow@")) << url;
  const std::string url_with_password =
      absl::StrReplaceAll(url, {{"quoteflow@", "quoteflow:" + db_password + "@"}});
  absl::StatusOr<quoteflow::testing::QuoteflowEnvironment::SaslSsl> broker =
      quoteflow::testing::Env().sasl_ssl();
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string sasl_password = broker->password;
  const std::string sasl_key = sasl_password.substr(sasl_password.rfind("SharedAccessKey=") + 16);
  ASSERT_GE(sasl_key.size(), 20u) << "an Event Hubs-style connection string";
  const std::string topic = quoteflow::testing::Env().topic_prefix() + "security-quotes";
  ASSERT_TRUE(quoteflow::testing::Env().CreateTopics(topic + ":1," + topic + ".dlq:1").ok());
  auto kafka_properties = [&](const std::string& client_id) {
    return absl::StrCat(
        "security.protocol=SASL_SSL,sasl.mechanisms=PLAIN,sasl.username=$ConnectionString,",
        "ssl.ca.location=", broker->ca_file, ",sasl.oauthbearer.config=principal=", oauth_secret,
        ",client.id=", client_id, ",reconnect.backoff.max.ms=500,debug=conf,security,broker");
  };
  const std::vector<std::pair<std::string, std::string>> debug_logs = {
      {"QUOTEFLOW_LOG_LEVEL", "debug"}};
  std::string outputs;

  // An approved quote, so that the relay has an outbox row to publish.
  Start({}, url_with_password);
  auto quotes = v1::QuoteService::NewStub(quoteflow::testing::PlaintextChannel(address_));
  v1::Quote quote;
  std::string approved_event_id;
  {
    grpc::ClientContext ctx;
    Authorize(ctx, "");
    v1::CreateQuoteRequest req;
    req.set_customer_id("cust-canary");
    req.set_premium(1000);
    req.set_request_id("canary-create");
    grpc::Status s = quotes->CreateQuote(&ctx, req, &quote);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    Authorize(ctx, "");
    v1::ApproveQuoteRequest req;
    req.set_quote_id(quote.quote_id());
    req.set_expected_version(quote.version());
    req.set_request_id("canary-approve");
    v1::ApproveQuoteResponse resp;
    grpc::Status s = quotes->ApproveQuote(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    approved_event_id = resp.event_id();
  }

  // 1. The relay refuses an invalid configuration (acks=1) holding the secrets.
  {
    const std::string log = quoteflow::testing::TempPath("security-e2e-relay-refused") + ".log";
    auto child = ChildProcess::Start(
        {.path = QUOTEFLOW_RELAY_BIN,
         .args = {"--outbox-schema=quote",
                  "--kafka-bootstrap-servers=" + broker->bootstrap_servers,
                  "--kafka-sasl-password=" + sasl_password,
                  "--kafka-properties=" + kafka_properties("canary-refused") + ",acks=1"},
         .env = {{"DATABASE_URL", url_with_password}},
         .stderr_path = log});
    ASSERT_TRUE(child.ok()) << child.status();
    auto code = (*child)->Wait(absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 2);
    const std::string text = ReadFile(log);
    EXPECT_TRUE(absl::StrContains(text, "acks=1")) << text;
    absl::StrAppend(&outputs, text);
  }

  // 2. The relay and a worker log in and work; /metrics, /readyz and gRPC errors.
  const int relay_metrics = process::FreeTcpPort();
  const std::string relay_log = quoteflow::testing::TempPath("security-e2e-relay-sasl") + ".log";
  std::vector<std::pair<std::string, std::string>> relay_env = debug_logs;
  relay_env.emplace_back("DATABASE_URL", url_with_password);
  auto relay = ChildProcess::Start(
      {.path = QUOTEFLOW_RELAY_BIN,
       .args = {"--outbox-schema=quote", "--relay-id=canary-relay", "--poll-interval=200ms",
                absl::StrCat("--metrics-address=127.0.0.1:", relay_metrics),
                "--topic-map=quote=" + topic,
                "--kafka-bootstrap-servers=" + broker->bootstrap_servers,
                "--kafka-sasl-password=" + sasl_password,
                "--kafka-properties=" + kafka_properties("canary-relay")},
       .env = relay_env,
       .stderr_path = relay_log});
  ASSERT_TRUE(relay.ok()) << relay.status();
  const int worker_port = process::FreeTcpPort();
  const int worker_metrics = process::FreeTcpPort();
  const std::string worker_log = quoteflow::testing::TempPath("security-e2e-worker-sasl") + ".log";
  std::vector<std::pair<std::string, std::string>> worker_env = debug_logs;
  worker_env.insert(worker_env.end(), {{"DATABASE_URL", url_with_password},
                                       {"KAFKA_BOOTSTRAP_SERVERS", broker->bootstrap_servers},
                                       {"KAFKA_SASL_PASSWORD", sasl_password},
                                       {"KAFKA_PROPERTIES", kafka_properties("canary-worker")}});
  auto worker =
      ChildProcess::Start({.path = QUOTEFLOW_POLICY_WORKER_BIN,
                           .args = {absl::StrCat("--grpc-address=127.0.0.1:", worker_port),
                                    absl::StrCat("--metrics-address=127.0.0.1:", worker_metrics),
                                    "--topics=" + topic,
                                    "--consumer-group=" +
                                        quoteflow::testing::Env().group_prefix() +
                                        "security-policy-worker",
                                    "--auth-tokens-file=" + TokensFile()},
                           .env = worker_env,
                           .stderr_path = worker_log});
  ASSERT_TRUE(worker.ok()) << worker.status();

  // Both clients logged in (so they sent the password): the approval went through Kafka and the
  // worker created its policy.
  absl::Status worked = quoteflow::testing::WaitFor(
      [&] {
        if (!(*relay)->Running() || !(*worker)->Running()) return true;  // fails below
        pqxx::connection c(url);
        pqxx::nontransaction tx(c);
        return tx.exec1("SELECT count(*) FROM policy.policies WHERE quote_id = " +
                        tx.quote(quote.quote_id()))[0]
                   .as<int>() == 1;
      },
      absl::Seconds(60), "the worker to create the approved quote's policy over SASL_SSL");
  ASSERT_TRUE(worked.ok()) << worked << "\nrelay:\n"
                           << quoteflow::testing::ReadFileTail(relay_log) << "\nworker:\n"
                           << quoteflow::testing::ReadFileTail(worker_log);
  ASSERT_TRUE((*relay)->Running()) << quoteflow::testing::ReadFileTail(relay_log);
  ASSERT_TRUE((*worker)->Running()) << quoteflow::testing::ReadFileTail(worker_log);
  // At debug level the relay names where each event landed (topic, partition, offset).
  {
    const std::string delivered = "\"msg\":\"delivered\",\"seq\":";
    const std::string landed = absl::StrCat("\"event_id\":\"", approved_event_id,
                                            "\",\"topic\":\"", topic,
                                            "\",\"partition\":0,\"offset\":");
    const std::string text = ReadFile(relay_log);
    bool found = false;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      found = found || (absl::StrContains(line, delivered) && absl::StrContains(line, landed));
    }
    EXPECT_TRUE(found) << "no delivery line with " << landed << " in\n" << text;
  }

  auto worker_channel =
      quoteflow::testing::PlaintextChannel(absl::StrCat("127.0.0.1:", worker_port));
  ASSERT_TRUE(WaitServing(worker_channel, absl::Seconds(30)).ok())
      << quoteflow::testing::ReadFileTail(worker_log);
  v1::GetPolicyRequest get_policy;
  get_policy.set_quote_id(quote.quote_id());
  for (const std::string& token : {std::string(""), sasl_password}) {
    grpc::Status s =
        quoteflow::testing::CallUnary(worker_channel, "/quoteflow.v1.PolicyService/GetPolicy",
                                      get_policy.SerializeAsString(), token);
    EXPECT_FALSE(s.ok());  // no token, an unknown token
    absl::StrAppend(&outputs, s.error_message(), "\n", s.error_details(), "\n");
  }
  for (int port : {relay_metrics, worker_metrics}) {
    const std::string metrics = HttpGet(port, "/metrics");
    EXPECT_TRUE(absl::StrContains(metrics, "quoteflow_")) << metrics;
    absl::StrAppend(&outputs, metrics, HttpGet(port, "/readyz"));
  }
  for (auto* child : {&*relay, &*worker}) {
    ASSERT_TRUE((*child)->Signal(SIGTERM).ok());
    auto code = (*child)->Wait(absl::Now() + absl::Seconds(30));
    EXPECT_TRUE(code.ok()) << code.status();
  }
  const std::string relay_text = ReadFile(relay_log);
  const std::string worker_text = ReadFile(worker_log);
  for (const std::string* text : {&relay_text, &worker_text}) {
    // librdkafka's own debug lines went through the log too, and so did the configuration.
    EXPECT_TRUE(absl::StrContains(*text, "rdkafka_fac")) << *text;
    EXPECT_TRUE(absl::StrContains(*text, "effective configuration")) << *text;
    EXPECT_TRUE(absl::StrContains(*text, "kafka-sasl-password=***")) << *text;
  }
  absl::StrAppend(&outputs, relay_text, worker_text);
  ExpectNoCanary(outputs, {db_password, sasl_password, sasl_key, oauth_secret});
}

}  // namespace
}  // namespace quoteflow
