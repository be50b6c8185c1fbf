#include "outbox-relay/relay_metrics.h"

namespace quoteflow::relay {

void RegisterRelayMetrics(metrics::Registry& registry, const RelayStats& stats) {
  const RelayStats* s = &stats;
  auto counter = [&registry](const char* name, const char* help,
                             const std::atomic<int64_t>& value) {
    registry.AddCounterCallback(name, help, [&value] { return static_cast<double>(value.load()); });
  };
  counter("quoteflow_outbox_published_total", "outbox rows published and deleted", s->published);
  counter("quoteflow_outbox_batches_total", "batches produced", s->batches);
  counter("quoteflow_outbox_transient_failures_total", "deliveries failed transiently (retried)",
          s->transient_failures);
  counter("quoteflow_outbox_permanent_failures_total",
          "deliveries refused permanently (attempt counted)", s->permanent_failures);
  counter("quoteflow_outbox_parked_total", "rows parked by this relay", s->parked);
  counter("quoteflow_outbox_held_back_total",
          "delivered rows kept because an earlier one of the same aggregate failed", s->held_back);
  counter("quoteflow_outbox_reconnects_total", "Postgres sessions opened", s->reconnects);
  counter("quoteflow_outbox_producer_restarts_total",
          "Kafka producers recreated after a fatal error", s->producer_restarts);
  counter("quoteflow_outbox_wakeups_total", "idle waits ended by a writer's NOTIFY", s->wakeups);
  registry.AddGaugeCallback("quoteflow_outbox_backlog_rows",
                            "unparked outbox rows waiting to be published, estimated above "
                            "100000 (-1: not measured yet)",
                            [s] { return static_cast<double>(s->backlog.load()); });
  registry.AddGaugeCallback("quoteflow_outbox_parked_rows",
                            "parked outbox rows (-1: not measured yet)",
                            [s] { return static_cast<double>(s->parked_rows.load()); });
  registry.AddGaugeCallback("quoteflow_outbox_oldest_unpublished_age_seconds",
                            "age of the oldest unparked outbox row",
                            [s] { return s->oldest_unpublished_age_s.load(); });
  registry.AddGaugeCallback("quoteflow_outbox_shards_held", "shard leases this relay holds",
                            [s] { return static_cast<double>(s->shards_held.load()); });
  registry.AddGaugeCallback("quoteflow_outbox_live_relays", "relays sharing this outbox",
                            [s] { return static_cast<double>(s->live_relays.load()); });
  registry.AddGaugeCallback("quoteflow_outbox_batch_size", "current batch size",
                            [s] { return static_cast<double>(s->batch_size.load()); });
}

absl::Status RelayReadiness(const RelayStats& stats) {
  if (stats.shards_held.load() > 0) return absl::OkStatus();
  return absl::UnavailableError("holds no shard lease (starting, or Postgres unreachable)");
}

}  // namespace quoteflow::relay
