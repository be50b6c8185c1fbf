// Port: durable storage of Quote aggregates together with the events they emit (transactional
// outbox) and the idempotency record of each request. Implementations must be thread-safe.
#ifndef QUOTEFLOW_DOMAIN_QUOTE_REPOSITORY_H_
#define QUOTEFLOW_DOMAIN_QUOTE_REPOSITORY_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "domain/events.h"
#include "domain/quote.h"

namespace quoteflow {

// What a command on one quote produced: the quote as it was left, and the ids of the events
// written.
struct QuoteCommandResult {
  Quote quote;
  std::vector<std::string> event_ids;
};

class QuoteRepository {
 public:
  // Changes `quote` in place and returns the events the change caused; an error aborts the change.
  using Decide = absl::FunctionRef<absl::StatusOr<std::vector<DomainEvent>>(Quote& quote)>;

  virtual ~QuoteRepository() = default;

  // Stores a new quote and records `request_id` (may be empty: no idempotency). If `request_id` was
  // already used to create a quote, returns that quote and writes nothing.
  // Errors: INVALID_ARGUMENT (request_id used by another kind of request), UNAVAILABLE (storage
  // down).
  virtual absl::StatusOr<Quote> Insert(absl::string_view request_id, const Quote& quote) = 0;

  // In ONE transaction: if `request_id` (may be empty) was already recorded for this quote, returns
  // the recorded result and writes nothing; otherwise locks the quote, runs `decide` on it, and
  // stores the new state (version-checked), the events (outbox) and the request record together.
  // Concurrent calls with the same request id all return the one recorded result.
  // Errors: NOT_FOUND (no such quote), whatever `decide` returned, INVALID_ARGUMENT (request_id
  // used for another request), ABORTED (concurrent conflicting change), UNAVAILABLE,
  // DEADLINE_EXCEEDED.
  virtual absl::StatusOr<QuoteCommandResult> Update(absl::string_view request_id,
                                                    absl::string_view quote_id, Decide decide) = 0;

  // Update without waiting: returns at once and calls `done` once with what Update would have
  // returned, maybe on another thread and maybe before it returns. `decide` runs before `done`.
  // This default runs Update on the caller's thread.
  using OwnedDecide = std::function<absl::StatusOr<std::vector<DomainEvent>>(Quote& quote)>;
  using UpdateDone = std::function<void(absl::StatusOr<QuoteCommandResult> result)>;
  virtual void UpdateThen(std::string request_id, std::string quote_id, OwnedDecide decide,
                          UpdateDone done) {
    done(Update(request_id, quote_id, decide));
  }

  // NOT_FOUND, UNAVAILABLE.
  virtual absl::StatusOr<Quote> Get(absl::string_view quote_id) = 0;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_QUOTE_REPOSITORY_H_
