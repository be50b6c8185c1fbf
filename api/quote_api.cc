#include "api/quote_api.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/health_service.h"
#include "api/malformed_request_interceptor.h"
#include "api/quote_grpc_service.h"
#include "domain/quote_commands.h"
#include "platform/config/config.h"
#include "platform/grpc_security/server_security.h"
#include "platform/observability/grpc_metrics.h"
#include "platform/observability/log.h"
#include "platform/observability/metrics_server.h"
#include "platform/postgres/migrations.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/outbox_doorbell_metrics.h"
#include "platform/postgres/pg_pool.h"
#include "platform/postgres/pg_quote_repository.h"
#include "platform/runtime/runtime.h"

namespace quoteflow {
namespace {

void DeclareOptions(Config& config) {
  config.Declare("grpc-address", "127.0.0.1:50051", "address the gRPC server listens on");
  config.Declare("database-url", "postgresql://quoteflow@127.0.0.1:5432/quoteflow",
                 "PostgreSQL connection URL (libpq syntax)");
  config.Declare("db-pool-size", "16",
                 "database connections: a CreateQuote or GetQuote call in progress holds one, "
                 "each ApproveQuote write batch one (--max-write-batches)");
  config.Declare("max-write-batches", "1",
                 "group commit: this many writer threads each take every ApproveQuote call "
                 "queued and write them as one batch (one statement and one commit for all, each "
                 "call still all-or-nothing); 0 writes every call on its own, on the gRPC thread "
                 "that received it");
  config.Declare("max-write-batch-size", "64", "the most ApproveQuote calls in one batch");
  config.Declare("statement-timeout", "5s", "Postgres statement_timeout of every connection");
  config.Declare("max-message-bytes", "65536", "largest request message accepted");
  config.Declare("max-concurrent-calls", "1000",
                 "the overload bound: ApproveQuote calls in progress at once (queued for a write "
                 "batch, up to 5 s), and as many CreateQuote and GetQuote calls (a server thread "
                 "each, waiting up to 5 s for a database connection); calls past it are refused "
                 "with RESOURCE_EXHAUSTED");
  config.Declare("outbox-notify-interval", "2ms",
                 "wakes the outbox relays after each commit that wrote outbox rows: at most one "
                 "NOTIFY per this interval, sent on its own connection; 0 turns it off (relays "
                 "then find rows by their --poll-interval)");
  config.Declare("startup-timeout", "30s", "how long to wait for Postgres at start");
  config.Declare("shutdown-grace", "10s", "how long in-flight calls may finish after SIGTERM");
  config.Declare("migrate", "false", "apply pending migrations at start instead of refusing");
  metrics::DeclareMetricsAddress(config, "");  // deploy/ and `make run` use 127.0.0.1:9464
  grpc_security::DeclareServerSecurity(config);
}

}  // namespace

int RunQuoteApi(int argc, char** argv) {
  DisableMutexDeadlockDetection();
  BlockTerminationSignals();
  log::Init("quote-api");
  Config config("quote-api", "the quoteflow command API (quoteflow.v1.QuoteService)");
  DeclareOptions(config);
  auto args = config.Parse(argc, argv);
  auto pool_size = config.GetInt("db-pool-size", 1, 1000);
  auto max_batches = config.GetInt("max-write-batches", 0, 1000);
  auto max_batch_size = config.GetInt("max-write-batch-size", 1, 10000);
  auto max_message = config.GetInt("max-message-bytes", 1024, 64 << 20);
  auto max_calls = config.GetInt("max-concurrent-calls", 1, 100000);
  auto notify_interval = config.GetDuration("outbox-notify-interval");
  auto statement_timeout = config.GetDuration("statement-timeout");
  auto startup_timeout = config.GetDuration("startup-timeout");
  auto grace = config.GetDuration("shutdown-grace");
  auto migrate = config.GetBool("migrate");
  for (const absl::Status& s :
       {args.status(), pool_size.status(), max_batches.status(), max_batch_size.status(),
        max_message.status(), max_calls.status(), notify_interval.status(),
        statement_timeout.status(), startup_timeout.status(), grace.status(), migrate.status(),
        metrics::ValidateMetricsAddress(config)}) {
    if (!s.ok()) {
      std::fprintf(stderr, "quote-api: invalid configuration: %s\n",
                   std::string(s.message()).c_str());
      return 2;
    }
  }
  auto credentials = grpc_security::ServerCredentialsFromConfig(config);
  if (!credentials.ok()) {
    std::fprintf(stderr, "quote-api: invalid configuration: %s\n",
                 std::string(credentials.status().message()).c_str());
    return 2;
  }
  config.LogEffective();

  const std::string url = config.Get("database-url");
  if (absl::Status s = PrepareSchema(url, *migrate, *startup_timeout); !s.ok()) {
    log::Error("database not ready", {{"error", s.ToString()}});
    return 1;
  }

  PgPool pool({.database_url = url,
               .size = static_cast<int>(*pool_size),
               .statement_timeout = *statement_timeout});
  // Wakes the quote outbox's relays after commits (never inside the writing transaction).
  std::unique_ptr<PgOutboxDoorbell> doorbell;
  if (*notify_interval > absl::ZeroDuration()) {
    doorbell = std::make_unique<PgOutboxDoorbell>(PgOutboxDoorbellOptions{
        .database_url = url, .schema = "quote", .min_interval = *notify_interval});
  }
  PgQuoteRepository repository(pool, {.schema = "quote", .source = "/quoteflow/quote-api"},
                               absl::Seconds(5), doorbell.get(),
                               {.max_concurrent_batches = static_cast<int>(*max_batches),
                                .max_batch_size = static_cast<int>(*max_batch_size)});
  SystemClock clock;
  UuidGenerator ids;
  QuoteCommands commands(repository, clock, ids);
  QuoteGrpcService quote_service(commands, static_cast<int>(*max_calls));
  HealthService health({"quoteflow.v1.QuoteService"}, [&pool] {
    return pool.Run(absl::Now() + absl::Seconds(1), "health check", [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT 1");
      return absl::OkStatus();
    });
  });

  metrics::Registry registry;
  if (doorbell != nullptr) RegisterOutboxDoorbellMetrics(registry, doorbell->stats());
  const PgQuoteRepository::Stats* writes = &repository.stats();
  registry.AddCounterCallback("quoteflow_quote_write_batches_total",
                              "writes of quote commands (group commits; a batch of one included)",
                              [writes] { return static_cast<double>(writes->batches.load()); });
  registry.AddCounterCallback("quoteflow_quote_write_batch_commands_total",
                              "quote commands those writes carried",
                              [writes] { return static_cast<double>(writes->commands.load()); });
  registry.AddGaugeCallback("quoteflow_quote_write_queue",
                            "quote commands waiting for a batch to write them",
                            [writes] { return static_cast<double>(writes->queued.load()); });
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A request that does not parse is the caller's error: INVALID_ARGUMENT, not gRPC's INTERNAL.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MalformedRequestInterceptorFactory>());
  metrics::AddGrpcServerMetrics(builder, registry, std::move(interceptors));
  int port = 0;
  builder.AddListeningPort(config.Get("grpc-address"), *credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(*max_message));
  // The overload bound. ApproveQuote is a callback method: its calls queue for the repository's
  // write batches with no thread each, and QuoteGrpcService refuses those past the bound. The
  // other methods are sync: each call runs on a thread of its own, taken from the resource
  // quota's thread budget, and gRPC answers RESOURCE_EXHAUSTED ("Server Threadpool Exhausted") to
  // a call that arrives when that budget is spent. The polling threads come out of the same
  // budget: a call is refused when the thread that took it was the last poller and no thread is
  // left to replace it, so a budget of the bound + 1 serves the bound. One completion queue, at
  // most 32 pollers: a thread whose call is done polls again while fewer than 32 do, and exits
  // otherwise (with 2, nearly every call under load created and destroyed a thread).
  constexpr int kMaxPollers = 32;
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxPollers);
  grpc::ResourceQuota quota("quote-api");
  quota.SetMaxThreads(static_cast<int>(*max_calls) + 1);
  builder.SetResourceQuota(quota);
  builder.RegisterService(&quote_service);
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    log::Error("cannot listen", {{"address", config.Get("grpc-address")}});
    return 1;
  }
  log::Info("serving", {{"address", config.Get("grpc-address")},
                        {"port", port},
                        {"security", grpc_security::DescribeServerSecurity(config)}});
  // /readyz follows the gRPC health service (Postgres reachable, not shutting down).
  auto metrics_server = metrics::StartFromConfig(config, registry, [&health] {
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    health.Check(nullptr, &request, &response);
    return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
               ? absl::OkStatus()
               : absl::UnavailableError("not serving (Postgres unreachable or shutting down)");
  });
  if (!metrics_server.ok()) {
    log::Error("cannot serve metrics", {{"error", metrics_server.status().ToString()}});
    return 1;
  }

  const int sig = WaitForTerminationSignal();
  log::Info("shutting down", {{"signal", sig}});
  health.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(*grace)));
  server->Wait();
  log::Info("stopped");
  return 0;
}

}  // namespace quoteflow
