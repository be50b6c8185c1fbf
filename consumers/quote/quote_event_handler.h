// quote-worker's EventHandler: QuoteRejected (quote REJECTED with the reason) and
// CustomerPolicyCountUpdated with delta +1 (quote ISSUED: the policy exists and is counted, so
// nothing can fail any more), applied by QuoteSaga inside the consumer runtime's transaction.
// With SagaOutcomeMetrics, each change to a final state is recorded once its transaction has
// committed (the quote's end of the saga in choreography mode).
// Thread-safe (stateless apart from configuration).
#ifndef QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_EVENT_HANDLER_H_
#define QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_EVENT_HANDLER_H_

#include "consumers/common/saga_outcome_metrics.h"
#include "domain/saga_services.h"
#include "platform/messaging/event_handler.h"

namespace quoteflow::workers {

class QuoteEventHandler : public messaging::EventHandler {
 public:
  // `outcomes` (may be null: nothing recorded) must outlive the handler.
  explicit QuoteEventHandler(QuoteSaga& saga, SagaOutcomeMetrics* outcomes = nullptr)
      : saga_(saga), outcomes_(outcomes) {}

  bool Wants(absl::string_view event_type) const override { return QuoteSaga::Wants(event_type); }
  // NOT_FOUND (unknown quote), FAILED_PRECONDITION (e.g. a rejection of an ISSUED quote),
  // INVALID_ARGUMENT (no quote id): the event cannot be applied; storage errors otherwise.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& event) override;

 private:
  QuoteSaga& saga_;
  SagaOutcomeMetrics* const outcomes_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_EVENT_HANDLER_H_
