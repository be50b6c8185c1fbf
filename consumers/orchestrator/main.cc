#include "consumers/orchestrator/orchestrator_worker.h"

int main(int argc, char** argv) {
  return quoteflow::workers::RunWorker(argc, argv,
                                       quoteflow::workers::OrchestratorWorkerDefinition());
}
