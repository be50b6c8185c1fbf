#include "tests/support/test_environment.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "domain/status_macros.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/local/local_kafka.h"
#include "platform/observability/log.h"
#include "platform/postgres/migrations.h"
#include "platform/process/broker_process.h"

namespace quoteflow {

namespace testing {
namespace {

QuoteflowEnvironment* g_env = nullptr;

#ifdef QUOTEFLOW_TEST_BROKER_BIN
constexpr char kDefaultBrokerBinary[] = QUOTEFLOW_TEST_BROKER_BIN;
#else
constexpr char kDefaultBrokerBinary[] = "";
#endif

std::string ReadTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

}  // namespace

QuoteflowEnvironment::QuoteflowEnvironment(EnvironmentOptions options)
    : options_(std::move(options)) {
  // Topic and group names of this process: the run's tests share one broker. Kafka names allow
  // [a-zA-Z0-9._-].
  std::string binary = "test";
  if (const char* name = program_invocation_short_name; name != nullptr && *name != '\0') {
    binary = name;
  }
  for (char& c : binary) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
  }
  group_prefix_ = absl::StrCat(binary, "-", getpid(), "-");
  topic_prefix_ = group_prefix_;
}

QuoteflowEnvironment::~QuoteflowEnvironment() {
  // TearDown() normally ran already; this covers early exits.
  {
    std::lock_guard<std::mutex> lock(broker_mu_);
    broker_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(kafka_mu_);
    kafka_.reset();
  }
  postgres_.reset();
  if (g_env == this) g_env = nullptr;
}

void QuoteflowEnvironment::SetUp() {
  absl::Time t0 = absl::Now();
  if (const char* url = getenv("QUOTEFLOW_TEST_DATABASE_URL"); url != nullptr && *url != '\0') {
    database_url_ = url;
    log::Info("tests use an existing postgres", {{"source", "QUOTEFLOW_TEST_DATABASE_URL"}});
  } else {
    LocalPostgres::Options pg_options;
    pg_options.durable = false;
    pg_options.settings = options_.postgres_settings;
    absl::StatusOr<std::unique_ptr<LocalPostgres>> pg = LocalPostgres::Start(pg_options);
    if (!pg.ok()) GTEST_FAIL() << "starting the test postgres failed: " << pg.status();
    postgres_ = std::move(pg).value();
    database_url_ = postgres_->database_url();
  }
  absl::Time t1 = absl::Now();
  absl::Status migrated = ApplyMigrations(database_url_);
  if (!migrated.ok()) {
    GTEST_FAIL() << "applying migrations to " << database_url_ << " failed: " << migrated
                 << (postgres_ ? "\nserver log tail:\n" + postgres_->LogTail() : "");
  }
  log::Info(
      "test environment ready",
      {{"database_url", database_url_},
       {"postgres_ms", static_cast<long long>(absl::ToInt64Milliseconds(t1 - t0))},
       {"migrations_ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t1))}});
}

void QuoteflowEnvironment::TearDown() {
  {
    std::lock_guard<std::mutex> lock(broker_mu_);
    if (broker_ != nullptr) {
      absl::StatusOr<int> stopped = broker_->Stop();
      if (!stopped.ok())
        log::Warn("stopping the broker failed", {{"error", stopped.status().ToString()}});
    }
    broker_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(kafka_mu_);
    kafka_.reset();
  }
  postgres_.reset();
}

absl::Status QuoteflowEnvironment::EnsureKafka() {
  std::lock_guard<std::mutex> lock(kafka_mu_);
  if (kafka_tried_) return kafka_status_;
  kafka_tried_ = true;
  const absl::Time t0 = absl::Now();
  if (const char* dir = getenv("QUOTEFLOW_TEST_KAFKA_DIR"); dir != nullptr && *dir != '\0') {
    kafka_dir_ = dir;
    bootstrap_servers_ = ReadTrimmed(kafka_dir_ + "/bootstrap");
    if (bootstrap_servers_.empty()) {
      kafka_status_ = absl::FailedPreconditionError(absl::StrCat(
          "QUOTEFLOW_TEST_KAFKA_DIR=", kafka_dir_,
          " has no bootstrap file: the ctest fixture kafka_fixture_start did not start the broker"
          " (see ", kafka_dir_, "/fixture.log)"));
      return kafka_status_;
    }
  } else {
    if (syscall(SYS_gettid) != getpid()) {
      log::Warn("starting Kafka from a non-main thread: it dies when that thread exits");
    }
    LocalKafka::Options kafka_options;
    absl::StatusOr<LocalKafka::SaslSslListener> sasl;
    if (postgres_ != nullptr) {
      const std::string beside =
          std::filesystem::path(postgres_->log_path()).parent_path().string();
      kafka_options.dir = beside + "/kafka";
      sasl = LocalKafka::DevSaslSslListener(beside + "/kafka-sasl");
      if (sasl.ok()) kafka_options.sasl_ssl = &*sasl;
    }
    absl::StatusOr<std::unique_ptr<LocalKafka>> kafka = LocalKafka::Start(kafka_options);
    if (!kafka.ok()) {
      kafka_status_ = kafka.status();
      return kafka_status_;
    }
    kafka_ = std::move(kafka).value();
    bootstrap_servers_ = kafka_->bootstrap_servers();
  }
  if (!options_.kafka_topics.empty()) {
    absl::StatusOr<std::vector<kafka::TopicSpec>> topics =
        kafka::ParseTopicSpecs(options_.kafka_topics);
    kafka_status_ = topics.ok() ? kafka::CreateTopics(kafka::KafkaSettings(bootstrap_servers_, {}),
                                                      kafka::PrefixTopics(*topics, topic_prefix_))
                                : topics.status();
    if (!kafka_status_.ok()) return kafka_status_;
  }
  log::Info("test kafka ready",
            {{"bootstrap_servers", bootstrap_servers_},
             {"source", kafka_ == nullptr ? "ctest fixture" : "own LocalKafka"},
             {"topic_prefix", topic_prefix_},
             {"ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0))}});
  return absl::OkStatus();
}

std::string QuoteflowEnvironment::bootstrap_servers() {
  absl::Status status = EnsureKafka();
  if (!status.ok()) {
    ADD_FAILURE() << "Kafka unavailable: " << status;
    return "";
  }
  std::lock_guard<std::mutex> lock(kafka_mu_);
  return bootstrap_servers_;
}

absl::Status QuoteflowEnvironment::CreateTopics(absl::string_view spec) {
  RETURN_IF_ERROR(EnsureKafka());
  ASSIGN_OR_RETURN(std::vector<kafka::TopicSpec> topics, kafka::ParseTopicSpecs(spec));
  std::lock_guard<std::mutex> lock(kafka_mu_);
  return kafka::CreateTopics(kafka::KafkaSettings(bootstrap_servers_, {}), topics);
}

absl::StatusOr<QuoteflowEnvironment::SaslSsl> QuoteflowEnvironment::sasl_ssl() {
  RETURN_IF_ERROR(EnsureKafka());
  std::lock_guard<std::mutex> lock(kafka_mu_);
  SaslSsl sasl;
  if (kafka_ != nullptr) {
    const std::string dir = std::filesystem::path(kafka_->dir()).parent_path().string();
    sasl.bootstrap_servers = kafka_->sasl_ssl_bootstrap_servers();
    sasl.password = ReadTrimmed(dir + "/kafka-sasl/password");
    sasl.ca_file = dir + "/kafka-sasl/certs/ca.pem";
  } else {
    sasl.bootstrap_servers = ReadTrimmed(kafka_dir_ + "/sasl/bootstrap");
    sasl.password = ReadTrimmed(kafka_dir_ + "/sasl/password");
    sasl.ca_file = kafka_dir_ + "/sasl/certs/ca.pem";
  }
  if (sasl.bootstrap_servers.empty() || sasl.password.empty()) {
    return absl::NotFoundError("the test Kafka has no SASL_SSL listener");
  }
  return sasl;
}

absl::Status QuoteflowEnvironment::EnsureMockBroker() {
  std::lock_guard<std::mutex> lock(broker_mu_);
  if (broker_ != nullptr) return absl::OkStatus();
  if (broker_tried_) return broker_status_;
  broker_tried_ = true;
  process::BrokerProcess::Options broker_options;
  if (const char* bin = getenv("QUOTEFLOW_BROKER_BIN"); bin != nullptr && *bin != '\0') {
    broker_options.binary = bin;
  } else {
    broker_options.binary = kDefaultBrokerBinary;
  }
  if (broker_options.binary.empty()) {
    broker_status_ = absl::FailedPreconditionError(
        "this build has no mock broker (target quoteflow-broker); set QUOTEFLOW_BROKER_BIN");
    return broker_status_;
  }
  if (syscall(SYS_gettid) != getpid()) {
    log::Warn("starting the broker from a non-main thread: it dies when that thread exits");
  }
  broker_options.extra_args = options_.broker_args;
  if (postgres_ != nullptr) {
    broker_options.stderr_path =
        std::filesystem::path(postgres_->log_path()).parent_path().string() + "/broker.log";
  }
  absl::Time t0 = absl::Now();
  absl::StatusOr<std::unique_ptr<process::BrokerProcess>> broker =
      process::BrokerProcess::Start(broker_options);
  if (!broker.ok()) {
    broker_status_ = broker.status();
    return broker_status_;
  }
  broker_ = std::move(broker).value();
  log::Info("test mock broker started",
            {{"bootstrap_servers", broker_->bootstrap_servers()},
             {"ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0))}});
  return absl::OkStatus();
}

process::BrokerProcess* QuoteflowEnvironment::mock_broker() {
  absl::Status status = EnsureMockBroker();
  if (!status.ok()) {
    ADD_FAILURE() << "mock broker unavailable: " << status;
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(broker_mu_);
  return broker_.get();
}

QuoteflowEnvironment& Env() {
  if (g_env == nullptr) {
    fprintf(
        stderr,
        "quoteflow::testing::Env(): no QuoteflowEnvironment registered; link quoteflow_test_main "
        "or call InitQuoteflowTestMain()\n");
    abort();
  }
  return *g_env;
}

QuoteflowEnvironment* InitQuoteflowTestMain(int* argc, char** argv, EnvironmentOptions options) {
  ::testing::InitGoogleTest(argc, argv);
  log::Init("test",
            getenv("QUOTEFLOW_TEST_DEBUG") != nullptr ? log::Level::kDebug : log::Level::kInfo);
  auto* env = new QuoteflowEnvironment(std::move(options));
  g_env = env;
  ::testing::AddGlobalTestEnvironment(env);  // takes ownership
  return env;
}

absl::Status ResetDatabase(const std::string& database_url) {
  try {
    pqxx::connection conn(database_url);
    pqxx::work tx(conn);
    pqxx::result rows = tx.exec(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
        "FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' "
        "  AND table_schema NOT IN ('public', 'information_schema') "
        "  AND table_schema NOT LIKE 'pg\\_%' "
        "  AND table_name NOT IN ('quoteflow_migrations', 'schema_migrations') "
        "ORDER BY 1");
    std::vector<std::string> tables;
    for (const auto& row : rows) tables.push_back(row[0].as<std::string>());
    if (!tables.empty()) {
      tx.exec("TRUNCATE " + absl::StrJoin(tables, ", ") + " RESTART IDENTITY CASCADE");
    }
    tx.commit();
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat("ResetDatabase: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("ResetDatabase: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status ResetDatabase() { return ResetDatabase(Env().database_url()); }

absl::Status WaitFor(const std::function<absl::Status()>& predicate, absl::Duration timeout,
                     absl::string_view description) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Milliseconds(1);
  absl::Status last;
  while (true) {
    last = predicate();
    if (last.ok()) return absl::OkStatus();
    if (absl::Now() >= deadline) break;
    absl::SleepFor(std::min(backoff, deadline - absl::Now()));
    backoff = std::min(backoff * 2, absl::Milliseconds(50));
  }
  std::string message =
      absl::StrCat("timed out after ", absl::FormatDuration(timeout), " waiting for ", description);
  if (!last.message().empty()) absl::StrAppend(&message, "; still: ", last.message());
  return absl::DeadlineExceededError(message);
}

absl::Status WaitFor(const std::function<bool()>& predicate, absl::Duration timeout,
                     absl::string_view description) {
  return WaitFor(std::function<absl::Status()>([&predicate]() -> absl::Status {
                   return predicate() ? absl::OkStatus() : absl::FailedPreconditionError("");
                 }),
                 timeout, description);
}

bool AcceptsTcpConnections(int port) { return process::AcceptsTcpConnections(port); }

}  // namespace testing
}  // namespace quoteflow
