#include "domain/quote.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "domain/errors.h"

namespace quoteflow {

const char* QuoteStatusName(QuoteStatus status) {
  switch (status) {
    case QuoteStatus::kDraft:
      return "DRAFT";
    case QuoteStatus::kApproved:
      return "APPROVED";
    case QuoteStatus::kIssued:
      return "ISSUED";
    case QuoteStatus::kRejected:
      return "REJECTED";
  }
  return "UNKNOWN";
}

absl::StatusOr<QuoteStatus> ParseQuoteStatus(absl::string_view name) {
  for (QuoteStatus s : {QuoteStatus::kDraft, QuoteStatus::kApproved, QuoteStatus::kIssued,
                        QuoteStatus::kRejected}) {
    if (name == QuoteStatusName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown quote status '", name, "'"));
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return InvalidField(field, "is required");
  if (id.size() > kMaxIdLength) {
    return InvalidField(field, absl::StrCat("is longer than ", kMaxIdLength, " characters"));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':' && c != '@') {
      return InvalidField(field, "may contain only letters, digits and . _ : @ -");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Quote> Quote::Create(std::string quote_id, std::string customer_id, int64_t premium,
                                    absl::Time now) {
  if (absl::Status s = ValidateId("customer_id", customer_id); !s.ok()) return s;
  if (premium <= 0) return InvalidField("premium", "must be greater than 0 (minor currency units)");
  if (premium > kMaxPremium) {
    return InvalidField("premium", absl::StrCat("must be at most ", kMaxPremium));
  }
  Quote q;
  q.quote_id_ = std::move(quote_id);
  q.customer_id_ = std::move(customer_id);
  q.premium_ = premium;
  q.status_ = QuoteStatus::kDraft;
  q.version_ = 1;
  q.created_at_ = now;
  q.updated_at_ = now;
  return q;
}

Quote Quote::Restore(std::string quote_id, std::string customer_id, int64_t premium,
                     QuoteStatus status, int64_t version, std::string rejection_reason,
                     absl::Time created_at, absl::Time updated_at) {
  Quote q;
  q.quote_id_ = std::move(quote_id);
  q.customer_id_ = std::move(customer_id);
  q.premium_ = premium;
  q.status_ = status;
  q.version_ = version;
  q.rejection_reason_ = std::move(rejection_reason);
  q.created_at_ = created_at;
  q.updated_at_ = updated_at;
  return q;
}

void Quote::Touch(absl::Time now) {
  ++version_;
  updated_at_ = now;
}

absl::StatusOr<QuoteApproved> Quote::Approve(absl::Time now) {
  if (status_ != QuoteStatus::kDraft) {
    return absl::FailedPreconditionError(absl::StrCat("quote ", quote_id_, " is ",
                                                      QuoteStatusName(status_),
                                                      "; only a DRAFT quote can be approved"));
  }
  status_ = QuoteStatus::kApproved;
  Touch(now);
  return QuoteApproved{customer_id_, premium_};
}

absl::StatusOr<bool> Quote::MarkIssued(absl::Time now) {
  if (status_ == QuoteStatus::kIssued) return false;
  if (status_ != QuoteStatus::kApproved) {
    return absl::FailedPreconditionError(absl::StrCat("quote ", quote_id_, " is ",
                                                      QuoteStatusName(status_),
                                                      "; only an APPROVED quote can be issued"));
  }
  status_ = QuoteStatus::kIssued;
  Touch(now);
  return true;
}

absl::StatusOr<bool> Quote::Reject(absl::string_view reason, absl::Time now) {
  if (status_ == QuoteStatus::kRejected) return false;
  if (status_ == QuoteStatus::kIssued) {
    return absl::FailedPreconditionError(
        absl::StrCat("quote ", quote_id_, " is ISSUED and cannot be rejected"));
  }
  status_ = QuoteStatus::kRejected;
  rejection_reason_ = std::string(reason);
  Touch(now);
  return true;
}

}  // namespace quoteflow
