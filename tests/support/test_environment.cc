#include "tests/support/test_environment.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/status_macros.h"
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

}  // namespace

QuoteflowEnvironment::QuoteflowEnvironment(EnvironmentOptions options)
    : options_(std::move(options)) {}

QuoteflowEnvironment::~QuoteflowEnvironment() {
  // TearDown() normally ran already; this covers early exits.
  {
    std::lock_guard<std::mutex> lock(broker_mu_);
    broker_.reset();
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
  if (options_.kafka) {
    absl::Status broker = EnsureBroker();
    if (!broker.ok()) GTEST_FAIL() << "starting the broker failed: " << broker;
  }
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
  postgres_.reset();
}

absl::Status QuoteflowEnvironment::EnsureBroker() {
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
        "this build has no Kafka broker (target quoteflow-broker); set QUOTEFLOW_BROKER_BIN");
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
  log::Info("test broker started",
            {{"bootstrap_servers", broker_->bootstrap_servers()},
             {"ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0))}});
  return absl::OkStatus();
}

process::BrokerProcess* QuoteflowEnvironment::broker() {
  absl::Status status = EnsureBroker();
  if (!status.ok()) {
    ADD_FAILURE() << "broker unavailable: " << status;
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(broker_mu_);
  return broker_.get();
}

std::string QuoteflowEnvironment::bootstrap_servers() {
  process::BrokerProcess* b = broker();
  return b == nullptr ? "" : b->bootstrap_servers();
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

bool AcceptsTcpConnections(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace testing
}  // namespace quoteflow
