// saga-orchestrator's process definition for RunWorker: consumes QuoteApproved ("quotes") and the
// participants' replies ("saga-replies") into schema `saga`, runs the deadline sweeper, and serves
// quoteflow.v1.SagaService (default 127.0.0.1:50054). Own options:
//   --step-deadline (30s) --max-step-attempts (3) --max-compensation-attempts (0 = retry until a
//   reply comes; N = STUCK after N silent attempts, see domain/saga_orchestration.h)
//   --max-backoff (5m) --sweep-interval (500ms) --sweep-batch (100)
// With --saga-mode=choreography it starts no saga and GetSaga answers FAILED_PRECONDITION.
// Immutable data; thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_ORCHESTRATOR_ORCHESTRATOR_WORKER_H_
#define QUOTEFLOW_CONSUMERS_ORCHESTRATOR_ORCHESTRATOR_WORKER_H_

#include "consumers/common/worker_main.h"

namespace quoteflow::workers {

WorkerDefinition OrchestratorWorkerDefinition();

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_ORCHESTRATOR_ORCHESTRATOR_WORKER_H_
