// QuoteRepository on PostgreSQL (schema `quote`): quotes, idempotency records and the outbox are
// written in one transaction; the quote's row lock orders concurrent commands on one quote, so its
// events enter the outbox in commit order. After a commit that wrote outbox rows it rings the
// outbox doorbell (outbox_doorbell.h), which wakes the relays. Thread-safe (uses a PgPool).
//
// Update calls are group-committed: QuoteWriteBatching::max_concurrent_batches writer threads each
// take every call queued (up to max_batch_size) and write them together (one read, one write
// statement, one commit for all), each command still all-or-nothing with its own outbox row and
// request record. Calls that arrive meanwhile queue for the next batch; with few concurrent calls
// every batch holds one. UpdateThen queues a call without a thread waiting for it.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
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
  // The most batches written at once (each by a writer thread, on its own connection); 0 writes
  // every call on its own, on the caller's thread.
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
  // Writes what is queued, then stops the writers.
  ~PgQuoteRepository() override;

  absl::StatusOr<Quote> Insert(absl::string_view request_id, const Quote& quote) override;
  absl::StatusOr<QuoteCommandResult> Update(absl::string_view request_id,
                                            absl::string_view quote_id, Decide decide) override;
  void UpdateThen(std::string request_id, std::string quote_id, OwnedDecide decide,
                  UpdateDone done) override;
  absl::StatusOr<Quote> Get(absl::string_view quote_id) override;

  const Stats& stats() const { return stats_; }

 private:
  // A writer thread: takes batches off the queue and writes them until stopped.
  void RunWriter();
  bool StoppingOrQueued() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }
  // Fails the calls that stay queued past the acquire timeout, until stopped.
  void RunExpiry();
  // Takes the next batch off the queue.
  std::vector<std::unique_ptr<PendingQuoteUpdate>> TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the calls queued before `queued_before` off the queue.
  std::vector<std::unique_ptr<PendingQuoteUpdate>> TakeExpired(absl::Time queued_before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the call's result to its `done`.
  static void Settle(PendingQuoteUpdate& call);
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
  // Calls no batch has taken yet, oldest first.
  std::deque<std::unique_ptr<PendingQuoteUpdate>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The writers and RunExpiry's thread; last: started once the rest is constructed.
  std::vector<std::thread> threads_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_PG_QUOTE_REPOSITORY_H_
