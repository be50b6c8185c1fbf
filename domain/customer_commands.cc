#include "domain/customer_commands.h"

#include "absl/strings/match.h"
#include "domain/errors.h"
#include "domain/quote.h"
#include "domain/status_macros.h"

namespace quoteflow {

absl::StatusOr<Customer> CustomerCommands::CreateCustomer(const CreateCustomerCommand& command) {
  if (!command.request_id.empty()) RETURN_IF_ERROR(ValidateId("request_id", command.request_id));
  if (command.max_policies < 0) {
    return InvalidField("max_policies", "must be 0 (the default) or a positive number");
  }
  const int64_t max_policies =
      command.max_policies == 0 ? default_max_policies_ : command.max_policies;
  ASSIGN_OR_RETURN(Customer customer,
                   Customer::Create(command.customer_id, command.name, max_policies, clock_.Now()));
  return repository_.Insert(command.request_id, customer);
}

absl::StatusOr<Customer> CustomerCommands::GetCustomer(absl::string_view customer_id) {
  RETURN_IF_ERROR(ValidateId("customer_id", customer_id));
  return repository_.Get(customer_id);
}

absl::StatusOr<Policy> PolicyQueries::GetPolicy(absl::string_view policy_id,
                                                absl::string_view quote_id) {
  if (policy_id.empty() == quote_id.empty()) {
    return InvalidField(policy_id.empty() ? "policy_id" : "quote_id",
                        "exactly one of policy_id and quote_id must be set");
  }
  if (!quote_id.empty()) {
    RETURN_IF_ERROR(ValidateId("quote_id", quote_id));
    return reader_.GetByQuote(quote_id);
  }
  if (!absl::StartsWith(policy_id, "pol-"))
    return InvalidField("policy_id", "must start with pol-");
  if (absl::Status s = ValidateId("policy_id", policy_id.substr(4)); !s.ok()) {
    return InvalidField("policy_id", "is not a valid policy id");
  }
  return reader_.GetById(policy_id);
}

}  // namespace quoteflow
