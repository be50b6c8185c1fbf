// `quotectl saga ...`: the operator's view of the saga by orchestration, straight from schema
// `saga` (no orchestrator process needed):
//   saga list [--state STATE] [--limit N]   sagas, newest first (e.g. --state STUCK)
//   saga show QUOTE_ID                      one saga with its history
//   saga retry QUOTE_ID [--step-deadline D] resumes a STUCK saga: its stuck step's command is
//                                           sent again (next attempt, fresh retry budget)
// Thread-compatible (one call at a time per stream).
#ifndef QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_ADMIN_H_
#define QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_ADMIN_H_

#include <ostream>
#include <string>
#include <vector>

namespace quoteflow::workers {

// `args` starts with "saga". Exit codes: 0 done; 1 failed (database unreachable, no such saga,
// a saga that is not STUCK for retry); 2 usage error.
int RunSagaCommand(const std::vector<std::string>& args, const std::string& database_url,
                   std::ostream& out, std::ostream& err);

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_ADMIN_H_
