// Exports a worker's InboxConsumerStats on a metrics registry (read at scrape time) and defines the
// worker's /readyz. Metric names (one worker process = one Prometheus target):
//   quoteflow_consumer_handled_total            events applied (rate() = handled/s)
//   quoteflow_consumer_inbox_duplicates_total   events skipped as already in the inbox
//   quoteflow_consumer_skipped_total            event types the worker does not handle
//   quoteflow_consumer_retries_total            re-attempts of a record (transient or poison)
//   quoteflow_consumer_transient_errors_total   transient failures (Postgres down, ...)
//   quoteflow_consumer_poison_errors_total      failed attempts of an unappliable record
//   quoteflow_consumer_dead_lettered_total      records sent to <topic>.dlq
//   quoteflow_consumer_version_gaps_total       aggregate version gaps seen
//   quoteflow_consumer_stale_versions_total     events older than the applied version
//   quoteflow_consumer_transactions_total       committed transactions
//   quoteflow_consumer_offset_commits_total     successful Kafka offset commits
//   quoteflow_consumer_rebalances_total         partition assignments and revocations
//   quoteflow_consumer_assigned_partitions      partitions currently assigned
//   quoteflow_consumer_lag_messages             messages not applied yet (high watermark - next
//                                               offset to apply), summed over the assigned
//                                               partitions (refreshed every second)
//   quoteflow_consumer_partition_lag_messages{topic,partition}
//                                               the same per assigned partition; a partition lost
//                                               in a rebalance disappears at the next refresh (one
//                                               with no fetch response yet is not listed)
//   quoteflow_consumer_running                  1 between subscribe and close
//   quoteflow_consumer_waiting_on_record        1 while a record is retried (partitions paused)
//
// Thread-safety: the stats are atomics; `stats` must outlive the registry's scrapes.
#ifndef QUOTEFLOW_CONSUMERS_COMMON_CONSUMER_METRICS_H_
#define QUOTEFLOW_CONSUMERS_COMMON_CONSUMER_METRICS_H_

#include "absl/status/status.h"
#include "api/health_service.h"
#include "platform/messaging/inbox_consumer.h"
#include "platform/observability/metrics.h"

namespace quoteflow::workers {

void RegisterConsumerMetrics(metrics::Registry& registry,
                             const messaging::InboxConsumerStats& stats);

// OK while the consumer runs and, when `health` is not null, the gRPC health service answers
// SERVING (Postgres reachable, not shutting down); UNAVAILABLE with the reason otherwise.
absl::Status WorkerReadiness(const messaging::InboxConsumerStats& stats, HealthService* health);

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_CONSUMER_METRICS_H_
