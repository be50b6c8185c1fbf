// Relay: the outbox relay's main loop. Holds shard leases (PgOutboxStore), reads batches of the
// held shards, publishes them (KafkaBatchPublisher), deletes each row as its delivery report says
// delivered, puts a transiently failed row in backoff (it and the later rows of its aggregate wait,
// other aggregates flow), records and parks what the broker refuses, and sleeps on LISTEN when
// there is nothing to do. A batch waits at most batch_wait for its reports; messages still
// outstanding then (a partition without a leader, a broken topic) stay in flight, bounded by
// message.timeout.ms, while the next batches skip their rows and their aggregates' later rows.
// After kafka_failure_release without any successful delivery while rows are pending, the relay
// gives up its leases (closes the lease session) and stays away for kafka_failure_holdoff
// (doubling while it keeps failing), so that a replica that reaches Kafka takes the shards; a
// relay alone on its outbox keeps them (nobody could take them over). The
// rest of the loop: the writers' doorbell
// (platform/postgres/outbox_doorbell.h) wakes it after their commits, and a bounded fallback poll
// (poll_interval) finds rows whose NOTIFY was lost. Lease ticks (lease_interval) only rebalance;
// they read the outbox only when they brought new shards.
//
// Guarantees (see DESIGN.md sections 2-3): a row is deleted only after a successful delivery
// report; no read cursor, so a late-committing row is never skipped; a shard is published only
// while its advisory lock is held on the same connection that deletes; at most
// max_in_flight_per_key rows of one aggregate are in flight, and a delivered row is kept (sent
// again later) when an earlier row of its aggregate failed.
//
// Thread-safety: Run() runs on one thread; `stop` may be set from any thread or a signal handler;
// stats() may be read from any thread.
#ifndef QUOTEFLOW_OUTBOX_RELAY_RELAY_H_
#define QUOTEFLOW_OUTBOX_RELAY_RELAY_H_

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "outbox-relay/backlog_monitor.h"
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
  // TCP keepalives / user timeout of the lease session, client and server side.
  PgLinkLiveness pg_liveness;
  // Per-row backoff after a failed delivery (doubling per failure, capped).
  absl::Duration row_backoff = absl::Milliseconds(500);
  absl::Duration max_row_backoff = absl::Seconds(30);
  // How long a batch waits for its delivery reports before the next batch is read.
  absl::Duration batch_wait = absl::Seconds(1);
  // No successful delivery for this long while rows are pending: release every lease (0 = never).
  // Only when another relay shares the outbox: alone, it keeps them.
  absl::Duration kafka_failure_release = absl::Seconds(60);
  // Then stay without leases this long before reconnecting (doubling up to 8x while it recurs).
  absl::Duration kafka_failure_holdoff = absl::Seconds(30);
  // librdkafka message.timeout.ms when the producer properties do not set it (main.cc applies it).
  absl::Duration message_timeout = absl::Seconds(30);
  // /healthz: unhealthy after this long with work and no progress (0 = never).
  absl::Duration liveness_timeout = absl::Seconds(180);
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
  struct InFlight {
    OutboxRow row;
    std::string topic;
    TrackedMessage tracked;
  };

  // One batch: read (skipping rows in flight), produce, and wait up to batch_wait for the reports.
  // Returns false when there was nothing to read.
  absl::StatusOr<bool> PublishOneBatch(const std::atomic<bool>& stop);
  // Serves delivery reports for up to `max` and settles the completed rows; adds their seqs to
  // `reported` when given.
  absl::Status PollDeliveries(absl::Duration max, std::vector<int64_t>* reported = nullptr);
  // Settles completed rows, per aggregate in seq order: deletes the delivered ones (unless an
  // earlier row of the aggregate failed), backs off the transient failures, records refusals.
  absl::Status Settle(const std::vector<int64_t>& completed);
  // Releases every lease when Kafka has been failing for kafka_failure_release and another relay
  // shares the outbox.
  void MaybeReleaseForKafka();
  void UpdateWork();
  // Rebalances when the lease tick is due (or `force`); returns whether shards were acquired.
  bool MaybeRebalance(bool force);
  // Takes the backlog gauges when the monitor read them anew.
  void TakeBacklogStats();
  // When the stats tick is due: the registration heartbeat and the log line.
  void MaybeLogStats();
  void SleepFor(absl::Duration d, const std::atomic<bool>& stop);

  RelayOptions options_;
  FailPoints fail_points_;
  PgOutboxStore store_;
  BacklogMonitor backlog_monitor_;
  KafkaBatchPublisher::ConfFactory producer_conf_;
  std::unique_ptr<KafkaBatchPublisher> publisher_;
  RelayStats stats_;
  int batch_size_;
  absl::Time next_rebalance_ = absl::InfinitePast();
  absl::Time next_stats_;
  absl::Time last_stats_ = absl::Now();
  int64_t published_at_last_stats_ = 0;

  // Rows produced and not settled, by seq; per aggregate, their seqs in order (a few at most:
  // max_in_flight_per_key).
  std::unordered_map<int64_t, std::unique_ptr<InFlight>> in_flight_;
  std::unordered_map<std::string, std::vector<int64_t>> key_queue_;
  // Aggregates with a failed row among those in flight: their later rows are not deleted.
  std::set<std::string> blocked_keys_;
  // Rows in backoff after a transient failure (seq -> shard), until delivered or shards move.
  std::map<int64_t, int> failed_rows_;
  // Last successful delivery, or when rows became pending after none were.
  absl::Time kafka_ok_at_ = absl::Now();
  absl::Time holdoff_until_ = absl::InfinitePast();
  absl::Duration holdoff_;
  bool held_backlog_ = false;  // the held shards had rows at the monitor's last read
  int last_fetch_rows_ = 0;
  // The last read returned every row it could see (fewer than its limit, none held back by the
  // per-aggregate cap).
  bool read_all_visible_ = false;
  // When a NOTIFY last arrived: while writers ring, a row committed during a batch leaves one
  // waiting on the connection, so a batch that read everything needs no re-read to find it.
  absl::Time last_notify_at_ = absl::InfinitePast();
  absl::Time last_failure_log_ = absl::InfinitePast();
  int unlogged_failures_ = 0;
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_RELAY_H_
