// quote-worker's process definition for RunWorker: consumes QuoteRejected ("quotes") and
// CustomerPolicyCountUpdated ("customers") into schema `quote` and moves quotes to REJECTED or
// ISSUED. Serves no gRPC (quote-api serves the quotes). In choreography mode it exports the saga
// outcomes (saga_outcome_metrics.h). Immutable data; thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_WORKER_H_
#define QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_WORKER_H_

#include "consumers/common/worker_main.h"

namespace quoteflow::workers {

WorkerDefinition QuoteWorkerDefinition();

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_WORKER_H_
