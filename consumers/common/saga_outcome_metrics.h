// How sagas end, on /metrics, exported by the process that commits a saga's end: quote-worker in
// choreography mode (it moves the quote to ISSUED or REJECTED), saga-orchestrator in orchestration
// mode (COMPLETED = issued, COMPENSATED = rejected), so dashboards use the same names in both:
//   quoteflow_saga_outcomes_total{outcome="issued"|"rejected"}
//   quoteflow_saga_approve_to_final_seconds{outcome=...}   histogram: from the quote's approval to
//                                                          the commit of its final state
// Only a transaction that changed the state counts (never an inbox duplicate or a replay that
// finds the quote already final): the handler records through messaging::AfterCommit.
//
// Where the approval time comes from: quote-worker reads the APPROVED quote's updated_at (set by
// quote-api when it approved it; an APPROVED quote changes only to its final state);
// saga-orchestrator uses the saga's created_at (when it consumed QuoteApproved, so its latency
// leaves out the quote outbox relay's hop). The end time is the recording process's clock, read
// right after COMMIT; a negative difference (clocks of two machines) counts as 0.
//
// Thread-safety: Register() once (before the consumer runs); Record() from any thread.
#ifndef QUOTEFLOW_CONSUMERS_COMMON_SAGA_OUTCOME_METRICS_H_
#define QUOTEFLOW_CONSUMERS_COMMON_SAGA_OUTCOME_METRICS_H_

#include <atomic>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "domain/clock.h"
#include "domain/quote.h"
#include "domain/saga_orchestration.h"
#include "platform/observability/metrics.h"

namespace quoteflow::workers {

enum class SagaEnd { kIssued, kRejected };
// "issued", "rejected" (the `outcome` label).
const char* SagaEndName(SagaEnd end);

struct SagaEndTransition {
  SagaEnd end = SagaEnd::kIssued;
  std::optional<absl::Time> approved_at;  // nullopt: unknown (the quote was never approved)
};

// The saga end that a committed quote change is: to ISSUED or REJECTED from another status
// (`before_updated_at` is the approval time when `before` is APPROVED); nullopt when the status
// did not become final.
std::optional<SagaEndTransition> QuoteEndTransition(QuoteStatus before,
                                                    absl::Time before_updated_at,
                                                    QuoteStatus after);

// The saga end that a committed saga change is: to COMPLETED (issued) or COMPENSATED (rejected)
// from a non-terminal state, approved at `created_at`; nullopt otherwise.
std::optional<SagaEndTransition> SagaStateEndTransition(SagaState before, SagaState after,
                                                        absl::Time created_at);

// Seconds from `approved_at` to `ended_at`, 0 when negative.
double ApproveToFinalSeconds(absl::Time approved_at, absl::Time ended_at);

// Upper bounds of the latency histogram: 10 ms to 10 minutes (a compensation waits for step
// deadlines).
const std::vector<double>& ApproveToFinalBuckets();

class SagaOutcomeMetrics {
 public:
  // `clock` (kept by reference) gives the end time of each recorded outcome.
  explicit SagaOutcomeMetrics(Clock& clock) : clock_(clock) {}
  SagaOutcomeMetrics(const SagaOutcomeMetrics&) = delete;
  SagaOutcomeMetrics& operator=(const SagaOutcomeMetrics&) = delete;

  // Registers both metrics and both outcomes' series (exposed at 0 from the start). Once.
  void Register(metrics::Registry& registry);

  // One saga ended now (call it after the commit): the outcome is counted and, when the approval
  // time is known, the latency observed. Not counted before Register().
  void Record(const SagaEndTransition& transition);

 private:
  struct Series {
    metrics::Counter* outcomes = nullptr;
    metrics::Histogram* latency = nullptr;
  };
  Clock& clock_;
  Series series_[2];
  std::atomic<bool> registered_{false};
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_SAGA_OUTCOME_METRICS_H_
