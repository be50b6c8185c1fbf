// The outbox doorbell's counters (outbox_doorbell.h) on a process's /metrics: rings, NOTIFYs sent
// (rings / notifies is the coalescing), and NOTIFYs dropped while Postgres was unreachable.
// Header-only so that quoteflow_postgres does not depend on the metrics library; callers link
// quoteflow_metrics. Call once per registry, before serving it; `stats` must outlive the registry.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_METRICS_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_METRICS_H_

#include "platform/observability/metrics.h"
#include "platform/postgres/outbox_doorbell.h"

namespace quoteflow {

inline void RegisterOutboxDoorbellMetrics(metrics::Registry& registry,
                                          const OutboxDoorbellStats& stats) {
  const OutboxDoorbellStats* s = &stats;
  registry.AddCounterCallback("quoteflow_outbox_doorbell_rings_total",
                              "commits that wrote outbox rows and rang the relays' doorbell",
                              [s] { return static_cast<double>(s->rings.load()); });
  registry.AddCounterCallback("quoteflow_outbox_doorbell_notifies_total",
                              "NOTIFYs sent to the outbox relays (coalesced rings)",
                              [s] { return static_cast<double>(s->notifies.load()); });
  registry.AddCounterCallback(
      "quoteflow_outbox_doorbell_dropped_total",
      "NOTIFYs not sent because Postgres was unreachable (relays fall back to polling)",
      [s] { return static_cast<double>(s->dropped.load()); });
}

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_METRICS_H_
