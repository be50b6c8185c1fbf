#include "consumers/quote/quote_worker.h"

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
      .build = [](const Config&, PgPool&, Clock& clock) -> absl::StatusOr<WorkerParts> {
        auto saga = std::make_shared<QuoteSaga>(clock);
        auto handler = std::make_shared<QuoteEventHandler>(*saga);
        return WorkerParts{.keep_alive = {saga, handler}, .handler = handler.get()};
      }};
}

}  // namespace quoteflow::workers
