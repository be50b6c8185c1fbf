#include "domain/testing/fakes.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"

namespace quoteflow::testing {

std::string SequentialIds::NewId() {
  absl::MutexLock lock(&mu_);
  return absl::StrCat(prefix_, next_++);
}

absl::StatusOr<Quote> InMemoryQuoteRepository::Insert(absl::string_view request_id,
                                                      const Quote& quote) {
  absl::MutexLock lock(&mu_);
  if (!request_id.empty()) {
    if (auto it = requests_.find(request_id); it != requests_.end()) {
      if (it->second.operation != "create") {
        return InvalidField("request_id", "was already used for a different request");
      }
      return quotes_.at(it->second.quote_id);
    }
    requests_.insert_or_assign(std::string(request_id),
                               Request{"create", quote.quote_id(), {quote, {}}});
  }
  quotes_.insert_or_assign(quote.quote_id(), quote);
  return quote;
}

absl::StatusOr<QuoteCommandResult> InMemoryQuoteRepository::Update(absl::string_view request_id,
                                                                   absl::string_view quote_id,
                                                                   Decide decide) {
  absl::MutexLock lock(&mu_);
  if (!request_id.empty()) {
    if (auto it = requests_.find(request_id); it != requests_.end()) {
      if (it->second.operation != "approve" || it->second.quote_id != quote_id) {
        return InvalidField("request_id", "was already used for a different request");
      }
      return it->second.result;
    }
  }
  auto it = quotes_.find(quote_id);
  if (it == quotes_.end())
    return absl::NotFoundError(absl::StrCat("quote ", quote_id, " not found"));
  Quote working = it->second;
  absl::StatusOr<std::vector<DomainEvent>> events = decide(working);
  if (!events.ok()) return events.status();
  QuoteCommandResult result{working, {}};
  for (DomainEvent& e : *events) {
    result.event_ids.push_back(e.event_id);
    outbox_.push_back(std::move(e));
  }
  it->second = working;
  if (!request_id.empty()) {
    requests_.insert_or_assign(std::string(request_id),
                               Request{"approve", std::string(quote_id), result});
  }
  return result;
}

absl::StatusOr<Quote> InMemoryQuoteRepository::Get(absl::string_view quote_id) {
  absl::MutexLock lock(&mu_);
  auto it = quotes_.find(quote_id);
  if (it == quotes_.end())
    return absl::NotFoundError(absl::StrCat("quote ", quote_id, " not found"));
  return it->second;
}

std::vector<DomainEvent> InMemoryQuoteRepository::outbox() const {
  absl::MutexLock lock(&mu_);
  return outbox_;
}

}  // namespace quoteflow::testing
