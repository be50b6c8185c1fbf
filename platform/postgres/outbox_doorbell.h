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
// rings of the following interval are coalesced into one NOTIFY at its end. Every NOTIFY starts
// after the rings it answers, so a relay woken by it sees their commits. A NOTIFY that arrives
// while the relay is busy waits on its connection and makes it read again right after its batch;
// an idle relay is woken by it, so the coalescing adds at most `min_interval` to a wake-up.
//
// Best effort: while Postgres is unreachable, rings are dropped (counted); the relays then find the
// rows by their bounded fallback poll (outbox-relay --poll-interval).
//
// Thread-safety: Ring() may be called from any thread, concurrently; stats() from any thread.
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
};

// A doorbell that does nothing (the wake-up turned off: relays find rows by their poll).
class SilentOutboxDoorbell : public OutboxDoorbell {
 public:
  void Ring() override {}
};

struct OutboxDoorbellStats {
  std::atomic<int64_t> rings{0};     // Ring() calls
  std::atomic<int64_t> notifies{0};  // NOTIFYs sent
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

  const OutboxDoorbellStats& stats() const { return stats_; }

 private:
  void Loop();
  // Sends one NOTIFY, connecting first if needed. Counts it as sent or dropped.
  void Send();

  const PgOutboxDoorbellOptions options_;
  OutboxDoorbellStats stats_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Used by the sending thread only.
  std::unique_ptr<pqxx::connection> conn_;
  absl::Time reconnect_at_ = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_OUTBOX_DOORBELL_H_
