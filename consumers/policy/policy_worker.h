// policy-worker's process definition for RunWorker: consumes QuoteApproved ("quotes") and
// CustomerPolicyCountRejected ("customers") into schema `policy`, serves quoteflow.v1.PolicyService
// (default 127.0.0.1:50053), and adds --underwriting-limit (minor units, default 1000000).
// Immutable data; thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_POLICY_POLICY_WORKER_H_
#define QUOTEFLOW_CONSUMERS_POLICY_POLICY_WORKER_H_

#include "consumers/common/worker_main.h"

namespace quoteflow::workers {

WorkerDefinition PolicyWorkerDefinition();

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_POLICY_POLICY_WORKER_H_
