// The Policy aggregate: the insurance policy the saga creates for an approved quote. One policy per
// quote: its id is derived from the quote id (PolicyIdForQuote), so a redelivered QuoteApproved can
// never create a second one. ACTIVE on creation; CANCELLED by the saga's compensation. Pure value
// type (thread-compatible); commands validate, and on error leave the policy unchanged.
#ifndef QUOTEFLOW_DOMAIN_POLICY_H_
#define QUOTEFLOW_DOMAIN_POLICY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quoteflow {

enum class PolicyStatus { kActive, kCancelled };

const char* PolicyStatusName(PolicyStatus status);  // "ACTIVE", "CANCELLED"
// Parses PolicyStatusName's output; INVALID_ARGUMENT for anything else.
absl::StatusOr<PolicyStatus> ParsePolicyStatus(absl::string_view name);

// "pol-<quote_id>": the one policy a quote can have.
std::string PolicyIdForQuote(absl::string_view quote_id);

class Policy {
 public:
  // A new ACTIVE policy at version 1 for the approved quote `quote_id`. `quote_version` is the
  // quote's aggregate version in its QuoteApproved event (kept so that the compensation can emit
  // the quote's next event at the right version). INVALID_ARGUMENT naming the field for a bad
  // quote id or customer id, a premium outside 1..kMaxPremium, or a quote_version < 1.
  static absl::StatusOr<Policy> Create(absl::string_view quote_id, absl::string_view customer_id,
                                       int64_t premium, int64_t quote_version, absl::Time now);

  // Rebuilds a policy from storage; no validation.
  static Policy Restore(std::string policy_id, std::string quote_id, std::string customer_id,
                        int64_t premium, PolicyStatus status, std::string cancellation_reason,
                        int64_t quote_version, int64_t version, absl::Time created_at,
                        absl::Time updated_at);

  // ACTIVE -> CANCELLED with `reason`, version + 1; returns true. Idempotent: a CANCELLED policy
  // stays as it is (returns false, the first reason is kept). INVALID_ARGUMENT for an empty reason.
  absl::StatusOr<bool> Cancel(absl::string_view reason, absl::Time now);

  const std::string& policy_id() const { return policy_id_; }
  const std::string& quote_id() const { return quote_id_; }
  const std::string& customer_id() const { return customer_id_; }
  int64_t premium() const { return premium_; }
  PolicyStatus status() const { return status_; }
  const std::string& cancellation_reason() const { return cancellation_reason_; }
  int64_t quote_version() const { return quote_version_; }
  int64_t version() const { return version_; }
  absl::Time created_at() const { return created_at_; }
  absl::Time updated_at() const { return updated_at_; }

  friend bool operator==(const Policy&, const Policy&) = default;

 private:
  Policy() = default;

  std::string policy_id_;
  std::string quote_id_;
  std::string customer_id_;
  int64_t premium_ = 0;
  PolicyStatus status_ = PolicyStatus::kActive;
  std::string cancellation_reason_;
  int64_t quote_version_ = 0;
  int64_t version_ = 0;
  absl::Time created_at_;
  absl::Time updated_at_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_POLICY_H_
