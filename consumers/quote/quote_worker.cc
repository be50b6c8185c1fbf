#include "consumers/quote/quote_worker.h"

#include "consumers/common/command_handler.h"
#include "consumers/common/saga_outcome_metrics.h"
#include "consumers/orchestrator/saga_topics.h"
#include "consumers/quote/pg_quote_saga_store.h"
#include "consumers/quote/quote_event_handler.h"

namespace quoteflow::workers {

WorkerDefinition QuoteWorkerDefinition() {
  return WorkerDefinition{
      .program = "quote-worker",
      .summary =
          "the saga's end on the quote side: REJECTED on QuoteRejected, ISSUED once the "
          "customer counted the policy",
      .schema = "quote",
      .default_topics = "quotes,customers",
      .orchestration_topics = kQuoteCommandsTopic,
      // quote-api's idempotency keys: swept here, the quote schema's background process.
      .retained_tables = {QuoteRequestsTable()},
      .build = [](const Config& config, PgPool&, Clock& clock,
                    OutboxDoorbell&) -> absl::StatusOr<WorkerParts> {
        if (config.Get("saga-mode") == kSagaModeOrchestration) {
          // Orchestration: IssueQuote / RejectQuote commands; replies through quote.outbox.
          auto service = std::make_shared<QuoteCommandService>(clock);
          const OutboxTarget target{.schema = "quote", .source = "/quoteflow/quote-worker"};
          auto handler = std::make_shared<CommandHandler<QuoteCommandService, QuoteSagaStore>>(
              *service,
              [](pqxx::work& tx, const std::string&, PendingOutboxRows*) {
                return std::make_unique<PgQuoteSagaStore>(tx);
              },
              target, kSagaRepliesTopic);
          return WorkerParts{.keep_alive = {service, handler}, .handler = handler.get()};
        }
        // Choreography: this worker commits each saga's end, so it exports the saga outcomes
        // (in orchestration mode saga-orchestrator does).
        auto saga = std::make_shared<QuoteSaga>(clock);
        auto outcomes = std::make_shared<SagaOutcomeMetrics>(clock);
        auto handler = std::make_shared<QuoteEventHandler>(*saga, outcomes.get());
        WorkerParts parts{.keep_alive = {saga, outcomes, handler}, .handler = handler.get()};
        parts.writes_outbox = false;  // it only changes quote statuses
        parts.register_metrics = [outcomes](metrics::Registry& registry) {
          outcomes->Register(registry);
        };
        return parts;
      }};
}

}  // namespace quoteflow::workers
