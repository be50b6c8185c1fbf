// quote-worker's PostgreSQL adapter (schema `quote`): the QuoteSagaStore inside one transaction
// the caller owns (the consumer runtime's). quote-worker emits no events: the quote's final state
// is the end of the saga. Used by the one thread that owns the transaction.
#ifndef QUOTEFLOW_CONSUMERS_QUOTE_PG_QUOTE_SAGA_STORE_H_
#define QUOTEFLOW_CONSUMERS_QUOTE_PG_QUOTE_SAGA_STORE_H_

#include <pqxx/pqxx>

#include "domain/saga_services.h"

namespace quoteflow::workers {

// Errors: NOT_FOUND (LockQuote: no such quote), ABORTED (UpdateQuote: version moved), and
// UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL mapped from pqxx.
class PgQuoteSagaStore : public QuoteSagaStore {
 public:
  explicit PgQuoteSagaStore(pqxx::work& tx) : tx_(tx) {}
  absl::StatusOr<Quote> LockQuote(absl::string_view quote_id) override;
  absl::Status UpdateQuote(const Quote& quote, int64_t expected_version) override;

 private:
  pqxx::work& tx_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_QUOTE_PG_QUOTE_SAGA_STORE_H_
