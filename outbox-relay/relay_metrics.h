// Exports a relay's RelayStats on a metrics registry (read at scrape time, no copying on the
// relay's hot path). Metric names (one relay process = one Prometheus target, so no schema label;
// the target's labels say which service's outbox it is):
//   quoteflow_outbox_published_total            rows published and deleted (rate() = published/s)
//   quoteflow_outbox_batches_total              batches produced
//   quoteflow_outbox_reads_total                outbox reads, those that found nothing too
//   quoteflow_outbox_wakeups_total              idle waits ended by a writer's NOTIFY
//   quoteflow_outbox_transient_failures_total   deliveries failed transiently (retried)
//   quoteflow_outbox_unconfirmed_deliveries_total  reports "delivered" without an offset (resent)
//   quoteflow_outbox_permanent_failures_total   deliveries refused permanently (attempt counted)
//   quoteflow_outbox_parked_total               rows this relay parked
//   quoteflow_outbox_held_back_total            delivered rows kept behind a failed earlier one
//   quoteflow_outbox_reconnects_total           Postgres sessions opened
//   quoteflow_outbox_producer_restarts_total    producers recreated after a fatal error
//   quoteflow_outbox_backlog_rows               unparked rows waiting (-1 until first measured)
//   quoteflow_outbox_parked_rows                parked rows in the outbox (-1 until first measured)
//   quoteflow_outbox_oldest_unpublished_age_seconds   age of the oldest unparked row
//   quoteflow_outbox_shards_held                shard leases this relay holds (0: not publishing)
//   quoteflow_outbox_live_relays                relays sharing this outbox
//   quoteflow_outbox_batch_size                 current batch size
//   quoteflow_outbox_in_flight_rows             rows produced whose report is not settled
//   quoteflow_outbox_rows_in_backoff            rows this relay put in backoff after a failure
//   quoteflow_outbox_kafka_failure_releases_total  leases given up after a sustained Kafka failure
//   quoteflow_outbox_seconds_since_progress     since the last row deleted or parked (or since
//                                               work appeared); 0 while the relay has no work
// backlog, parked_rows and the oldest age are measured every --stats-interval (default 10 s).
//
// Thread-safety: RelayStats fields are atomics; `stats` must outlive the registry's scrapes.
#ifndef QUOTEFLOW_OUTBOX_RELAY_RELAY_METRICS_H_
#define QUOTEFLOW_OUTBOX_RELAY_RELAY_METRICS_H_

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "outbox-relay/relay_stats.h"
#include "platform/observability/metrics.h"

namespace quoteflow::relay {

void RegisterRelayMetrics(metrics::Registry& registry, const RelayStats& stats);

// /readyz of a relay: OK while it holds at least one shard lease; UNAVAILABLE otherwise (not yet
// connected, Postgres unreachable, or every shard held by other replicas).
absl::Status RelayReadiness(const RelayStats& stats);

// /healthz of a relay: UNAVAILABLE when it has work (held shards with unparked rows, rows in flight
// or in backoff) and made no progress (no row deleted or parked) for `timeout`; OK otherwise, and
// always when `timeout` is zero. `now` is for tests.
absl::Status RelayLiveness(const RelayStats& stats, absl::Duration timeout,
                           absl::Time now = absl::Now());

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_RELAY_METRICS_H_
