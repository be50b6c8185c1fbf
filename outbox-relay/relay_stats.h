// RelayStats: the counters and gauges a relay exposes (logged as a periodic JSON "relay stats" line
// today, exported by the metrics endpoint later). Written by the relay's worker thread, readable from
// any thread: every field is an atomic, so a reader sees each value torn-free (not a consistent
// snapshot across fields).
#ifndef QUOTEFLOW_OUTBOX_RELAY_RELAY_STATS_H_
#define QUOTEFLOW_OUTBOX_RELAY_RELAY_STATS_H_

#include <atomic>
#include <cstdint>

namespace quoteflow::relay {

struct RelayStats {
  // Counters since start.
  std::atomic<int64_t> published{0};           // rows deleted after a successful delivery report
  std::atomic<int64_t> batches{0};             // batches produced
  std::atomic<int64_t> reads{0};               // outbox reads, those that found nothing too
  std::atomic<int64_t> transient_failures{0};  // deliveries failed transiently (retried)
  std::atomic<int64_t> unconfirmed{0};         // reports "delivered" without an offset (sent
                                               // again: kafka::IsConfirmedDelivery)
  std::atomic<int64_t> permanent_failures{0};  // deliveries refused permanently (attempt counted)
  std::atomic<int64_t> parked{0};              // rows parked by this relay
  std::atomic<int64_t> held_back{0};           // delivered rows kept because an earlier one of the
                                               // same aggregate failed in the batch
  std::atomic<int64_t> reconnects{0};          // Postgres sessions opened
  std::atomic<int64_t> producer_restarts{0};   // producers recreated after a fatal error
  std::atomic<int64_t> wakeups{0};             // idle waits ended by a NOTIFY
  std::atomic<int64_t> kafka_releases{0};      // leases given up after a sustained Kafka failure
  // Gauges.
  std::atomic<int> shards_held{0};
  std::atomic<int> live_relays{0};
  std::atomic<int> batch_size{0};
  std::atomic<int64_t> backlog{-1};                 // unparked rows in the outbox, estimated
                                                    // above 100,000 (-1: unknown)
  std::atomic<int64_t> parked_rows{-1};             // parked rows in the outbox (-1: unknown)
  std::atomic<double> oldest_unpublished_age_s{0};  // age of the oldest unparked row
  std::atomic<int> in_flight{0};                    // rows produced, report not settled
  std::atomic<int> rows_in_backoff{0};              // rows this relay put in backoff, pending
  // Liveness: whether the relay has work (held shards with rows, rows in flight or in backoff),
  // and the last time it made progress (a row deleted or parked, or work appeared), Unix ms.
  std::atomic<bool> has_work{false};
  std::atomic<int64_t> last_progress_unix_ms{0};
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_RELAY_STATS_H_
