// quote-worker's EventHandler: QuoteRejected (quote REJECTED with the reason) and
// CustomerPolicyCountUpdated with delta +1 (quote ISSUED: the policy exists and is counted, so
// nothing can fail any more), applied by QuoteSaga inside the consumer runtime's transaction.
// Thread-safe (stateless apart from configuration).
#ifndef QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_EVENT_HANDLER_H_
#define QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_EVENT_HANDLER_H_

#include "domain/saga_services.h"
#include "platform/messaging/event_handler.h"

namespace quoteflow::workers {

class QuoteEventHandler : public messaging::EventHandler {
 public:
  explicit QuoteEventHandler(QuoteSaga& saga) : saga_(saga) {}

  bool Wants(absl::string_view event_type) const override { return QuoteSaga::Wants(event_type); }
  // NOT_FOUND (unknown quote), FAILED_PRECONDITION (e.g. a rejection of an ISSUED quote),
  // INVALID_ARGUMENT (no quote id): the event cannot be applied; storage errors otherwise.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& event) override;

 private:
  QuoteSaga& saga_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_QUOTE_QUOTE_EVENT_HANDLER_H_
