#include "domain/policy.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"
#include "domain/quote.h"

namespace quoteflow {

const char* PolicyStatusName(PolicyStatus status) {
  switch (status) {
    case PolicyStatus::kActive:
      return "ACTIVE";
    case PolicyStatus::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

absl::StatusOr<PolicyStatus> ParsePolicyStatus(absl::string_view name) {
  for (PolicyStatus s : {PolicyStatus::kActive, PolicyStatus::kCancelled}) {
    if (name == PolicyStatusName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown policy status '", name, "'"));
}

std::string PolicyIdForQuote(absl::string_view quote_id) { return absl::StrCat("pol-", quote_id); }

absl::StatusOr<Policy> Policy::Create(absl::string_view quote_id, absl::string_view customer_id,
                                      int64_t premium, int64_t quote_version, absl::Time now) {
  if (absl::Status s = ValidateId("quote_id", quote_id); !s.ok()) return s;
  if (absl::Status s = ValidateId("customer_id", customer_id); !s.ok()) return s;
  if (premium <= 0) return InvalidField("premium", "must be greater than 0 (minor currency units)");
  if (premium > kMaxPremium) {
    return InvalidField("premium", absl::StrCat("must be at most ", kMaxPremium));
  }
  if (quote_version < 1) return InvalidField("aggregate_version", "must be at least 1");
  Policy p;
  p.policy_id_ = PolicyIdForQuote(quote_id);
  p.quote_id_ = std::string(quote_id);
  p.customer_id_ = std::string(customer_id);
  p.premium_ = premium;
  p.status_ = PolicyStatus::kActive;
  p.quote_version_ = quote_version;
  p.version_ = 1;
  p.created_at_ = now;
  p.updated_at_ = now;
  return p;
}

Policy Policy::Restore(std::string policy_id, std::string quote_id, std::string customer_id,
                       int64_t premium, PolicyStatus status, std::string cancellation_reason,
                       int64_t quote_version, int64_t version, absl::Time created_at,
                       absl::Time updated_at) {
  Policy p;
  p.policy_id_ = std::move(policy_id);
  p.quote_id_ = std::move(quote_id);
  p.customer_id_ = std::move(customer_id);
  p.premium_ = premium;
  p.status_ = status;
  p.cancellation_reason_ = std::move(cancellation_reason);
  p.quote_version_ = quote_version;
  p.version_ = version;
  p.created_at_ = created_at;
  p.updated_at_ = updated_at;
  return p;
}

absl::StatusOr<bool> Policy::Cancel(absl::string_view reason, absl::Time now) {
  if (reason.empty()) return InvalidField("reason", "is required to cancel a policy");
  if (status_ == PolicyStatus::kCancelled) return false;
  status_ = PolicyStatus::kCancelled;
  cancellation_reason_ = std::string(reason);
  ++version_;
  updated_at_ = now;
  return true;
}

}  // namespace quoteflow
