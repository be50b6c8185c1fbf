// PostgreSQL adapters of saga-orchestrator (schema `saga`, migration 0005): PgSagaStore is the
// saga's store inside one transaction the caller owns (the consumer runtime's, with the inbox row;
// or the deadline sweeper's); StoreDecision writes a SagaDecision through it: the saga row
// (optimistic version check on top of the row lock), its history, and its commands into
// saga.outbox with their explicit command topics. Time comes from the database (now() of the
// transaction, db_now()), so deadlines never depend on a host's clock. PgSagaReader reads sagas for
// GetSaga and quotectl.
//
// Thread-safety: a PgSagaStore is used by the one thread that owns its transaction; PgSagaReader
// is thread-safe (one pooled connection per call).
#ifndef QUOTEFLOW_CONSUMERS_ORCHESTRATOR_PG_SAGA_STORE_H_
#define QUOTEFLOW_CONSUMERS_ORCHESTRATOR_PG_SAGA_STORE_H_

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "domain/saga_orchestration.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::workers {

inline constexpr char kOrchestratorSource[] = "/quoteflow/saga-orchestrator";

// Errors of every method: UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, ALREADY_EXISTS, INTERNAL
// (mapped from pqxx); the transaction must then be rolled back.
class PgSagaStore {
 public:
  explicit PgSagaStore(pqxx::transaction_base& tx) : tx_(tx) {}

  // The saga, locked (SELECT ... FOR UPDATE) for the rest of the transaction; nullopt if none.
  // Also reads the database's clock (db_now()).
  absl::StatusOr<std::optional<Saga>> Lock(absl::string_view quote_id);
  // Lock() for several sagas in one statement: those that exist, by quote id. The rows are locked
  // in quote id order, so two transactions that lock overlapping sets never wait on each other in
  // a cycle.
  absl::StatusOr<std::map<std::string, Saga>> LockAll(const std::vector<std::string>& quote_ids);
  // Up to `limit` sagas whose deadline is <= the database's now(), locked, skipping rows other
  // transactions hold (FOR UPDATE SKIP LOCKED): two orchestrators never sweep the same saga at
  // once. Also reads the database's clock (db_now()) when it returns any saga.
  absl::StatusOr<std::vector<Saga>> LockExpired(int limit);
  // The database's now() (the transaction's start) as read by the last successful Lock, or by a
  // LockExpired that returned sagas; nullopt before. Decisions take it as their `now`, so that
  // every deadline is written and compared with the database's clock, never a host's.
  std::optional<absl::Time> db_now() const { return now_; }
  // Writes `d` when it changed anything: inserts the saga (`is_new`) or updates it at version + 1
  // (ABORTED when the stored version is not d.saga.version), appends the history and the commands
  // (their trace context `traceparent`; "" starts a new trace).
  absl::Status StoreDecision(const SagaDecision& d, bool is_new,
                             const std::string& traceparent = "");

 private:
  pqxx::transaction_base& tx_;
  std::optional<absl::Time> now_;
};

struct SagaView {
  Saga saga;
  std::vector<SagaHistoryEntry> history;
};

class PgSagaReader {
 public:
  explicit PgSagaReader(PgPool& pool, absl::Duration acquire_timeout = absl::Seconds(5))
      : pool_(pool), acquire_timeout_(acquire_timeout) {}
  // NOT_FOUND when no saga exists for the quote; UNAVAILABLE when the database is down.
  absl::StatusOr<SagaView> Get(absl::string_view quote_id);
  // Sagas in `state` ("" = any), newest first, at most `limit`.
  absl::StatusOr<std::vector<Saga>> List(absl::string_view state, int limit);

 private:
  PgPool& pool_;
  const absl::Duration acquire_timeout_;
};

// Reads a saga from a row of the columns kSagaColumns (for other adapters of the schema).
Saga SagaFromRow(const pqxx::row& row);
extern const char kSagaColumns[];

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_ORCHESTRATOR_PG_SAGA_STORE_H_
