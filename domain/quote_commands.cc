#include "domain/quote_commands.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"
#include "domain/status_macros.h"

namespace quoteflow {
namespace {

absl::Status ValidateRequestId(const std::string& request_id) {
  return request_id.empty() ? absl::OkStatus() : ValidateId("request_id", request_id);
}

}  // namespace

absl::StatusOr<Quote> QuoteCommands::CreateQuote(const CreateQuoteCommand& command) {
  RETURN_IF_ERROR(ValidateRequestId(command.request_id));
  ASSIGN_OR_RETURN(Quote quote,
                   Quote::Create(ids_.NewId(), command.customer_id, command.premium, clock_.Now()));
  return repository_.Insert(command.request_id, quote);
}

absl::StatusOr<ApproveQuoteResult> QuoteCommands::ApproveQuote(const ApproveQuoteCommand& command) {
  RETURN_IF_ERROR(Validate(command));
  return ApprovalResult(
      command.quote_id,
      repository_.Update(command.request_id, command.quote_id, Approval(command)));
}

void QuoteCommands::ApproveQuoteThen(ApproveQuoteCommand command, ApproveQuoteDone done) {
  if (absl::Status invalid = Validate(command); !invalid.ok()) {
    done(std::move(invalid));
    return;
  }
  // Copies: `command` moves into the decision.
  std::string request_id = command.request_id;
  std::string quote_id = command.quote_id;
  repository_.UpdateThen(
      std::move(request_id), quote_id, Approval(std::move(command)),
      [quote_id, done = std::move(done)](absl::StatusOr<QuoteCommandResult> result) {
        done(ApprovalResult(quote_id, std::move(result)));
      });
}

absl::Status QuoteCommands::Validate(const ApproveQuoteCommand& command) {
  RETURN_IF_ERROR(ValidateId("quote_id", command.quote_id));
  RETURN_IF_ERROR(ValidateRequestId(command.request_id));
  if (command.expected_version < 0) {
    return InvalidField("expected_version", "must be 0 (don't check) or a positive version");
  }
  return absl::OkStatus();
}

QuoteRepository::OwnedDecide QuoteCommands::Approval(ApproveQuoteCommand command) {
  return [this, command = std::move(command),
          now = clock_.Now()](Quote& quote) -> absl::StatusOr<std::vector<DomainEvent>> {
    if (command.expected_version != 0 && quote.version() != command.expected_version) {
      return absl::AbortedError(absl::StrCat("version conflict: quote ", quote.quote_id(),
                                             " is at version ", quote.version(),
                                             ", expected_version was ", command.expected_version));
    }
    ASSIGN_OR_RETURN(QuoteApproved approved, quote.Approve(now));
    DomainEvent event{.event_id = ids_.NewId(),
                      .aggregate_id = quote.quote_id(),
                      .quote_id = quote.quote_id(),
                      .aggregate_version = quote.version(),
                      .occurred_at = now,
                      .payload = std::move(approved),
                      .traceparent = command.traceparent};
    return std::vector<DomainEvent>{std::move(event)};
  };
}

absl::StatusOr<ApproveQuoteResult> QuoteCommands::ApprovalResult(
    const std::string& quote_id, absl::StatusOr<QuoteCommandResult> result) {
  if (!result.ok()) return std::move(result).status();
  if (result->event_ids.size() != 1) {
    return absl::InternalError(absl::StrCat("approval of quote ", quote_id, " recorded ",
                                            result->event_ids.size(), " events, want 1"));
  }
  return ApproveQuoteResult{std::move(result->quote), std::move(result->event_ids.front())};
}

absl::StatusOr<Quote> QuoteCommands::GetQuote(const std::string& quote_id) {
  RETURN_IF_ERROR(ValidateId("quote_id", quote_id));
  return repository_.Get(quote_id);
}

}  // namespace quoteflow
