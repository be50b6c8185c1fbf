// The Customer aggregate: a registered customer and the number of active policies counted for it,
// bounded by a per-customer maximum. The per-policy record that makes counting idempotent (which
// policy was counted, rejected or uncounted) is a PolicyCountEntry, kept beside the customer
// (customer_saga.h decides with both). Pure value types (thread-compatible); commands validate and
// on error leave the customer unchanged.
#ifndef QUOTEFLOW_DOMAIN_CUSTOMER_H_
#define QUOTEFLOW_DOMAIN_CUSTOMER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quoteflow {

// Bounds of Customer::max_policies and of a name's length.
inline constexpr int64_t kMaxPoliciesLimit = 1'000'000;
inline constexpr size_t kMaxCustomerNameLength = 200;

class Customer {
 public:
  // A new customer with no policies, version 1. INVALID_ARGUMENT naming the field for a bad
  // customer_id, an empty or too long name (or one with control characters), or max_policies
  // outside 1..kMaxPoliciesLimit.
  static absl::StatusOr<Customer> Create(absl::string_view customer_id, absl::string_view name,
                                         int64_t max_policies, absl::Time now);

  // Rebuilds a customer from storage; no validation.
  static Customer Restore(std::string customer_id, std::string name, int64_t max_policies,
                          int64_t policy_count, int64_t version, absl::Time created_at,
                          absl::Time updated_at);

  // Counts one more active policy: policy_count + 1, version + 1. FAILED_PRECONDITION (saying the
  // maximum) when the customer already has max_policies policies; nothing changes then.
  absl::Status CountPolicy(absl::Time now);
  // One active policy fewer: policy_count - 1, version + 1. FAILED_PRECONDITION at zero.
  absl::Status UncountPolicy(absl::Time now);
  // Records that a policy was refused: version + 1 so that the event saying so has its own
  // aggregate version; the count is unchanged.
  void RecordRejection(absl::Time now);

  bool AtMaximum() const { return policy_count_ >= max_policies_; }

  const std::string& customer_id() const { return customer_id_; }
  const std::string& name() const { return name_; }
  int64_t max_policies() const { return max_policies_; }
  int64_t policy_count() const { return policy_count_; }
  int64_t version() const { return version_; }
  absl::Time created_at() const { return created_at_; }
  absl::Time updated_at() const { return updated_at_; }

  friend bool operator==(const Customer&, const Customer&) = default;

 private:
  Customer() = default;
  void Touch(absl::Time now);

  std::string customer_id_;
  std::string name_;
  int64_t max_policies_ = 0;
  int64_t policy_count_ = 0;
  int64_t version_ = 0;
  absl::Time created_at_;
  absl::Time updated_at_;
};

// What the customer side decided about one policy. Exactly one entry per policy id, ever.
enum class PolicyCountStatus {
  kCounted,    // the policy is counted in its customer's policy_count
  kRejected,   // refused (unregistered customer, or at the maximum); never counted
  kUncounted,  // was counted, then cancelled and subtracted; or cancelled before it was seen
};

const char* PolicyCountStatusName(PolicyCountStatus status);  // "COUNTED", "REJECTED", ...
// INVALID_ARGUMENT for anything but PolicyCountStatusName's output.
absl::StatusOr<PolicyCountStatus> ParsePolicyCountStatus(absl::string_view name);

struct PolicyCountEntry {
  std::string policy_id;
  std::string customer_id;
  std::string quote_id;
  PolicyCountStatus status = PolicyCountStatus::kCounted;
  std::string reason;  // why it was rejected; empty otherwise
  absl::Time updated_at;

  friend bool operator==(const PolicyCountEntry&, const PolicyCountEntry&) = default;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_CUSTOMER_H_
