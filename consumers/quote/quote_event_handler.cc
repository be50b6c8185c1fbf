#include "consumers/quote/quote_event_handler.h"

#include <optional>

#include "consumers/common/pg_guard.h"
#include "consumers/quote/pg_quote_saga_store.h"
#include "platform/observability/log.h"

namespace quoteflow::workers {
namespace {

// The store, remembering the quote as locked and the status it was updated to.
class ObservedQuoteStore : public QuoteSagaStore {
 public:
  explicit ObservedQuoteStore(QuoteSagaStore& inner) : inner_(inner) {}
  absl::StatusOr<Quote> LockQuote(absl::string_view quote_id) override {
    absl::StatusOr<Quote> q = inner_.LockQuote(quote_id);
    if (q.ok()) locked_ = *q;
    return q;
  }
  absl::Status UpdateQuote(const Quote& quote, int64_t expected_version) override {
    absl::Status s = inner_.UpdateQuote(quote, expected_version);
    if (s.ok()) updated_status_ = quote.status();
    return s;
  }
  // The saga end this transaction made, if it made one.
  std::optional<SagaEndTransition> EndTransition() const {
    if (!locked_.has_value() || !updated_status_.has_value()) return std::nullopt;
    return QuoteEndTransition(locked_->status(), locked_->updated_at(), *updated_status_);
  }

 private:
  QuoteSagaStore& inner_;
  std::optional<Quote> locked_;
  std::optional<QuoteStatus> updated_status_;
};

}  // namespace

absl::Status QuoteEventHandler::Handle(pqxx::work& tx, const messaging::InboundEvent& in) {
  PgQuoteSagaStore pg_store(tx);
  ObservedQuoteStore store(pg_store);
  absl::StatusOr<SagaOutcome> outcome =
      PgGuard("applying an event", [&] { return saga_.Apply(store, in.event); });
  if (!outcome.ok()) return outcome.status();
  if (*outcome == SagaOutcome::kApplied && outcomes_ != nullptr && in.after_commit != nullptr) {
    if (std::optional<SagaEndTransition> end = store.EndTransition(); end.has_value()) {
      SagaOutcomeMetrics* outcomes = outcomes_;
      in.after_commit->Add([outcomes, end = *end] { outcomes->Record(end); });
    }
  }
  log::Debug("event handled", {{"event_id", in.event.event_id},
                               {"event_type", in.event.type()},
                               {"quote_id", in.event.quote_id},
                               {"outcome", SagaOutcomeName(*outcome)}});
  return absl::OkStatus();
}

}  // namespace quoteflow::workers
