// customer-worker's process definition for RunWorker: consumes PolicyCreated and PolicyCancelled
// ("policies") into schema `customer`, serves quoteflow.v1.CustomerService (default
// 127.0.0.1:50052), and adds --default-max-policies (for customers created with max_policies 0,
// default 3). Immutable data; thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_WORKER_H_
#define QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_WORKER_H_

#include "consumers/common/worker_main.h"

namespace quoteflow::workers {

WorkerDefinition CustomerWorkerDefinition();

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_WORKER_H_
