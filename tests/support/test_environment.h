// Shared fixtures for tests that need real services. QuoteflowEnvironment is a GoogleTest global
// environment that starts ONE throwaway PostgreSQL cluster per test binary (LocalPostgres,
// durable=false: fsync off), applies the project's migrations, and gives the tests a real Apache
// Kafka: the one the ctest run's fixture started (tools/kafka: `quoteflow-kafka --daemon`, its
// directory in QUOTEFLOW_TEST_KAFKA_DIR, see tests/CMakeLists.txt), or, when a test binary runs
// on its own, a single-node LocalKafka it starts on first use. Tests of one run share that broker,
// so each binary works on its own topics and consumer groups: topic_prefix() and group_prefix()
// are unique per process, and the EnvironmentOptions::kafka_topics are created with that prefix.
// librdkafka's mock cluster (quoteflow-broker) is still here as mock_broker(), only for
// request-level fault injection that a real broker cannot do; a test that uses it says so.
// Tests reach all this through quoteflow::testing::Env(). ResetDatabase() empties the service
// tables between tests; WaitFor() replaces sleeps with a polled condition and a deadline.
//
// Linking: link `quoteflow_test_main` (a main() that registers the environment) or call
// InitQuoteflowTestMain() from your own main(). Register the binary with
// quoteflow_add_integration_test() (tests/support/CMakeLists.txt) so ctest runs it as one process:
// gtest_discover_tests would start one cluster per test case.
//
// Setting QUOTEFLOW_TEST_DATABASE_URL points the environment at an existing server instead (no
// cluster is started; postgres() is then null and tests that stop/restart it should GTEST_SKIP()).
//
// Teardown: TearDown() (and the destructors, when a test fails) stop the mock broker, an own Kafka
// and the cluster and remove its temporary directory. If the binary crashes or is SIGKILLed, the
// postmaster (a direct child with PDEATHSIG=SIGINT, see platform/local/local_postgres.h), the
// JVMs and the mock broker (PDEATHSIG=SIGKILL) die with it; only temp directories are left.
//
// Thread-safety: Env()'s accessors may be called from any thread once the environment is set up,
// except that the first call that starts a process (kafka_bootstrap_servers() without a fixture,
// mock_broker()) should come from the main test thread: a child's death signal is tied to the
// thread that started it. Stopping/restarting postgres() must not race with other uses of it.
#ifndef QUOTEFLOW_TESTS_SUPPORT_TEST_ENVIRONMENT_H_
#define QUOTEFLOW_TESTS_SUPPORT_TEST_ENVIRONMENT_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "platform/local/local_postgres.h"

namespace quoteflow {

class LocalKafka;
namespace process {
class BrokerProcess;
}  // namespace process

namespace testing {

struct EnvironmentOptions {
  // Topics to create on the real Kafka when it is first used, as "name:partitions,...", each name
  // with topic_prefix() in front.
  std::string kafka_topics;
  // Extra arguments for the mock broker (quoteflow-broker), e.g. {"--brokers=1"}.
  std::vector<std::string> broker_args;
  // Extra Postgres server settings.
  std::vector<std::pair<std::string, std::string>> postgres_settings;
};

class QuoteflowEnvironment : public ::testing::Environment {
 public:
  explicit QuoteflowEnvironment(EnvironmentOptions options = {});
  ~QuoteflowEnvironment() override;

  // Starts Postgres and applies migrations (and the broker when options.kafka). A failure is a
  // fatal gtest failure: no test of the binary runs, and the message carries the server log's tail.
  void SetUp() override;
  // Stops the broker, then the cluster (fast), and removes the cluster's temp directory.
  void TearDown() override;

  // "postgresql://quoteflow@127.0.0.1:PORT/quoteflow" (or QUOTEFLOW_TEST_DATABASE_URL).
  const std::string& database_url() const { return database_url_; }
  // The cluster, so a test can Stop()/Restart() it. Null with QUOTEFLOW_TEST_DATABASE_URL.
  LocalPostgres* postgres() const { return postgres_.get(); }

