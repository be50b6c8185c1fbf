// InboxConsumer is the consumer runtime every worker runs (policy-, customer-, quote-worker, the
// saga orchestrator): it reads its topics as a member of a Kafka consumer group and applies each
// event exactly once to PostgreSQL through an EventHandler (event_handler.h):
//
//   poll -> decode the JSON envelope -> skip types the handler does not want (offset still
//   advances)
//   -> ONE transaction: INSERT INTO <schema>.inbox (consumer, event_id) ON CONFLICT DO NOTHING;
//      a duplicate event id commits nothing else; otherwise handler.Handle(tx, event)
//   -> COMMIT -> only then store the record's offset, committed to Kafka shortly after
//      (asynchronously every commit_interval, synchronously on partition revoke and on shutdown).
//
// Up to max_batch records already fetched are applied in one transaction (one inbox row each);
// when such a batch fails, its records are applied again one per transaction, so that a poison
// record only affects itself.
//
// Failures (the classification is the handler contract's):
//  - transient (Postgres down, ABORTED, DEADLINE_EXCEEDED, INTERNAL, ...): the same record is
//  retried
//    with capped exponential backoff, forever, never skipped or reordered. While it waits, every
//    assigned partition is paused (the consumer keeps polling, so it stays in its group); records
//    already fetched are kept in memory in order.
//  - poison (a record that does not decode, or a handler returning INVALID_ARGUMENT,
//    FAILED_PRECONDITION, NOT_FOUND or OUT_OF_RANGE): retried up to max_poison_attempts times (a
//    record that does not decode is not retried: decoding is deterministic), then produced, with
//    its key, value and headers plus the dlq_* headers of dlq_headers.h, to "<topic><dlq_suffix>"
//    by an idempotent producer; after its delivery report the consumer moves on. Records of other
//    keys wait only for those bounded retries. If the dead-letter topic cannot be written (missing,
//    broker down), the record is retried like a transient failure: nothing is skipped silently.
//  - rebalances: assignments are taken as they come (eager or cooperative protocol); before a
//    partition is revoked its stored offsets are committed synchronously, and records of revoked
//    partitions that are still in memory are dropped (the new owner reads them again; the inbox
//    absorbs any overlap). Newly assigned partitions are paused or resumed explicitly, to match
//    the consumer's state (librdkafka keeps the pause flag of a partition revoked and assigned
//    back).
//
// Gap detection: the last aggregate_version seen per aggregate (bounded LRU, version_tracker.h)
// is compared with every decoded record; version > last + 1 is logged as "version gap" and counted,
// version <= last with a new event id as "stale version"; the event is applied anyway.
//
// Lag: every second (and while a record is retried) the consumer computes, per assigned
// partition, high watermark - the next offset it will apply (partition_lag.h), so records fetched
// but not applied yet count; stats hold the per-partition values and their sum. A partition lost
// in a rebalance leaves the per-partition list at the next refresh; one whose high watermark is not
// known yet (no fetch response) is not in it.
//
// Delivery is at-least-once towards the handler's effects and exactly-once in effect: a crash
// between the database commit and the offset commit redelivers records that the inbox then absorbs.
// A crash between a dead-letter delivery and the offset commit can dead-letter a record twice.
//
// Thread-safety: Run() is called once, from one thread; stats() may be read from any thread at
// any time. The EventHandler is called from the Run() thread only.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_INBOX_CONSUMER_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_INBOX_CONSUMER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "platform/kafka/kafka_config.h"
#include "platform/messaging/event_handler.h"
#include "platform/messaging/partition_lag.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::messaging {

struct InboxConsumerOptions {
  // Inbox key (<schema>.inbox.consumer) and, unless group_id is set, the consumer group id.
  std::string consumer;
  std::string group_id;
  // Service schema holding the inbox table ("policy", "customer", "quote", "saga").
  std::string schema;
  std::vector<std::string> topics;
  // Dead-letter topic = original topic + suffix ("quotes" -> "quotes.dlq"). It must exist.
  std::string dlq_suffix = ".dlq";
  // Attempts of a poison record before it is dead-lettered (>= 1).
  int max_poison_attempts = 3;
  // Backoff between retries of one record: doubles from min_backoff up to max_backoff.
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(5);
  // Records applied in one transaction at most (>= 1).
  int max_batch = 100;
  // Stored offsets are committed asynchronously at most this often.
  absl::Duration commit_interval = absl::Milliseconds(200);
  // A "consumer stats" log line this often (0: never).
  absl::Duration stats_interval = absl::Seconds(30);
  // Aggregates remembered for gap detection.
  int version_tracker_capacity = 100000;
  // Deadline to get a pooled connection for one transaction.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // message.timeout.ms of the dead-letter producer: one produce attempt fails after this long.
  absl::Duration dlq_delivery_timeout = absl::Seconds(30);
};

