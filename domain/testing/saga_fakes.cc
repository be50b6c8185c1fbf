#include "domain/testing/saga_fakes.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"

namespace quoteflow::testing {
namespace {

template <class Map>
auto Find(Map& map, absl::string_view key) -> std::optional<typename Map::mapped_type> {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

}  // namespace

absl::StatusOr<std::optional<Policy>> FakePolicySagaStore::LockPolicy(absl::string_view policy_id) {
  if (!fail_with.ok()) return fail_with;
  return Find(policies, policy_id);
}

absl::StatusOr<bool> FakePolicySagaStore::IsDeclined(absl::string_view quote_id) {
  if (!fail_with.ok()) return fail_with;
  return declines.contains(quote_id);
}

absl::Status FakePolicySagaStore::InsertPolicy(const Policy& policy) {
  if (!fail_with.ok()) return fail_with;
  if (!policies.emplace(policy.policy_id(), policy).second) {
    return absl::AlreadyExistsError(absl::StrCat("policy ", policy.policy_id(), " exists"));
  }
  return absl::OkStatus();
}

absl::Status FakePolicySagaStore::UpdatePolicy(const Policy& policy, int64_t expected_version) {
  if (!fail_with.ok()) return fail_with;
  auto it = policies.find(policy.policy_id());
  if (it == policies.end() || it->second.version() != expected_version) {
    return absl::AbortedError("policy changed concurrently");
  }
  it->second = policy;
  return absl::OkStatus();
}

absl::Status FakePolicySagaStore::InsertDecline(const QuoteDecline& decline) {
  if (!fail_with.ok()) return fail_with;
  declines.insert_or_assign(decline.quote_id, decline);
  return absl::OkStatus();
}

absl::Status FakePolicySagaStore::Emit(const DomainEvent& event) {
  if (!fail_with.ok()) return fail_with;
  outbox.push_back(event);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Customer>> FakeCustomerSagaStore::LockCustomer(
    absl::string_view customer_id) {
  if (!fail_with.ok()) return fail_with;
  return Find(customers, customer_id);
}

absl::StatusOr<std::optional<PolicyCountEntry>> FakeCustomerSagaStore::FindEntry(
    absl::string_view policy_id) {
  if (!fail_with.ok()) return fail_with;
  return Find(entries, policy_id);
}

absl::Status FakeCustomerSagaStore::UpdateCustomer(const Customer& customer,
                                                   int64_t expected_version) {
  if (!fail_with.ok()) return fail_with;
  auto it = customers.find(customer.customer_id());
  if (it == customers.end() || it->second.version() != expected_version) {
    return absl::AbortedError("customer changed concurrently");
  }
  it->second = customer;
  return absl::OkStatus();
}

absl::Status FakeCustomerSagaStore::SaveEntry(const PolicyCountEntry& entry) {
  if (!fail_with.ok()) return fail_with;
  entries.insert_or_assign(entry.policy_id, entry);
  return absl::OkStatus();
}

absl::Status FakeCustomerSagaStore::Emit(const DomainEvent& event) {
  if (!fail_with.ok()) return fail_with;
  outbox.push_back(event);
  return absl::OkStatus();
}

absl::StatusOr<Quote> FakeQuoteSagaStore::LockQuote(absl::string_view quote_id) {
  if (!fail_with.ok()) return fail_with;
  std::optional<Quote> q = Find(quotes, quote_id);
  if (!q.has_value()) return absl::NotFoundError(absl::StrCat("quote ", quote_id, " not found"));
  return *q;
}

absl::Status FakeQuoteSagaStore::UpdateQuote(const Quote& quote, int64_t expected_version) {
  if (!fail_with.ok()) return fail_with;
  auto it = quotes.find(quote.quote_id());
  if (it == quotes.end() || it->second.version() != expected_version) {
    return absl::AbortedError("quote changed concurrently");
  }
  it->second = quote;
  return absl::OkStatus();
}

absl::StatusOr<Customer> InMemoryCustomerRepository::Insert(absl::string_view request_id,
                                                            const Customer& customer) {
  absl::MutexLock lock(&mu_);
  if (!request_id.empty()) {
    if (auto it = requests_.find(request_id); it != requests_.end()) {
      const Customer& existing = customers_.at(it->second);
      if (existing.customer_id() != customer.customer_id() || existing.name() != customer.name() ||
          existing.max_policies() != customer.max_policies()) {
        return InvalidField("request_id", "was already used for a different request");
      }
      return Customer::Restore(existing.customer_id(), existing.name(), existing.max_policies(), 0,
                               1, existing.created_at(), existing.created_at());
    }
  }
  if (customers_.contains(customer.customer_id())) {
    return absl::AlreadyExistsError(
        absl::StrCat("customer ", customer.customer_id(), " already exists"));
  }
  customers_.emplace(customer.customer_id(), customer);
  if (!request_id.empty()) requests_.emplace(std::string(request_id), customer.customer_id());
  return customer;
}

absl::StatusOr<Customer> InMemoryCustomerRepository::Get(absl::string_view customer_id) {
  absl::MutexLock lock(&mu_);
  std::optional<Customer> c = Find(customers_, customer_id);
  if (!c.has_value()) {
    return absl::NotFoundError(absl::StrCat("customer ", customer_id, " not found"));
  }
  return *c;
}

void InMemoryPolicyReader::Put(const Policy& policy) {
  absl::MutexLock lock(&mu_);
  policies_.insert_or_assign(policy.policy_id(), policy);
}

absl::StatusOr<Policy> InMemoryPolicyReader::GetById(absl::string_view policy_id) {
  absl::MutexLock lock(&mu_);
  std::optional<Policy> p = Find(policies_, policy_id);
  if (!p.has_value()) return absl::NotFoundError(absl::StrCat("policy ", policy_id, " not found"));
  return *p;
}

absl::StatusOr<Policy> InMemoryPolicyReader::GetByQuote(absl::string_view quote_id) {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, p] : policies_) {
    if (p.quote_id() == quote_id) return p;
  }
  return absl::NotFoundError(absl::StrCat("no policy for quote ", quote_id));
}

}  // namespace quoteflow::testing
