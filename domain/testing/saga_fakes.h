// In-memory fakes of the saga's store ports and of the customer/policy repositories, for unit
// tests only. A saga store fake applies writes at once (no rollback: atomicity is tested against
// Postgres) and records emitted events in `outbox`; the fields are public so that tests can seed
// and inspect state. Saga store fakes are not thread-safe (a store stands for one transaction);
// InMemoryCustomerRepository and InMemoryPolicyReader are thread-safe.
#ifndef QUOTEFLOW_DOMAIN_TESTING_SAGA_FAKES_H_
#define QUOTEFLOW_DOMAIN_TESTING_SAGA_FAKES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "domain/customer_commands.h"
#include "domain/saga_services.h"

namespace quoteflow::testing {

class FakePolicySagaStore : public PolicySagaStore {
 public:
  absl::StatusOr<std::optional<Policy>> LockPolicy(absl::string_view policy_id) override;
  absl::StatusOr<bool> IsDeclined(absl::string_view quote_id) override;
  absl::Status InsertPolicy(const Policy& policy) override;
  absl::Status UpdatePolicy(const Policy& policy, int64_t expected_version) override;
  absl::Status InsertDecline(const QuoteDecline& decline) override;
  absl::Status Emit(const DomainEvent& event) override;

  std::map<std::string, Policy, std::less<>> policies;
  std::map<std::string, QuoteDecline, std::less<>> declines;
  std::vector<DomainEvent> outbox;
  // When set, every call fails with it (storage down).
  absl::Status fail_with;
};

class FakeCustomerSagaStore : public CustomerSagaStore {
 public:
  absl::StatusOr<std::optional<Customer>> LockCustomer(absl::string_view customer_id) override;
  absl::StatusOr<std::optional<PolicyCountEntry>> FindEntry(absl::string_view policy_id) override;
  absl::Status UpdateCustomer(const Customer& customer, int64_t expected_version) override;
  absl::Status SaveEntry(const PolicyCountEntry& entry) override;
  absl::Status Emit(const DomainEvent& event) override;

  std::map<std::string, Customer, std::less<>> customers;
  std::map<std::string, PolicyCountEntry, std::less<>> entries;
  std::vector<DomainEvent> outbox;
  absl::Status fail_with;
};

class FakeQuoteSagaStore : public QuoteSagaStore {
 public:
  absl::StatusOr<Quote> LockQuote(absl::string_view quote_id) override;
  absl::Status UpdateQuote(const Quote& quote, int64_t expected_version) override;

  std::map<std::string, Quote, std::less<>> quotes;
  absl::Status fail_with;
};

// CustomerRepository over maps, with the Postgres adapter's idempotency contract.
class InMemoryCustomerRepository : public CustomerRepository {
 public:
  absl::StatusOr<Customer> Insert(absl::string_view request_id, const Customer& customer) override;
  absl::StatusOr<Customer> Get(absl::string_view customer_id) override;

 private:
  absl::Mutex mu_;
  std::map<std::string, Customer, std::less<>> customers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string, std::less<>> requests_ ABSL_GUARDED_BY(mu_);
};

class InMemoryPolicyReader : public PolicyReader {
 public:
  void Put(const Policy& policy);
  absl::StatusOr<Policy> GetById(absl::string_view policy_id) override;
  absl::StatusOr<Policy> GetByQuote(absl::string_view quote_id) override;

 private:
  absl::Mutex mu_;
  std::map<std::string, Policy, std::less<>> policies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quoteflow::testing

#endif  // QUOTEFLOW_DOMAIN_TESTING_SAGA_FAKES_H_