// Counters of one InboxConsumer; every field may be read from any thread.
struct InboxConsumerStats {
  std::atomic<int64_t> handled{0};     // events applied (handler called, transaction committed)
  std::atomic<int64_t> duplicates{0};  // "inbox duplicate": event id already in the inbox
  std::atomic<int64_t> skipped{0};     // event types the handler does not want
  std::atomic<int64_t> retries{0};     // re-attempts of a record (transient or poison)
  std::atomic<int64_t> transient_errors{0};
  std::atomic<int64_t> poison_errors{0};  // failed poison attempts (decode or handler)
  std::atomic<int64_t> dead_lettered{0};  // records delivered to a dead-letter topic
  std::atomic<int64_t> version_gaps{0};
  std::atomic<int64_t> stale_versions{0};
  std::atomic<int64_t> transactions{0};  // committed transactions
  std::atomic<int64_t> rebalances{0};    // assign + revoke callbacks
  std::atomic<int64_t> assigned_partitions{0};
  std::atomic<int64_t> offset_commits{0};      // successful offset commits
  std::atomic<int64_t> lag{0};                 // PartitionLags() summed, as of the last refresh
  std::atomic<bool> running{false};            // between subscribe and close
  std::atomic<bool> waiting_on_record{false};  // a record is being retried (partitions paused)

  // {"handled":..,"duplicates":..,...} with every counter above.
  std::string ToJson() const;

  // The lag of each assigned partition whose high watermark is known, sorted by topic and
  // partition, as of the last refresh (about every second; empty when the consumer is stopped).
  std::vector<PartitionLag> PartitionLags() const;
  // Replaces the per-partition lags and sets `lag` to their sum (the consumer runtime's call).
  void SetPartitionLags(std::vector<PartitionLag> lags);

 private:
  mutable absl::Mutex mu_;
  std::vector<PartitionLag> partition_lags_ ABSL_GUARDED_BY(mu_);
};

class InboxConsumer {
 public:
  // Keeps references to `pool` and `handler`; both must outlive the InboxConsumer.
  InboxConsumer(InboxConsumerOptions options, kafka::KafkaSettings kafka, PgPool& pool,
                EventHandler& handler);
  ~InboxConsumer();

  InboxConsumer(const InboxConsumer&) = delete;
  InboxConsumer& operator=(const InboxConsumer&) = delete;

  // OK when the options are usable: INVALID_ARGUMENT naming the problem (empty consumer or
  // topics, a schema that is not a plain identifier, non-positive limits, a Kafka configuration
  // librdkafka rejects).
  absl::Status Validate() const;

  // Consumes until `stop` becomes true, then commits the offsets of what was applied, leaves the
  // group (rd_kafka_consumer_close) and returns OK. After `stop` it returns once the transaction
  // in flight (bounded by the pool's statement timeout) and the final commit are done; records not
  // applied yet are left for the next run. Errors: INVALID_ARGUMENT as Validate(); INTERNAL when
  // librdkafka cannot create the clients or subscribe, or reports a fatal consumer error;
  // FAILED_PRECONDITION when called a second time.
  absl::Status Run(const std::atomic<bool>& stop);

  const InboxConsumerStats& stats() const { return stats_; }
  const InboxConsumerOptions& options() const { return options_; }
  // The consumer group id in use (options.group_id, or options.consumer).
  const std::string& group_id() const { return group_id_; }

 private:
  class Session;

  InboxConsumerOptions options_;
  kafka::KafkaSettings kafka_;
  PgPool& pool_;
  EventHandler& handler_;
  std::string group_id_;
  std::atomic<bool> started_{false};
  InboxConsumerStats stats_;
};

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_INBOX_CONSUMER_H_
