// QuoteRepository on PostgreSQL (schema `quote`): quotes, idempotency records and the outbox are
// written in one transaction; the quote's row lock orders concurrent commands on one quote, so its
// events enter the outbox in commit order. After a commit that wrote outbox rows it rings the
// outbox doorbell (outbox_doorbell.h), which wakes the relays. Thread-safe (uses a PgPool).
//
// Update calls are group-committed: calls that arrive while QuoteWriteBatching::
// max_concurrent_batches batches are being written wait, and the next batch writes them together
// (one read, one write statement, one commit for all), each command still all-or-nothing with its
// own outbox row and request record. With few concurrent calls every batch holds one.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "domain/quote_repository.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow {

struct PendingQuoteUpdate;  // one Update call waiting to be written (pg_quote_repository.cc)

struct QuoteWriteBatching {
  // The most batches written at once (each on its own connection); 0 writes every call on its own.
  int max_concurrent_batches = 1;
  // The most commands in one batch.
  int max_batch_size = 64;
};

class PgQuoteRepository : public QuoteRepository {
 public:
  // For the metrics endpoint.
  struct Stats {
    std::atomic<int64_t> batches{0};   // writes of Update calls since start (batches of one too)
    std::atomic<int64_t> commands{0};  // Update calls they wrote
    std::atomic<int64_t> queued{0};    // Update calls now waiting for a batch to take them
  };

  // `acquire_timeout` bounds the wait for a free connection. `doorbell` (may be null: relays then
  // find the rows by their poll) is rung after every commit that wrote outbox rows; it must
  // outlive the repository.
  PgQuoteRepository(PgPool& pool, OutboxTarget outbox,
                    absl::Duration acquire_timeout = absl::Seconds(5),
                    OutboxDoorbell* doorbell = nullptr, QuoteWriteBatching batching = {});

  absl::StatusOr<Quote> Insert(absl::string_view request_id, const Quote& quote) override;
  absl::StatusOr<QuoteCommandResult> Update(absl::string_view request_id,
                                            absl::string_view quote_id, Decide decide) override;
  absl::StatusOr<Quote> Get(absl::string_view quote_id) override;

  const Stats& stats() const { return stats_; }

 private:
  // Takes the next batch off the queue.
  std::vector<PendingQuoteUpdate*> TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the batch on one pooled connection and sets every call's result.
  void WriteBatch(const std::vector<PendingQuoteUpdate*>& batch);
  // One call on its own: read, decide, write, and again while its quote moves on meanwhile.
  absl::Status UpdateOne(pqxx::connection& conn, PendingQuoteUpdate& call);
  // Several calls with one read and one write statement; UpdateOne for what that leaves.
  absl::Status UpdateMany(pqxx::connection& conn, const std::vector<PendingQuoteUpdate*>& batch);

  PgPool& pool_;
  OutboxTarget outbox_;
  absl::Duration acquire_timeout_;
  OutboxDoorbell* const doorbell_;
  const QuoteWriteBatching batching_;
  Stats stats_;

  absl::Mutex mu_;
  std::deque<PendingQuoteUpdate*> queue_ ABSL_GUARDED_BY(mu_);  // calls no batch has taken yet
  int batches_in_progress_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_
