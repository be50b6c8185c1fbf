// saga-orchestrator's application layer: the EventHandler that starts a saga on QuoteApproved and
// advances it on each participant reply (in the consumer runtime's transaction with the inbox
// rows: the sagas of all the transaction's events are locked in one statement), and the
// DeadlineSweeper that advances sagas whose step's deadline passed (SELECT ... FOR UPDATE SKIP
// LOCKED in bounded batches, so that several orchestrator instances share the sweep and never
// advance one saga twice). The decisions are
// domain/saga_orchestration.h's; the rows pg_saga_store.h's. Every decision is taken at the
// database's time (now() of its transaction, read with the saga's row lock), and the sweeper
// selects `deadline <= now()` in SQL: a host whose clock is off neither expires a step early nor
// late, and several orchestrator hosts agree on every deadline. No host clock is read for a saga.
//
// A saga that reaches COMPLETED or COMPENSATED is recorded in SagaOutcomeMetrics (when given) once
// its transaction has committed.
//
// Thread-safety: the handler is stateless apart from configuration (thread-safe); a
// DeadlineSweeper runs its own thread between Start() and its destructor; stats are atomic.
#ifndef QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_ORCHESTRATOR_H_
#define QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_ORCHESTRATOR_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "consumers/common/saga_outcome_metrics.h"
#include "consumers/orchestrator/pg_saga_store.h"
#include "domain/clock.h"
#include "domain/saga_orchestration.h"
#include "platform/messaging/event_handler.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::workers {

// Counters of one orchestrator process (for logs and the "saga stats" line).
struct SagaStats {
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> replies{0};
  std::atomic<int64_t> deadlines{0};    // expired deadlines handled
  std::atomic<int64_t> stuck_total{0};  // sagas that became STUCK (the alerting metric)
};

class SagaEventHandler : public messaging::EventHandler {
 public:
  // `active` false (choreography mode): wants nothing. `outcomes` may be null; it must outlive the
  // handler.
  SagaEventHandler(SagaSettings settings, SagaStats& stats, bool active,
                   SagaOutcomeMetrics* outcomes = nullptr)
      : settings_(settings), stats_(stats), active_(active), outcomes_(outcomes) {}

  bool Wants(absl::string_view event_type) const override;
  // INVALID_ARGUMENT for a reply its step never gives (dead-lettered); storage errors otherwise
  // (ABORTED on a concurrent change: retried). A reply for an unknown saga is logged and skipped.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& event) override;
  // Locks the sagas of all the events in one statement, then decides the events in order.
  absl::Status HandleBatch(pqxx::work& tx,
                           const std::vector<const messaging::InboundEvent*>& events) override;

 private:
  // Decides `event` for the saga of `quote_id` (in `sagas` if it exists, locked), writes the
  // decision and leaves the stored saga in `sagas`.
  absl::Status Decide(PgSagaStore& store, const messaging::InboundEvent& event,
                      const std::string& quote_id, absl::Time now,
                      std::map<std::string, Saga>& sagas);

  const SagaSettings settings_;
  SagaStats& stats_;
  const bool active_;
  SagaOutcomeMetrics* const outcomes_;
};

class DeadlineSweeper {
 public:
  // `outcomes` and `doorbell` may be null; they must outlive the sweeper. `doorbell` is rung after
  // each sweep that committed commands into saga.outbox.
  DeadlineSweeper(PgPool& pool, SagaSettings settings, SagaStats& stats, absl::Duration interval,
                  int batch, SagaOutcomeMetrics* outcomes = nullptr,
                  OutboxDoorbell* doorbell = nullptr)
      : pool_(pool),
        settings_(settings),
        stats_(stats),
        interval_(interval),
        batch_(batch),
        outcomes_(outcomes),
        doorbell_(doorbell) {}
  ~DeadlineSweeper();  // stops and joins the thread

  void Start();
  // One transaction: advances up to `batch` expired sagas; returns how many. Storage errors.
  absl::StatusOr<int> SweepOnce();

 private:
  void Loop();

  PgPool& pool_;
  const SagaSettings settings_;
  SagaStats& stats_;
  const absl::Duration interval_;
  const int batch_;
  SagaOutcomeMetrics* const outcomes_;
  OutboxDoorbell* const doorbell_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_ORCHESTRATOR_H_