  // The real Kafka's PLAINTEXT "host:port,..." list: the run's fixture, or an own single-node
  // LocalKafka started on first use (its logs beside postgres.log). Creates
  // EnvironmentOptions::kafka_topics on first use. "" after adding a gtest failure saying why.
  std::string bootstrap_servers();
  // Unique per test process ("<binary>-<pid>-"): prepend it to topic names.
  const std::string& topic_prefix() const { return topic_prefix_; }
  // Unique per test process, always: prepend it to consumer group ids.
  const std::string& group_prefix() const { return group_prefix_; }
  // Creates topics on the real Kafka (names taken as given; existing ones are kept).
  absl::Status CreateTopics(absl::string_view spec);
  // The real Kafka's Event Hubs-shaped SASL_SSL listener (user "$ConnectionString", a connection
  // string as password, TLS with the CA in ca_file); NOT_FOUND when the fixture has none.
  struct SaslSsl {
    std::string bootstrap_servers;
    std::string password;
    std::string ca_file;
  };
  absl::StatusOr<SaslSsl> sasl_ssl();

  // librdkafka's mock cluster, for request-level fault injection only: started on first use (the
  // quoteflow-broker built with this tree, or QUOTEFLOW_BROKER_BIN; its log goes to broker.log
  // beside postgres.log). Null after adding a gtest failure saying why.
  process::BrokerProcess* mock_broker();

  private:
  EnvironmentOptions options_;
  std::unique_ptr<LocalPostgres> postgres_;
  std::string database_url_;
  absl::Status EnsureKafka();
  absl::Status EnsureMockBroker();

  std::string topic_prefix_;
  std::string group_prefix_;
  std::mutex kafka_mu_;
  std::unique_ptr<LocalKafka> kafka_;  // guarded by kafka_mu_; null with the run's fixture
  std::string kafka_dir_;              // guarded by kafka_mu_; the fixture's directory, if any
  std::string bootstrap_servers_;      // guarded by kafka_mu_
  absl::Status kafka_status_;          // guarded by kafka_mu_; the first start's result
  bool kafka_tried_ = false;           // guarded by kafka_mu_
  std::mutex broker_mu_;
  std::unique_ptr<process::BrokerProcess> broker_;  // guarded by broker_mu_
  absl::Status broker_status_;                      // guarded by broker_mu_; last start failure
  bool broker_tried_ = false;                       // guarded by broker_mu_
};

// The registered environment. Aborts when none is registered (link quoteflow_test_main).
QuoteflowEnvironment& Env();

// Registers the environment and initializes GoogleTest and logging. Call from main() before
// RUN_ALL_TESTS(). Returns the environment (owned by GoogleTest).
QuoteflowEnvironment* InitQuoteflowTestMain(int* argc, char** argv,
                                            EnvironmentOptions options = {});

// Empties every table of the service schemas (every schema except public and the system ones:
// quote, policy, customer, saga, ...), discovered from information_schema, in one
// TRUNCATE ... RESTART IDENTITY CASCADE. The migrations bookkeeping (in public) is kept.
// Errors: UNAVAILABLE when Postgres is unreachable; INTERNAL for an SQL error.
absl::Status ResetDatabase(const std::string& database_url);
absl::Status ResetDatabase();  // Env().database_url()

// Polls `predicate` (first at once, then with a backoff up to 50 ms) until it is true or `timeout`
// passes. DEADLINE_EXCEEDED "timed out after <timeout> waiting for <description>" otherwise.
absl::Status WaitFor(const std::function<bool()>& predicate, absl::Duration timeout,
                     absl::string_view description);
// Same, for a predicate that explains itself: OK means done; on timeout the error also carries the
// predicate's last non-OK message (e.g. "outbox has 3 rows left").
absl::Status WaitFor(const std::function<absl::Status()>& predicate, absl::Duration timeout,
                     absl::string_view description);

// Whether something accepts TCP connections on 127.0.0.1:`port`. Wait for this before creating a
// gRPC channel to a server that is starting: a channel whose first attempts are refused backs off
// for seconds.
bool AcceptsTcpConnections(int port);

}  // namespace testing
}  // namespace quoteflow

#endif  // QUOTEFLOW_TESTS_SUPPORT_TEST_ENVIRONMENT_H_
