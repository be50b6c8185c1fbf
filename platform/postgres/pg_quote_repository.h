// QuoteRepository on PostgreSQL (schema `quote`): quotes, idempotency records and the outbox are
// written in one transaction; the quote's row lock orders concurrent commands on one quote, so its
// events enter the outbox in commit order. After a commit that wrote outbox rows it rings the
// outbox doorbell (outbox_doorbell.h), which wakes the relays. Thread-safe (uses a PgPool).
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_

#include "absl/time/time.h"
#include "domain/quote_repository.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow {

class PgQuoteRepository : public QuoteRepository {
 public:
  // `acquire_timeout` bounds the wait for a free connection. `doorbell` (may be null: relays then
  // find the rows by their poll) is rung after every commit that wrote outbox rows; it must
  // outlive the repository.
  PgQuoteRepository(PgPool& pool, OutboxTarget outbox,
                    absl::Duration acquire_timeout = absl::Seconds(5),
                    OutboxDoorbell* doorbell = nullptr);

  absl::StatusOr<Quote> Insert(absl::string_view request_id, const Quote& quote) override;
  absl::StatusOr<QuoteCommandResult> Update(absl::string_view request_id,
                                            absl::string_view quote_id, Decide decide) override;
  absl::StatusOr<Quote> Get(absl::string_view quote_id) override;

 private:
  PgPool& pool_;
  OutboxTarget outbox_;
  absl::Duration acquire_timeout_;
  OutboxDoorbell* const doorbell_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_
