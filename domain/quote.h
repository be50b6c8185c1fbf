// The Quote aggregate: the customer's priced offer that the saga turns into a policy.
// Pure value type (thread-compatible). Every command validates, then returns the events it caused;
// on error the quote is left unchanged.
#ifndef QUOTEFLOW_DOMAIN_QUOTE_H_
#define QUOTEFLOW_DOMAIN_QUOTE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "domain/events.h"

namespace quoteflow {

enum class QuoteStatus { kDraft, kApproved, kIssued, kRejected };

const char* QuoteStatusName(QuoteStatus status);  // "DRAFT", "APPROVED", ...
// Parses QuoteStatusName's output; INVALID_ARGUMENT for anything else.
absl::StatusOr<QuoteStatus> ParseQuoteStatus(absl::string_view name);

// Upper bound for a premium in minor units: 10^15 (ten trillion in major units) keeps every sum of
// premiums far from int64 overflow.
inline constexpr int64_t kMaxPremium = 1'000'000'000'000'000;
// Identifiers (customer ids, request ids) are 1..kMaxIdLength printable ASCII characters.
inline constexpr size_t kMaxIdLength = 128;

// InvalidField(field) unless `id` is 1..kMaxIdLength characters of [A-Za-z0-9._:@-].
absl::Status ValidateId(absl::string_view field, absl::string_view id);

class Quote {
 public:
  // A new DRAFT quote at version 1. INVALID_ARGUMENT (naming the field) for a bad customer id or a
  // premium outside 1..kMaxPremium.
  static absl::StatusOr<Quote> Create(std::string quote_id, std::string customer_id,
                                      int64_t premium, absl::Time now);

  // Rebuilds a quote from storage; no validation.
  static Quote Restore(std::string quote_id, std::string customer_id, int64_t premium,
                       QuoteStatus status, int64_t version, std::string rejection_reason,
                       absl::Time created_at, absl::Time updated_at);

  // DRAFT -> APPROVED, version + 1. FAILED_PRECONDITION from any other status.
  absl::StatusOr<QuoteApproved> Approve(absl::Time now);
  // APPROVED -> ISSUED. Idempotent: an ISSUED quote stays ISSUED (returns false: nothing changed).
  // FAILED_PRECONDITION from DRAFT or REJECTED.
  absl::StatusOr<bool> MarkIssued(absl::Time now);
  // APPROVED or DRAFT -> REJECTED with `reason`. Idempotent on REJECTED (returns false).
  // FAILED_PRECONDITION from ISSUED.
  absl::StatusOr<bool> Reject(absl::string_view reason, absl::Time now);

  const std::string& quote_id() const { return quote_id_; }
  const std::string& customer_id() const { return customer_id_; }
  int64_t premium() const { return premium_; }
  QuoteStatus status() const { return status_; }
  int64_t version() const { return version_; }
  const std::string& rejection_reason() const { return rejection_reason_; }
  absl::Time created_at() const { return created_at_; }
  absl::Time updated_at() const { return updated_at_; }

  friend bool operator==(const Quote&, const Quote&) = default;

 private:
  Quote() = default;
  void Touch(absl::Time now);

  std::string quote_id_;
  std::string customer_id_;
  int64_t premium_ = 0;
  QuoteStatus status_ = QuoteStatus::kDraft;
  int64_t version_ = 0;
  std::string rejection_reason_;
  absl::Time created_at_;
  absl::Time updated_at_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_QUOTE_H_
