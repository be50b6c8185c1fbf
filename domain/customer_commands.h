// Application services behind CustomerService and PolicyService: registering and reading customers
// (CustomerCommands, over the CustomerRepository port) and reading policies (PolicyQueries, over
// the PolicyReader port). They validate requests (INVALID_ARGUMENT naming the field) and delegate.
// Thread-safe if their ports are.
#ifndef QUOTEFLOW_DOMAIN_CUSTOMER_COMMANDS_H_
#define QUOTEFLOW_DOMAIN_CUSTOMER_COMMANDS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "domain/clock.h"
#include "domain/customer.h"
#include "domain/policy.h"

namespace quoteflow {

// Port: durable storage of customers. Implementations must be thread-safe.
class CustomerRepository {
 public:
  virtual ~CustomerRepository() = default;
  // Stores a new customer and records `request_id` (may be empty: no idempotency). If `request_id`
  // was already used: returns the customer as that request created it (policy_count 0, version 1)
  // when the request was for the same customer id, name and max_policies, and writes nothing.
  // Errors: ALREADY_EXISTS (the customer id exists, created by another request), INVALID_ARGUMENT
  // naming request_id (it was used for a different customer or values), UNAVAILABLE.
  virtual absl::StatusOr<Customer> Insert(absl::string_view request_id,
                                          const Customer& customer) = 0;
  // NOT_FOUND, UNAVAILABLE.
  virtual absl::StatusOr<Customer> Get(absl::string_view customer_id) = 0;
};

// Port: reading policies. Implementations must be thread-safe.
class PolicyReader {
 public:
  virtual ~PolicyReader() = default;
  // NOT_FOUND, UNAVAILABLE.
  virtual absl::StatusOr<Policy> GetById(absl::string_view policy_id) = 0;
  virtual absl::StatusOr<Policy> GetByQuote(absl::string_view quote_id) = 0;
};

struct CreateCustomerCommand {
  std::string customer_id;
  std::string name;
  int64_t max_policies = 0;  // 0: the configured default
  std::string request_id;    // optional idempotency key
};

class CustomerCommands {
 public:
  CustomerCommands(CustomerRepository& repository, Clock& clock, int64_t default_max_policies)
      : repository_(repository), clock_(clock), default_max_policies_(default_max_policies) {}

  // INVALID_ARGUMENT naming the field (customer_id, name, max_policies, request_id); otherwise as
  // CustomerRepository::Insert.
  absl::StatusOr<Customer> CreateCustomer(const CreateCustomerCommand& command);
  // INVALID_ARGUMENT (customer_id), NOT_FOUND, UNAVAILABLE.
  absl::StatusOr<Customer> GetCustomer(absl::string_view customer_id);

 private:
  CustomerRepository& repository_;
  Clock& clock_;
  const int64_t default_max_policies_;
};

class PolicyQueries {
 public:
  explicit PolicyQueries(PolicyReader& reader) : reader_(reader) {}
  // Exactly one of the two ids must be set. INVALID_ARGUMENT naming policy_id or quote_id (both or
  // neither set, or malformed); NOT_FOUND; UNAVAILABLE.
  absl::StatusOr<Policy> GetPolicy(absl::string_view policy_id, absl::string_view quote_id);

 private:
  PolicyReader& reader_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_CUSTOMER_COMMANDS_H_
