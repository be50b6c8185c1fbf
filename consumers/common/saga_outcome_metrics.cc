#include "consumers/common/saga_outcome_metrics.h"

#include <algorithm>

namespace quoteflow::workers {

const char* SagaEndName(SagaEnd end) { return end == SagaEnd::kIssued ? "issued" : "rejected"; }

std::optional<SagaEndTransition> QuoteEndTransition(QuoteStatus before,
                                                    absl::Time before_updated_at,
                                                    QuoteStatus after) {
  if (before == after) return std::nullopt;
  SagaEndTransition t;
  if (after == QuoteStatus::kIssued) {
    t.end = SagaEnd::kIssued;
  } else if (after == QuoteStatus::kRejected) {
    t.end = SagaEnd::kRejected;
  } else {
    return std::nullopt;
  }
  if (before == QuoteStatus::kApproved) t.approved_at = before_updated_at;
  return t;
}

std::optional<SagaEndTransition> SagaStateEndTransition(SagaState before, SagaState after,
                                                        absl::Time created_at) {
  if (IsTerminal(before)) return std::nullopt;
  if (after == SagaState::kCompleted) return SagaEndTransition{SagaEnd::kIssued, created_at};
  if (after == SagaState::kCompensated) return SagaEndTransition{SagaEnd::kRejected, created_at};
  return std::nullopt;
}

double ApproveToFinalSeconds(absl::Time approved_at, absl::Time ended_at) {
  return std::max(0.0, absl::ToDoubleSeconds(ended_at - approved_at));
}

const std::vector<double>& ApproveToFinalBuckets() {
  static const std::vector<double>* const kBuckets = new std::vector<double>{
      0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return *kBuckets;
}

void SagaOutcomeMetrics::Register(metrics::Registry& registry) {
  metrics::CounterFamily& outcomes = registry.AddCounter(
      "quoteflow_saga_outcomes_total",
      "Sagas that ended, by outcome (issued, rejected); counted by the process that commits the "
      "end.",
      {"outcome"});
  metrics::HistogramFamily& latency = registry.AddHistogram(
      "quoteflow_saga_approve_to_final_seconds",
      "From a quote's approval to the commit of its final state (ISSUED or REJECTED).", {"outcome"},
      ApproveToFinalBuckets());
  for (SagaEnd end : {SagaEnd::kIssued, SagaEnd::kRejected}) {
    Series& s = series_[static_cast<int>(end)];
    s.outcomes = &outcomes.WithLabels({SagaEndName(end)});
    s.latency = &latency.WithLabels({SagaEndName(end)});
  }
  registered_.store(true, std::memory_order_release);
}

void SagaOutcomeMetrics::Record(const SagaEndTransition& transition) {
  if (!registered_.load(std::memory_order_acquire)) return;
  const Series& s = series_[static_cast<int>(transition.end)];
  s.outcomes->Increment();
  if (transition.approved_at.has_value()) {
    s.latency->Observe(ApproveToFinalSeconds(*transition.approved_at, clock_.Now()));
  }
}

}  // namespace quoteflow::workers
