#include "outbox-relay/relay_metrics.h"

#include "absl/strings/str_cat.h"

namespace quoteflow::relay {

void RegisterRelayMetrics(metrics::Registry& registry, const RelayStats& stats) {
  const RelayStats* s = &stats;
  auto counter = [&registry](const char* name, const char* help,
                             const std::atomic<int64_t>& value) {
    registry.AddCounterCallback(name, help, [&value] { return static_cast<double>(value.load()); });
  };
  counter("quoteflow_outbox_published_total", "outbox rows published and deleted", s->published);
  counter("quoteflow_outbox_batches_total", "batches produced", s->batches);
  counter("quoteflow_outbox_reads_total", "outbox reads, those that found nothing too", s->reads);
  counter("quoteflow_outbox_transient_failures_total", "deliveries failed transiently (retried)",
          s->transient_failures);
  counter("quoteflow_outbox_unconfirmed_deliveries_total",
          "reports of a delivery without its offset (implicitly acknowledged), sent again",
          s->unconfirmed);
  counter("quoteflow_outbox_permanent_failures_total",
          "deliveries refused permanently (attempt counted)", s->permanent_failures);
  counter("quoteflow_outbox_parked_total", "rows parked by this relay", s->parked);
  counter("quoteflow_outbox_held_back_total",
          "delivered rows kept because an earlier one of the same aggregate failed", s->held_back);
  counter("quoteflow_outbox_reconnects_total", "Postgres sessions opened", s->reconnects);
  counter("quoteflow_outbox_producer_restarts_total",
          "Kafka producers recreated after a fatal error", s->producer_restarts);
  counter("quoteflow_outbox_wakeups_total", "idle waits ended by a writer's NOTIFY", s->wakeups);
  counter("quoteflow_outbox_kafka_failure_releases_total",
          "shard leases given up after no successful Kafka delivery for --kafka-failure-release",
          s->kafka_releases);
  registry.AddGaugeCallback("quoteflow_outbox_in_flight_rows",
                            "rows produced whose delivery report is not settled",
                            [s] { return static_cast<double>(s->in_flight.load()); });
  registry.AddGaugeCallback("quoteflow_outbox_rows_in_backoff",
                            "rows this relay put in backoff after a failed delivery",
                            [s] { return static_cast<double>(s->rows_in_backoff.load()); });
  registry.AddGaugeCallback(
      "quoteflow_outbox_seconds_since_progress",
      "seconds since the relay last deleted or parked a row while it has work (0: no work)", [s] {
        if (!s->has_work.load()) return 0.0;
        return static_cast<double>(absl::ToUnixMillis(absl::Now()) -
                                   s->last_progress_unix_ms.load()) /
               1000.0;
      });
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

absl::Status RelayLiveness(const RelayStats& stats, absl::Duration timeout, absl::Time now) {
  if (timeout <= absl::ZeroDuration() || !stats.has_work.load()) return absl::OkStatus();
  const absl::Duration stalled = now - absl::FromUnixMillis(stats.last_progress_unix_ms.load());
  if (stalled < timeout) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "no progress for ", absl::FormatDuration(absl::Trunc(stalled, absl::Seconds(1))),
      " with work pending (in_flight=", stats.in_flight.load(),
      " rows_in_backoff=", stats.rows_in_backoff.load(), " shards_held=", stats.shards_held.load(),
      "; --liveness-timeout=", absl::FormatDuration(timeout), ")"));
}

}  // namespace quoteflow::relay
