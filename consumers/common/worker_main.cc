#include "consumers/common/worker_main.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/resource_quota.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "api/health_service.h"
#include "api/malformed_request_interceptor.h"
#include "consumers/common/consumer_metrics.h"
#include "consumers/common/doorbell_handler.h"
#include "platform/grpc_security/server_security.h"
#include "platform/kafka/kafka_config.h"
#include "platform/messaging/inbox_consumer.h"
#include "platform/observability/grpc_metrics.h"
#include "platform/observability/log.h"
#include "platform/observability/metrics_server.h"
#include "platform/postgres/migrations.h"
#include "platform/postgres/outbox_doorbell_metrics.h"
#include "platform/runtime/runtime.h"

namespace quoteflow::workers {
namespace {

void DeclareCommonOptions(Config& config, const WorkerDefinition& def) {
  config.Declare("database-url", "postgresql://quoteflow@127.0.0.1:5432/quoteflow",
                 "PostgreSQL connection URL (libpq syntax)");
  config.Declare("db-pool-size", "8", "database connections (consumer + gRPC calls)");
  config.Declare("statement-timeout", "5s", "Postgres statement_timeout of every connection");
  config.Declare("startup-timeout", "30s", "how long to wait for Postgres at start");
  config.Declare(
      "shutdown-grace", "10s",
      "how long in-flight gRPC calls and the Kafka consumer's close may take after SIGTERM");
  config.Declare("migrate", "false", "apply pending migrations at start instead of refusing");
  // The local launcher (tools/local) passes QUOTEFLOW_SAGA_MODE to every service: its default.
  const char* launcher_mode = std::getenv("QUOTEFLOW_SAGA_MODE");
  config.Declare(
      "saga-mode",
      launcher_mode != nullptr && *launcher_mode != '\0' ? launcher_mode : "choreography",
      "choreography (react to the other services' events) or orchestration (handle "
      "saga-orchestrator's commands)");
  config.Declare(
      "topics", "",
      absl::StrCat("comma-separated topics to consume (default: ", def.default_topics,
                   def.orchestration_topics.empty()
                       ? std::string()
                       : absl::StrCat("; in orchestration mode ", def.orchestration_topics),
                   ")"));
  config.Declare("consumer-name", def.program,
                 "inbox consumer name (the dedup key in <schema>.inbox)");
  config.Declare("consumer-group", "", "Kafka consumer group id (default: --consumer-name)");
  config.Declare("dlq-suffix", ".dlq", "dead-letter topic = topic + suffix (it must exist)");
  config.Declare("max-poison-attempts", "3", "attempts of an unappliable event before the DLQ");
  config.Declare("max-batch", "100", "events applied in one transaction at most");
  config.Declare("outbox-notify-interval", "2ms",
                 "wakes the outbox relays after each commit that wrote outbox rows: at most one "
                 "NOTIFY per this interval, sent on its own connection; 0 turns it off (relays "
                 "then find rows by their --poll-interval)");
  metrics::DeclareMetricsAddress(config, "");  // deploy/ and `make run` use ports 9466 and up
  if (!def.default_grpc_address.empty()) {
    config.Declare("grpc-address", def.default_grpc_address, "address the gRPC server listens on");
    grpc_security::DeclareServerSecurity(config);
  }
  kafka::KafkaSettings::Declare(config);
  DeclareRetentionOptions(config);
  if (def.declare) def.declare(config);
}

std::vector<std::string> SplitTopics(const std::string& spec) {
  std::vector<std::string> topics;
  for (absl::string_view t : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    topics.emplace_back(absl::StripAsciiWhitespace(t));
  }
  return topics;
}

int ConfigError(const std::string& program, const absl::Status& s) {
  std::fprintf(stderr, "%s: invalid configuration: %s\n", program.c_str(),
               std::string(s.message()).c_str());
  return 2;
}

}  // namespace

int RunWorker(int argc, char** argv, const WorkerDefinition& def) {
  DisableMutexDeadlockDetection();
  BlockTerminationSignals();
  log::Init(def.program);
  Config config(def.program, def.summary);
  DeclareCommonOptions(config, def);
  auto args = config.Parse(argc, argv);
  auto pool_size = config.GetInt("db-pool-size", 2, 1000);
  auto statement_timeout = config.GetDuration("statement-timeout");
  auto startup_timeout = config.GetDuration("startup-timeout");
  auto grace = config.GetDuration("shutdown-grace");
  auto migrate = config.GetBool("migrate");
  auto poison_attempts = config.GetInt("max-poison-attempts", 1, 1000);
  auto max_batch = config.GetInt("max-batch", 1, 10000);
  auto notify_interval = config.GetDuration("outbox-notify-interval");
  for (const absl::Status& s :
       {args.status(), pool_size.status(), statement_timeout.status(), startup_timeout.status(),
        grace.status(), migrate.status(), poison_attempts.status(), max_batch.status(),
        notify_interval.status()}) {
    if (!s.ok()) return ConfigError(def.program, s);
  }
  absl::StatusOr<RetentionOptions> retention = RetentionOptionsFromConfig(config);
  if (!retention.ok()) return ConfigError(def.program, retention.status());
  absl::StatusOr<kafka::KafkaSettings> kafka = kafka::KafkaSettings::FromConfig(config);
  if (!kafka.ok()) return ConfigError(def.program, kafka.status());
  if (absl::Status s = kafka->Validate(); !s.ok()) return ConfigError(def.program, s);
  if (absl::Status s = metrics::ValidateMetricsAddress(config); !s.ok()) {
    return ConfigError(def.program, s);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!def.default_grpc_address.empty()) {
    auto configured = grpc_security::ServerCredentialsFromConfig(config);
    if (!configured.ok()) return ConfigError(def.program, configured.status());
    credentials = *std::move(configured);
  }
  const std::string& mode = config.Get("saga-mode");
  if (mode != "choreography" && mode != "orchestration") {
    return ConfigError(def.program,
                       absl::InvalidArgumentError(absl::StrCat(
                           "--saga-mode: '", mode, "' is neither choreography nor orchestration")));
  }
  std::string topic_spec = config.Get("topics");
  if (topic_spec.empty()) {
    topic_spec = mode == "orchestration" && !def.orchestration_topics.empty()
                     ? def.orchestration_topics
                     : def.default_topics;
  }
  const std::vector<std::string> topics = SplitTopics(topic_spec);
  if (topics.empty()) {
    return ConfigError(def.program, absl::InvalidArgumentError("--topics: at least one topic"));
  }

  const std::string url = config.Get("database-url");
  // The pool connects lazily: building the parts first reports their options' errors at once.
  PgPool pool({.database_url = url,
               .size = static_cast<int>(*pool_size),
               .statement_timeout = *statement_timeout});
  SystemClock clock;
  // Wakes the relays of the worker's outbox after commits (never inside the writing transaction).
  std::unique_ptr<PgOutboxDoorbell> pg_doorbell;
  SilentOutboxDoorbell silent_doorbell;
  if (*notify_interval > absl::ZeroDuration()) {
    pg_doorbell = std::make_unique<PgOutboxDoorbell>(PgOutboxDoorbellOptions{
        .database_url = url, .schema = def.schema, .min_interval = *notify_interval});
  }
  OutboxDoorbell& doorbell =
      pg_doorbell != nullptr ? static_cast<OutboxDoorbell&>(*pg_doorbell) : silent_doorbell;
  absl::StatusOr<WorkerParts> parts = def.build(config, pool, clock, doorbell);
  if (!parts.ok()) return ConfigError(def.program, parts.status());
  std::unique_ptr<DoorbellHandler> ringing;
  if (parts->writes_outbox) ringing = std::make_unique<DoorbellHandler>(*parts->handler, doorbell);
  messaging::EventHandler& handler =
      ringing != nullptr ? static_cast<messaging::EventHandler&>(*ringing) : *parts->handler;

  messaging::InboxConsumer consumer(
      messaging::InboxConsumerOptions{.consumer = config.Get("consumer-name"),
                                      .group_id = config.Get("consumer-group"),
                                      .schema = def.schema,
                                      .topics = topics,
                                      .dlq_suffix = config.Get("dlq-suffix"),
                                      .max_poison_attempts = static_cast<int>(*poison_attempts),
                                      .max_batch = static_cast<int>(*max_batch)},
      *kafka, pool, handler);
  if (absl::Status s = consumer.Validate(); !s.ok()) return ConfigError(def.program, s);
  config.LogEffective();
  if (absl::Status s = PrepareSchema(url, *migrate, *startup_timeout); !s.ok()) {
    log::Error("database not ready", {{"error", s.ToString()}});
    return 1;
  }

  metrics::Registry registry;
  if (parts->register_metrics) parts->register_metrics(registry);
  // Bounded tables: the inbox rows of this consumer, and the worker's own tables.
  std::vector<RetentionTable> retained = {InboxTable(def.schema, config.Get("consumer-name"))};
  retained.insert(retained.end(), def.retained_tables.begin(), def.retained_tables.end());
  RetentionSweeper retention_sweeper(pool, std::move(retained), *retention);
  retention_sweeper.Register(registry);
  retention_sweeper.Start();
  if (pg_doorbell != nullptr) RegisterOutboxDoorbellMetrics(registry, pg_doorbell->stats());
  std::unique_ptr<HealthService> health;
  std::unique_ptr<grpc::Server> server;
  if (!def.default_grpc_address.empty()) {
    health = std::make_unique<HealthService>(
        std::set<std::string>(def.grpc_service_names.begin(), def.grpc_service_names.end()),
        [&pool] {
          return pool.Run(absl::Now() + absl::Seconds(1), "health check", [](pqxx::connection& c) {
            pqxx::nontransaction tx(c);
            tx.exec("SELECT 1");
            return absl::OkStatus();
          });
        });
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    // A request that does not parse is the caller's error: INVALID_ARGUMENT, not INTERNAL.
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> more;
    more.push_back(std::make_unique<MalformedRequestInterceptorFactory>());
    metrics::AddGrpcServerMetrics(builder, registry, std::move(more));
    int port = 0;
    builder.AddListeningPort(config.Get("grpc-address"), credentials, &port);
    grpc::ResourceQuota quota(def.program);
    quota.SetMaxThreads(64);
    builder.SetResourceQuota(quota);
    for (grpc::Service* s : parts->services) builder.RegisterService(s);
    builder.RegisterService(health.get());
    server = builder.BuildAndStart();
    if (server == nullptr || port == 0) {
      log::Error("cannot listen", {{"address", config.Get("grpc-address")}});
      return 1;
    }
    log::Info("serving", {{"address", config.Get("grpc-address")},
                          {"port", port},
                          {"security", grpc_security::DescribeServerSecurity(config)}});
  }

  RegisterConsumerMetrics(registry, consumer.stats());
  auto metrics_server = metrics::StartFromConfig(config, registry, [&consumer, &health] {
    return WorkerReadiness(consumer.stats(), health.get());
  });
  if (!metrics_server.ok()) {
    log::Error("cannot serve metrics", {{"error", metrics_server.status().ToString()}});
    return 1;
  }

  std::atomic<bool> stop{false};
  std::atomic<bool> consumer_done{false};
  absl::Status consumer_status;
  std::thread consumer_thread([&] {
    consumer_status = consumer.Run(stop);
    consumer_done = true;
  });
  log::Info("consuming", {{"topics", topic_spec},
                          {"group", consumer.group_id()},
                          {"schema", def.schema},
                          {"saga_mode", mode}});

  int sig = 0;
  while (sig == 0 && !consumer_done) sig = PollTerminationSignal(absl::Milliseconds(200));
  if (sig != 0) log::Info("shutting down", {{"signal", sig}});
  stop = true;
  const absl::Time stop_deadline = absl::Now() + *grace;
  if (health != nullptr) health->Shutdown();
  if (server != nullptr) {
    server->Shutdown(absl::ToChronoTime(stop_deadline));
    server->Wait();
  }
  // The consumer finishes its batch, commits its offsets and leaves the group; leaving waits for
  // the group coordinator, which can stall mid-rebalance (seen with the mock cluster for minutes).
  // That must not keep the process alive past the grace: every applied record is committed in
  // Postgres already, and the inbox deduplicates whatever the group hands out again.
  while (!consumer_done && absl::Now() < stop_deadline) absl::SleepFor(absl::Milliseconds(20));
  if (!consumer_done) {
    log::Warn(
        "Kafka consumer did not close within the shutdown grace; exiting without leaving "
        "the group (its partitions move after the session timeout)",
        {{"grace_ms", static_cast<long long>(absl::ToInt64Milliseconds(*grace))}});
    std::fflush(nullptr);
    std::_Exit(0);
  }
  consumer_thread.join();
  if (!consumer_status.ok()) {
    log::Error("consumer failed", {{"error", consumer_status.ToString()}});
    return 1;
  }
  log::Info("stopped", {{"stats", consumer.stats().ToJson()}});
  return 0;
}

}  // namespace quoteflow::workers
