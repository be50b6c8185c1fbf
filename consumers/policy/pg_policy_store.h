// PostgreSQL adapters of the policy service (schema `policy`): PgPolicySagaStore is the saga's
// store inside one transaction the caller owns (the consumer runtime's, with the inbox row in it);
// events go to policy.outbox with InsertOutboxRow. PgPolicyReader reads policies for PolicyService
// through a PgPool.
//
// Thread-safety: a PgPolicySagaStore is used by the one thread that owns its transaction;
// PgPolicyReader is thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_POLICY_PG_POLICY_STORE_H_
#define QUOTEFLOW_CONSUMERS_POLICY_PG_POLICY_STORE_H_

#include <pqxx/pqxx>
#include <string>

#include "absl/time/time.h"
#include "domain/customer_commands.h"
#include "domain/saga_services.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow::workers {

// Errors of every method: UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, ALREADY_EXISTS, INTERNAL
// (mapped from pqxx); the transaction must then be rolled back.
class PgPolicySagaStore : public PolicySagaStore {
 public:
  // `traceparent` is written on every emitted outbox row; the rows go to `outbox_rows` if given
  // (the consumer runtime's, written at COMMIT), else straight into the table.
  PgPolicySagaStore(pqxx::work& tx, OutboxTarget outbox, std::string traceparent,
                    PendingOutboxRows* outbox_rows = nullptr)
      : tx_(tx),
        outbox_(std::move(outbox)),
        traceparent_(std::move(traceparent)),
        outbox_rows_(outbox_rows) {}

  absl::StatusOr<std::optional<Policy>> LockPolicy(absl::string_view policy_id) override;
  absl::StatusOr<bool> IsDeclined(absl::string_view quote_id) override;
  absl::Status InsertPolicy(const Policy& policy) override;
  absl::Status UpdatePolicy(const Policy& policy, int64_t expected_version) override;
  absl::Status InsertDecline(const QuoteDecline& decline) override;
  absl::Status Emit(const DomainEvent& event) override;

 private:
  pqxx::work& tx_;
  OutboxTarget outbox_;
  std::string traceparent_;
  PendingOutboxRows* outbox_rows_;
};

class PgPolicyReader : public PolicyReader {
 public:
  explicit PgPolicyReader(PgPool& pool, absl::Duration acquire_timeout = absl::Seconds(5))
      : pool_(pool), acquire_timeout_(acquire_timeout) {}
  // NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL.
  absl::StatusOr<Policy> GetById(absl::string_view policy_id) override;
  absl::StatusOr<Policy> GetByQuote(absl::string_view quote_id) override;

 private:
  absl::StatusOr<Policy> GetWhere(const char* column, absl::string_view value);
  PgPool& pool_;
  absl::Duration acquire_timeout_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_POLICY_PG_POLICY_STORE_H_
