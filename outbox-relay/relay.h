// Relay: the outbox relay's main loop. Holds shard leases (PgOutboxStore), reads batches of the
// held shards, publishes them (KafkaBatchPublisher), deletes what was delivered, records and parks
// what the broker refuses, and sleeps on LISTEN when there is nothing to do: the writers' doorbell
// (platform/postgres/outbox_doorbell.h) wakes it after their commits, and a bounded fallback poll
// (poll_interval) finds rows whose NOTIFY was lost. Lease ticks (lease_interval) only rebalance;
// they read the outbox only when they brought new shards.
//
// Guarantees (see DESIGN.md sections 2-3): a row is deleted only after a successful delivery report;
// no read cursor, so a late-committing row is never skipped; a shard is published only while its
// advisory lock is held on the same connection that deletes; at most max_in_flight_per_key rows of
// one aggregate are in one batch, and a delivered row is kept (sent again later) when an earlier row
// of its aggregate failed in the same batch.
//
// Thread-safety: Run() runs on one thread; `stop` may be set from any thread or a signal handler;
// stats() may be read from any thread.
#ifndef QUOTEFLOW_OUTBOX_RELAY_RELAY_H_
#define QUOTEFLOW_OUTBOX_RELAY_RELAY_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "outbox-relay/fail_point.h"
#include "outbox-relay/kafka_publisher.h"
#include "outbox-relay/outbox_store.h"
#include "outbox-relay/relay_stats.h"
#include "outbox-relay/topic_map.h"

namespace quoteflow::relay {

struct RelayOptions {
  std::string database_url;
  std::string schema;
  std::string relay_id;
  TopicMap topic_map;
  int shards = 64;
  int min_batch = 16;
  int max_batch = 500;
  // Rows of one aggregate per batch. 1 (default) guarantees per-key order on the wire even when a
  // delivery fails by message timeout while later messages of the partition succeed (librdkafka's
  // idempotent producer bumps its epoch and goes on); >1 is faster for hot aggregates but may then
  // put a later event on the wire before an earlier one's retry.
  int max_in_flight_per_key = 1;
  int max_attempts = 5;
  absl::Duration poll_interval = absl::Seconds(1);
  absl::Duration lease_interval = absl::Milliseconds(500);
  absl::Duration stats_interval = absl::Seconds(10);
  absl::Duration shutdown_timeout = absl::Seconds(10);
  absl::Duration max_backoff = absl::Seconds(5);
};

class Relay {
 public:
  Relay(RelayOptions options, KafkaBatchPublisher::ConfFactory producer_conf, FailPoints fail_points);

  // Runs until `stop` is set, then finishes the in-flight batch (waiting at most shutdown_timeout
  // for its deliveries), releases the leases and returns OK. Returns early with FAILED_PRECONDITION
  // when the database is not migrated or the outbox/shard layout does not match (not retriable), or
  // with the producer's error when it cannot be created. Postgres and Kafka outages are retried with
  // backoff, never returned.
  absl::Status Run(const std::atomic<bool>& stop);

  const RelayStats& stats() const { return stats_; }

 private:
  // One batch: read, publish, delete/record. Returns false when there was nothing to publish.
  absl::StatusOr<bool> PublishOneBatch(const std::atomic<bool>& stop, bool* transient_failure);
  // Rebalances when the lease tick is due (or `force`); returns whether shards were acquired.
  bool MaybeRebalance(bool force);
  // When the stats tick is due: backlog figures, the registration heartbeat, the log line.
  void MaybeLogStats();
  void SleepFor(absl::Duration d, const std::atomic<bool>& stop);

  RelayOptions options_;
  FailPoints fail_points_;
  PgOutboxStore store_;
  KafkaBatchPublisher::ConfFactory producer_conf_;
  std::unique_ptr<KafkaBatchPublisher> publisher_;
  RelayStats stats_;
  int batch_size_;
  absl::Time next_rebalance_ = absl::InfinitePast();
  absl::Time next_stats_;
  absl::Time last_stats_ = absl::Now();
  int64_t published_at_last_stats_ = 0;
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_RELAY_H_
