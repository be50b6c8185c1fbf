#include "domain/customer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "domain/errors.h"
#include "domain/quote.h"

namespace quoteflow {

absl::StatusOr<Customer> Customer::Create(absl::string_view customer_id, absl::string_view name,
                                          int64_t max_policies, absl::Time now) {
  if (absl::Status s = ValidateId("customer_id", customer_id); !s.ok()) return s;
  if (absl::StripAsciiWhitespace(name).empty()) return InvalidField("name", "is required");
  if (name.size() > kMaxCustomerNameLength) {
    return InvalidField("name", absl::StrCat("is longer than ", kMaxCustomerNameLength, " bytes"));
  }
  for (char c : name) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return InvalidField("name", "may not contain control characters");
    }
  }
  if (max_policies < 1 || max_policies > kMaxPoliciesLimit) {
    return InvalidField("max_policies", absl::StrCat("must be between 1 and ", kMaxPoliciesLimit));
  }
  Customer c;
  c.customer_id_ = std::string(customer_id);
  c.name_ = std::string(name);
  c.max_policies_ = max_policies;
  c.policy_count_ = 0;
  c.version_ = 1;
  c.created_at_ = now;
  c.updated_at_ = now;
  return c;
}

Customer Customer::Restore(std::string customer_id, std::string name, int64_t max_policies,
                           int64_t policy_count, int64_t version, absl::Time created_at,
                           absl::Time updated_at) {
  Customer c;
  c.customer_id_ = std::move(customer_id);
  c.name_ = std::move(name);
  c.max_policies_ = max_policies;
  c.policy_count_ = policy_count;
  c.version_ = version;
  c.created_at_ = created_at;
  c.updated_at_ = updated_at;
  return c;
}

void Customer::Touch(absl::Time now) {
  ++version_;
  updated_at_ = now;
}

absl::Status Customer::CountPolicy(absl::Time now) {
  if (AtMaximum()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "customer ", customer_id_, " is at its maximum of ", max_policies_, " active policies"));
  }
  ++policy_count_;
  Touch(now);
  return absl::OkStatus();
}

absl::Status Customer::UncountPolicy(absl::Time now) {
  if (policy_count_ <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("customer ", customer_id_, " has no counted policy to subtract"));
  }
  --policy_count_;
  Touch(now);
  return absl::OkStatus();
}

void Customer::RecordRejection(absl::Time now) { Touch(now); }

const char* PolicyCountStatusName(PolicyCountStatus status) {
  switch (status) {
    case PolicyCountStatus::kCounted:
      return "COUNTED";
    case PolicyCountStatus::kRejected:
      return "REJECTED";
    case PolicyCountStatus::kUncounted:
      return "UNCOUNTED";
  }
  return "UNKNOWN";
}

absl::StatusOr<PolicyCountStatus> ParsePolicyCountStatus(absl::string_view name) {
  for (PolicyCountStatus s :
       {PolicyCountStatus::kCounted, PolicyCountStatus::kRejected, PolicyCountStatus::kUncounted}) {
    if (name == PolicyCountStatusName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown policy count status '", name, "'"));
}

}  // namespace quoteflow
