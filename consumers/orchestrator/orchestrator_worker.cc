#include "consumers/orchestrator/orchestrator_worker.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/command_handler.h"
#include "consumers/orchestrator/pg_saga_store.h"
#include "consumers/orchestrator/saga_grpc_service.h"
#include "consumers/orchestrator/saga_orchestrator.h"
#include "consumers/orchestrator/saga_topics.h"

namespace quoteflow::workers {

WorkerDefinition OrchestratorWorkerDefinition() {
  return WorkerDefinition{
      .program = "saga-orchestrator",
      .summary =
          "the saga by orchestration: one saga row per approved quote, commands through its "
          "outbox, replies, deadlines, compensation; serves quoteflow.v1.SagaService",
      .schema = "saga",
      .default_topics = absl::StrCat("quotes,", kSagaRepliesTopic),
      .default_grpc_address = "127.0.0.1:50054",
      .grpc_service_names = {"quoteflow.v1.SagaService"},
      // The history of finished sagas (the saga rows stay: they stop a repeated start).
      .retained_tables = {FinishedSagaHistoryTable()},
      .declare =
          [](Config& config) {
            config.Declare("step-deadline", "30s", "how long a saga step waits for its reply");
            config.Declare("max-step-attempts", "3",
                           "attempts of CreatePolicy / the customer step before compensating");
            config.Declare("max-compensation-attempts", "0",
                           "0: IssueQuote and compensations are retried until they get a reply "
                           "(--max-backoff apart); N: the saga is STUCK after N attempts without "
                           "reply (for a person to read the dead-lettered command; a late reply "
                           "still resolves it)");
            config.Declare("max-backoff", "5m", "longest wait between two such attempts");
            config.Declare("sweep-interval", "500ms", "how often expired deadlines are looked for");
            config.Declare("sweep-batch", "100", "sagas advanced per sweep transaction at most");
          },
      .build = [](const Config& config, PgPool& pool, Clock& clock,
                    OutboxDoorbell& doorbell) -> absl::StatusOr<WorkerParts> {
        auto deadline = config.GetDuration("step-deadline");
        auto step_attempts = config.GetInt("max-step-attempts", 1, 1000);
        auto comp_attempts = config.GetInt("max-compensation-attempts", 0, 1000);
        auto backoff = config.GetDuration("max-backoff");
        auto interval = config.GetDuration("sweep-interval");
        auto batch = config.GetInt("sweep-batch", 1, 10000);
        for (const absl::Status& s :
             {deadline.status(), step_attempts.status(), comp_attempts.status(), backoff.status(),
              interval.status(), batch.status()}) {
          if (!s.ok()) return s;
        }
        if (*deadline <= absl::ZeroDuration()) {
          return absl::InvalidArgumentError("--step-deadline: must be positive");
        }
        const SagaSettings settings{.step_deadline = *deadline,
                                    .max_step_attempts = static_cast<int>(*step_attempts),
                                    .max_compensation_attempts = static_cast<int>(*comp_attempts),
                                    .max_backoff = *backoff};
        const bool active = config.Get("saga-mode") == kSagaModeOrchestration;
        auto stats = std::make_shared<SagaStats>();
        // Orchestration mode: the orchestrator commits each saga's end (COMPLETED = issued,
        // COMPENSATED = rejected), so it exports the saga outcomes (quote-worker does in
        // choreography mode).
        auto outcomes = std::make_shared<SagaOutcomeMetrics>(clock);
        auto handler = std::make_shared<SagaEventHandler>(settings, *stats, active,
                                                          active ? outcomes.get() : nullptr);
        auto reader = std::make_shared<PgSagaReader>(pool);
        auto service = std::make_shared<SagaGrpcService>(active ? reader.get() : nullptr);
        WorkerParts parts{.keep_alive = {stats, outcomes, handler, reader, service},
                          .handler = handler.get(),
                          .services = {service.get()}};
        parts.writes_outbox = active;  // commands into saga.outbox
        parts.register_metrics = [stats, outcomes, active](metrics::Registry& registry) {
          if (active) outcomes->Register(registry);
          struct Exported {
            const char* name;
            const char* help;
            const std::atomic<int64_t>* value;
          };
          for (const Exported& e :
               {Exported{"quoteflow_saga_started_total", "Sagas started.", &stats->started},
                Exported{"quoteflow_saga_replies_total", "Participant replies handled.",
                         &stats->replies},
                Exported{"quoteflow_saga_deadlines_total", "Expired step deadlines handled.",
                         &stats->deadlines},
                Exported{"quoteflow_saga_stuck_total",
                         "Sagas that became STUCK (alert on any increase).",
                         &stats->stuck_total}}) {
            const std::atomic<int64_t>* value = e.value;
            registry.AddCounterCallback(e.name, e.help,
                                        [value] { return static_cast<double>(value->load()); });
          }
        };
        if (active) {
          auto sweeper = std::make_shared<DeadlineSweeper>(pool, settings, *stats, *interval,
                                                           static_cast<int>(*batch),
                                                           outcomes.get(), &doorbell);
          sweeper->Start();
          // Destroyed (stopped, joined) first: keep_alive is released back to front.
          parts.keep_alive.push_back(sweeper);
        }
        return parts;
      }};
}

}  // namespace quoteflow::workers
