// Application services of the saga's three participants: each loads the state an incoming event
// concerns through a transaction-scoped store port, lets saga_rules.h decide, and stores the new
// state and the emitted events through the same port, so that a caller who gives the port one
// database transaction gets state + outbox atomically (the consumer runtime adds the inbox row).
//
// Thread-safety: the services hold only configuration and a Clock, and are thread-safe if the
// Clock is; a store is used by one thread (it stands for one transaction).
#ifndef QUOTEFLOW_DOMAIN_SAGA_SERVICES_H_
#define QUOTEFLOW_DOMAIN_SAGA_SERVICES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "domain/clock.h"
#include "domain/customer.h"
#include "domain/events.h"
#include "domain/policy.h"
#include "domain/quote.h"
#include "domain/saga_rules.h"

namespace quoteflow {

// Every store method may fail with UNAVAILABLE / ABORTED / DEADLINE_EXCEEDED / INTERNAL (storage
// trouble: transient for the consumer runtime); the services pass such errors through.

// The policy service's data, within one transaction.
class PolicySagaStore {
 public:
  virtual ~PolicySagaStore() = default;
  // The policy, locked for the rest of the transaction; nullopt if there is none.
  virtual absl::StatusOr<std::optional<Policy>> LockPolicy(absl::string_view policy_id) = 0;
  virtual absl::StatusOr<bool> IsDeclined(absl::string_view quote_id) = 0;
  // ALREADY_EXISTS when a policy with that id exists.
  virtual absl::Status InsertPolicy(const Policy& policy) = 0;
  // ABORTED when the stored version is not `expected_version`.
  virtual absl::Status UpdatePolicy(const Policy& policy, int64_t expected_version) = 0;
  virtual absl::Status InsertDecline(const QuoteDecline& decline) = 0;
  // Adds `event` to the service's outbox.
  virtual absl::Status Emit(const DomainEvent& event) = 0;
};

// The customer service's data, within one transaction.
class CustomerSagaStore {
 public:
  virtual ~CustomerSagaStore() = default;
  // The customer, locked for the rest of the transaction; nullopt if not registered.
  virtual absl::StatusOr<std::optional<Customer>> LockCustomer(absl::string_view customer_id) = 0;
  virtual absl::StatusOr<std::optional<PolicyCountEntry>> FindEntry(
      absl::string_view policy_id) = 0;
  // ABORTED when the stored version is not `expected_version`.
  virtual absl::Status UpdateCustomer(const Customer& customer, int64_t expected_version) = 0;
  // Inserts or replaces the policy's entry.
  virtual absl::Status SaveEntry(const PolicyCountEntry& entry) = 0;
  virtual absl::Status Emit(const DomainEvent& event) = 0;
};

// The quote service's data, within one transaction.
class QuoteSagaStore {
 public:
  virtual ~QuoteSagaStore() = default;
  // The quote, locked; NOT_FOUND if there is none.
  virtual absl::StatusOr<Quote> LockQuote(absl::string_view quote_id) = 0;
  // ABORTED when the stored version is not `expected_version`.
  virtual absl::Status UpdateQuote(const Quote& quote, int64_t expected_version) = 0;
};

// What an Apply did, for logs and tests.
enum class SagaOutcome {
  kIgnored,    // not an event this participant acts on
  kDuplicate,  // its effect was already there: nothing written
  kApplied,    // state changed and/or events emitted
};

// Errors of every Apply: the decision's errors (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION:
// the event cannot be applied; the consumer runtime dead-letters it) and the store's.

// policy-worker: QuoteApproved, CustomerPolicyCountRejected.
class PolicySaga {
 public:
  PolicySaga(Clock& clock, int64_t underwriting_limit)
      : clock_(clock), underwriting_limit_(underwriting_limit) {}
  static bool Wants(absl::string_view event_type);
  absl::StatusOr<SagaOutcome> Apply(PolicySagaStore& store, const DomainEvent& event);
  int64_t underwriting_limit() const { return underwriting_limit_; }

 private:
  Clock& clock_;
  const int64_t underwriting_limit_;
};

// customer-worker: PolicyCreated, PolicyCancelled.
class CustomerSaga {
 public:
  explicit CustomerSaga(Clock& clock) : clock_(clock) {}
  static bool Wants(absl::string_view event_type);
  absl::StatusOr<SagaOutcome> Apply(CustomerSagaStore& store, const DomainEvent& event);

 private:
  Clock& clock_;
};

// quote-worker: QuoteRejected, CustomerPolicyCountUpdated.
class QuoteSaga {
 public:
  explicit QuoteSaga(Clock& clock) : clock_(clock) {}
  static bool Wants(absl::string_view event_type);
  absl::StatusOr<SagaOutcome> Apply(QuoteSagaStore& store, const DomainEvent& event);

 private:
  Clock& clock_;
};

const char* SagaOutcomeName(SagaOutcome outcome);  // "ignored", "duplicate", "applied"

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_SAGA_SERVICES_H_
