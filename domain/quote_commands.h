// Application service for the Quote aggregate: validates commands, loads the quote through the
// QuoteRepository port, lets the aggregate decide, and has the repository store state + events
// atomically. Thread-safe if its ports are.
#ifndef QUOTEFLOW_DOMAIN_QUOTE_COMMANDS_H_
#define QUOTEFLOW_DOMAIN_QUOTE_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "domain/clock.h"
#include "domain/quote.h"
#include "domain/quote_repository.h"

namespace quoteflow {

struct CreateQuoteCommand {
  std::string customer_id;
  int64_t premium = 0;
  std::string request_id;  // optional idempotency key
};

struct ApproveQuoteCommand {
  std::string quote_id;
  std::string request_id;        // optional idempotency key
  int64_t expected_version = 0;  // 0: don't check
  std::string traceparent;       // W3C trace context for the event ("": a new trace)
};

struct ApproveQuoteResult {
  Quote quote;
  std::string event_id;  // of the QuoteApproved event
};

class QuoteCommands {
 public:
  QuoteCommands(QuoteRepository& repository, Clock& clock, IdGenerator& ids)
      : repository_(repository), clock_(clock), ids_(ids) {}

  // INVALID_ARGUMENT naming the field; otherwise as QuoteRepository::Insert.
  absl::StatusOr<Quote> CreateQuote(const CreateQuoteCommand& command);

  // DRAFT -> APPROVED plus one QuoteApproved event, atomically. A repeated request id returns the
  // original result. Errors: INVALID_ARGUMENT (field named), NOT_FOUND, ABORTED (expected_version
  // is not the current version), FAILED_PRECONDITION (quote not DRAFT), UNAVAILABLE.
  absl::StatusOr<ApproveQuoteResult> ApproveQuote(const ApproveQuoteCommand& command);

  // ApproveQuote without waiting for the write: calls `done` once with its result, maybe on
  // another thread (QuoteRepository::UpdateThen's), maybe before returning.
  using ApproveQuoteDone = std::function<void(absl::StatusOr<ApproveQuoteResult> result)>;
  void ApproveQuoteThen(ApproveQuoteCommand command, ApproveQuoteDone done);

  // INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE.
  absl::StatusOr<Quote> GetQuote(const std::string& quote_id);

 private:
  static absl::Status Validate(const ApproveQuoteCommand& command);
  // The approval's decision on the quote, at the time of the call.
  QuoteRepository::OwnedDecide Approval(ApproveQuoteCommand command);
  static absl::StatusOr<ApproveQuoteResult> ApprovalResult(
      const std::string& quote_id, absl::StatusOr<QuoteCommandResult> result);

  QuoteRepository& repository_;
  Clock& clock_;
  IdGenerator& ids_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_QUOTE_COMMANDS_H_
