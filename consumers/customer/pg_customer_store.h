// PostgreSQL adapters of the customer service (schema `customer`): PgCustomerSagaStore is the
// saga's store inside one transaction the caller owns (the consumer runtime's); events go to
// customer.outbox. PgCustomerRepository registers and reads customers for CustomerService through a
// PgPool, with CreateCustomer's idempotency records in customer.requests.
//
// Thread-safety: a PgCustomerSagaStore is used by the one thread that owns its transaction;
// PgCustomerRepository is thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_CUSTOMER_PG_CUSTOMER_STORE_H_
#define QUOTEFLOW_CONSUMERS_CUSTOMER_PG_CUSTOMER_STORE_H_

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
class PgCustomerSagaStore : public CustomerSagaStore {
 public:
  // `traceparent` is written on every emitted outbox row; the rows go to `outbox_rows` if given
  // (the consumer runtime's, written at COMMIT), else straight into the table.
  PgCustomerSagaStore(pqxx::work& tx, OutboxTarget outbox, std::string traceparent,
                      PendingOutboxRows* outbox_rows = nullptr)
      : tx_(tx),
        outbox_(std::move(outbox)),
        traceparent_(std::move(traceparent)),
        outbox_rows_(outbox_rows) {}

  absl::StatusOr<std::optional<Customer>> LockCustomer(absl::string_view customer_id) override;
  absl::StatusOr<std::optional<PolicyCountEntry>> FindEntry(absl::string_view policy_id) override;
  absl::Status UpdateCustomer(const Customer& customer, int64_t expected_version) override;
  absl::Status SaveEntry(const PolicyCountEntry& entry) override;
  absl::Status Emit(const DomainEvent& event) override;

 private:
  pqxx::work& tx_;
  OutboxTarget outbox_;
  std::string traceparent_;
  PendingOutboxRows* outbox_rows_;
};

class PgCustomerRepository : public CustomerRepository {
 public:
  explicit PgCustomerRepository(PgPool& pool, absl::Duration acquire_timeout = absl::Seconds(5))
      : pool_(pool), acquire_timeout_(acquire_timeout) {}
  // As CustomerRepository::Insert; plus DEADLINE_EXCEEDED, INTERNAL.
  absl::StatusOr<Customer> Insert(absl::string_view request_id, const Customer& customer) override;
  absl::StatusOr<Customer> Get(absl::string_view customer_id) override;

 private:
  PgPool& pool_;
  absl::Duration acquire_timeout_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_CUSTOMER_PG_CUSTOMER_STORE_H_
