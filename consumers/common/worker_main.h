// The process shell every saga worker shares: configuration (flags == env vars), the schema check
// (or --migrate), the PostgreSQL pool, the InboxConsumer on the worker's topics, an optional gRPC
// server with reflection and health, JSON logs, and a clean stop on SIGTERM/SIGINT (the consumer
// finishes its transaction and commits its offsets, the gRPC server drains). Each worker's main()
// is one call to RunWorker with its WorkerDefinition.
//
// Options of every worker (besides the Kafka ones of KafkaSettings::Declare):
//   --database-url --db-pool-size --statement-timeout --startup-timeout --shutdown-grace --migrate
//   --topics --consumer-name --consumer-group --dlq-suffix --max-poison-attempts --max-batch
//   --outbox-notify-interval (the doorbell that wakes the outbox relays after commits)
//   --grpc-address (only for workers that serve gRPC)
//   --saga-mode (SAGA_MODE: choreography or orchestration; default $QUOTEFLOW_SAGA_MODE, which the
//   local launcher sets, else choreography; the build step reads it)
//   --retention --replay-window --retention-sweep-interval --retention-sweep-batch (the bounded
//   sweep of its inbox and of WorkerDefinition::retained_tables: retention_sweeper.h; a retention
//   shorter than the replay window is a configuration error)
// Thread-safety: RunWorker is called once, from main().
#ifndef QUOTEFLOW_CONSUMERS_COMMON_WORKER_MAIN_H_
#define QUOTEFLOW_CONSUMERS_COMMON_WORKER_MAIN_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "consumers/common/retention_sweeper.h"
#include "domain/clock.h"
#include "platform/config/config.h"
#include "platform/messaging/event_handler.h"
#include "platform/observability/metrics.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::workers {

// What a worker's build step returns: the handler and gRPC services, and the objects they use
// (kept alive until the process ends).
struct WorkerParts {
  std::vector<std::shared_ptr<void>> keep_alive;
  messaging::EventHandler* handler = nullptr;
  std::vector<grpc::Service*> services;
  // Registers the worker's own metrics (optional), next to the consumer's and gRPC's.
  std::function<void(metrics::Registry&)> register_metrics;
  // Whether `handler` writes rows into the worker's outbox: RunWorker then rings the outbox
  // doorbell after each commit that applied events (consumers/common/doorbell_handler.h).
  bool writes_outbox = true;
};

struct WorkerDefinition {
  std::string program;  // "policy-worker": logs, inbox consumer name, consumer group
  std::string summary;  // one line for --help
  std::string schema;   // its service schema, holding its inbox
  std::string default_topics;
  // The default of --topics with --saga-mode=orchestration ("": default_topics).
  std::string orchestration_topics;
  // "" when the worker serves no gRPC; otherwise the default of --grpc-address.
  std::string default_grpc_address;
  // Names reported by the health service besides "".
  std::vector<std::string> grpc_service_names;
  // Tables the worker owns besides its inbox (always swept), deleted past --retention.
  std::vector<RetentionTable> retained_tables;
  // Declares the worker's own options.
  std::function<void(Config&)> declare;
  // Builds the parts once the configuration is parsed and the database is ready. An error is a
  // configuration error (exit 2); its message names the option. `doorbell` wakes the relays of the
  // worker's outbox: ring it after committing outbox rows outside the handler (the handler's own
  // commits ring it through WorkerParts::writes_outbox); it outlives the parts.
  std::function<absl::StatusOr<WorkerParts>(const Config&, PgPool&, Clock&, OutboxDoorbell&)>
      build;
};

// Runs until SIGTERM/SIGINT. Exit codes: 0 after a clean stop, 2 for a bad configuration, 1 when
// the database is not ready, the gRPC server cannot listen, or the consumer fails fatally.
int RunWorker(int argc, char** argv, const WorkerDefinition& definition);

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_WORKER_MAIN_H_
