#include "consumers/quote/pg_quote_saga_store.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/pg_guard.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"

namespace quoteflow::workers {

absl::StatusOr<Quote> PgQuoteSagaStore::LockQuote(absl::string_view quote_id) {
  return PgGuard("locking a quote", [&]() -> absl::StatusOr<Quote> {
    pqxx::result rows = tx_.exec_params(
        absl::StrCat("SELECT quote_id, customer_id, premium, status, version, rejection_reason, ",
                     EpochMicros("created_at"), ", ", EpochMicros("updated_at"),
                     " FROM quote.quotes WHERE quote_id = $1 FOR UPDATE"),
        std::string(quote_id));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("quote ", quote_id, " not found"));
    const pqxx::row r = rows[0];
    ASSIGN_OR_RETURN(QuoteStatus status, ParseQuoteStatus(r[3].as<std::string>()));
    return Quote::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                          status, r[4].as<int64_t>(), r[5].as<std::string>(), TimeFromMicros(r[6]),
                          TimeFromMicros(r[7]));
  });
}

absl::Status PgQuoteSagaStore::UpdateQuote(const Quote& q, int64_t expected_version) {
  return PgGuard("updating a quote", [&] {
    pqxx::result r = tx_.exec_params(
        "UPDATE quote.quotes SET status = $2, version = $3, rejection_reason = $4,"
        " updated_at = $5::timestamptz WHERE quote_id = $1 AND version = $6",
        q.quote_id(), std::string(QuoteStatusName(q.status())), q.version(), q.rejection_reason(),
        FormatRfc3339(q.updated_at()), expected_version);
    if (r.affected_rows() != 1) {
      return absl::AbortedError(absl::StrCat("quote ", q.quote_id(), " changed concurrently"));
    }
    return absl::OkStatus();
  });
}

}  // namespace quoteflow::workers
