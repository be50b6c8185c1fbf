// The outbox doorbell: how a writer wakes the outbox relays of its schema once it has committed
// outbox rows, without a NOTIFY inside the writing transaction (migrations/0007_outbox_doorbell.sql
// says why: a transaction that notifies holds a database-wide lock through its commit's WAL flush,
// so notifying writers commit one at a time).
//
// A writer calls Ring() AFTER the COMMIT of a transaction that inserted rows into <schema>.outbox:
// a relay woken before the commit would find nothing and sleep until its fallback poll.
// PgOutboxDoorbell turns rings into NOTIFY "<schema>_outbox" (the channel relays LISTEN on), sent
// by a background thread on its own connection, each in its own transaction with synchronous_commit
// off, and at most one per `min_interval`: the first ring after a quiet period is sent at once, the
// rings of the following interval are coalesced into one NOTIFY at its end. A writer that has a
// connection at hand (the one it committed on, or another idle one) calls RingOn(conn) instead:
// the first ring after a quiet period is then sent on that connection at once, without waking the
// sending thread and its backend (at 20 % of the api's rate that hand-off put commit -> consumed
// 0.27-0.41 ms behind a NOTIFY sent by the commit itself at p50 and 1.0-2.0x at p99; sent on the
// writer's connection, 0.06-0.12 ms and 0.94-1.28x; docs/performance.md item 13); within the
// interval it is the thread's to coalesce, as Ring().
// Every NOTIFY starts after the rings it answers, so a relay woken by it sees their commits. A
// NOTIFY that arrives while the relay is busy waits on its connection and makes it read again
// right after its batch; an idle relay is woken by it, so the coalescing adds at most
// `min_interval` to a wake-up.
//
// Best effort: while Postgres is unreachable, rings are dropped (counted); the relays then find the
// rows by their bounded fallback poll (outbox-relay --poll-interval).
//
// Thread-safety: Ring() and RingOn() may be called from any thread, concurrently (RingOn with a
// connection no other thread uses meanwhile); stats() from any thread.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace quoteflow {

// The channel the relays of `schema` LISTEN on: "<schema>_outbox".
std::string OutboxChannel(absl::string_view schema);

// Sends one NOTIFY to the relays of `schema` on `conn`, as its own transaction with
// synchronous_commit off (one round trip). Call it after the COMMIT of the transaction that wrote
// the rows, never inside it. `conn` must not have a transaction open. For one-off writers
// (quotectl); long-running writers use an OutboxDoorbell. Errors: UNAVAILABLE when the connection
// is lost, INTERNAL for other database errors.
absl::Status NotifyOutboxRelays(pqxx::connection_base& conn, absl::string_view schema);

// What a writer rings after committing outbox rows.
class OutboxDoorbell {
 public:
  virtual ~OutboxDoorbell() = default;
  // Never blocks on I/O and never fails.
  virtual void Ring() = 0;
  // As Ring() (after the commit), with a connection at hand that has no transaction open and no
  // other user meanwhile: may send the NOTIFY on it, one round trip. Never fails; UNAVAILABLE
  // when `conn` was lost (the ring is then the sending thread's).
  virtual absl::Status RingOn(pqxx::connection_base& /*conn*/) {
    Ring();
    return absl::OkStatus();
  }
};

// A doorbell that does nothing (the wake-up turned off: relays find rows by their poll).
class SilentOutboxDoorbell : public OutboxDoorbell {
 public:
  void Ring() override {}
};

struct OutboxDoorbellStats {
  std::atomic<int64_t> rings{0};     // Ring() and RingOn() calls
  std::atomic<int64_t> notifies{0};  // NOTIFYs sent (by the thread or on a RingOn's connection)
  std::atomic<int64_t> dropped{0};   // NOTIFYs not sent because Postgres was unreachable
};

struct PgOutboxDoorbellOptions {
  std::string database_url;
  std::string schema;  // its outbox: "quote", "policy", "customer", "saga"
  // At most one NOTIFY per this interval (must be positive).
  absl::Duration min_interval = absl::Milliseconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  // After a failed connect or NOTIFY, rings are dropped for this long before connecting again.
  absl::Duration retry_after = absl::Seconds(1);
};

class PgOutboxDoorbell : public OutboxDoorbell {
 public:
  // Starts the sending thread; connects on the first ring.
  explicit PgOutboxDoorbell(PgOutboxDoorbellOptions options);
  // Sends a pending ring (best effort; a NOTIFY is bounded by a 2 s statement timeout), stops and
  // joins the thread.
  ~PgOutboxDoorbell() override;
  PgOutboxDoorbell(const PgOutboxDoorbell&) = delete;
  PgOutboxDoorbell& operator=(const PgOutboxDoorbell&) = delete;

  void Ring() override;
  // Sends the NOTIFY on `conn` when none went out within min_interval and none is pending; else,
  // or when that send fails, as Ring().
  absl::Status RingOn(pqxx::connection_base& conn) override;

  const OutboxDoorbellStats& stats() const { return stats_; }

 private:
  // Leaves a NOTIFY to the sending thread.
  void HandToThread() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();
  // Sends one NOTIFY, connecting first if needed. Counts it as sent or dropped.
  void Send();

  const PgOutboxDoorbellOptions options_;
  OutboxDoorbellStats stats_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // When the last NOTIFY was claimed, by the thread or a RingOn: the next is due an interval later.
  absl::Time last_send_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Used by the sending thread only.
  std::unique_ptr<pqxx::connection> conn_;
  absl::Time reconnect_at_ = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_H_
