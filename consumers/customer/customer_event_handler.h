// customer-worker's EventHandler: PolicyCreated (count the policy for its customer, or refuse it)
// and PolicyCancelled (give a counted policy's slot back), applied by CustomerSaga inside the
// consumer runtime's transaction; emitted events go to customer.outbox (topic "customers") with
// the incoming trace continued. Thread-safe (stateless apart from configuration).
#ifndef QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_EVENT_HANDLER_H_
#define QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_EVENT_HANDLER_H_

#include <string>

#include "domain/saga_services.h"
#include "platform/messaging/event_handler.h"

namespace quoteflow::workers {

inline constexpr char kCustomerWorkerSource[] = "/quoteflow/customer-worker";

class CustomerEventHandler : public messaging::EventHandler {
 public:
  explicit CustomerEventHandler(CustomerSaga& saga, std::string source = kCustomerWorkerSource)
      : saga_(saga), source_(std::move(source)) {}

  bool Wants(absl::string_view event_type) const override {
    return CustomerSaga::Wants(event_type);
  }
  // INVALID_ARGUMENT / FAILED_PRECONDITION for events that cannot be applied; storage errors
  // otherwise. A refused policy (unregistered customer, at the maximum) is a business outcome: OK.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& event) override;

 private:
  CustomerSaga& saga_;
  const std::string source_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_EVENT_HANDLER_H_
