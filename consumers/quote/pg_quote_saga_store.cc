#include "consumers/quote/pg_quote_saga_store.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/pg_guard.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"

namespace quoteflow::workers {
namespace {

// Both statements are prepared statements (pqxx registers them on a connection the first time they
// are used there and prepares them on the server at their first use; later calls skip parsing and
// planning), as in consumers/orchestrator/pg_saga_store.cc. The names differ from
// platform/postgres/pg_quote_repository.cc's (quoteflow_quote_*), which may share a pool.
constexpr char kLockStatement[] = "quoteflow_quote_saga_lock";
constexpr char kUpdateStatement[] = "quoteflow_quote_saga_update";

constexpr char kUpdateSql[] =
    "UPDATE quote.quotes SET status = $2, version = $3, rejection_reason = $4,"
    " updated_at = $5::timestamptz WHERE quote_id = $1 AND version = $6";

const std::string& LockSql() {
  static const std::string* const sql = new std::string(
      absl::StrCat("SELECT quote_id, customer_id, premium, status, version, rejection_reason, ",
                   EpochMicros("created_at"), ", ", EpochMicros("updated_at"),
                   " FROM quote.quotes WHERE quote_id = $1 FOR UPDATE"));
  return *sql;
}

}  // namespace

absl::StatusOr<Quote> PgQuoteSagaStore::LockQuote(absl::string_view quote_id) {
  return PgGuard("locking a quote", [&]() -> absl::StatusOr<Quote> {
    tx_.conn().prepare(kLockStatement, LockSql());
    pqxx::result rows = tx_.exec_prepared(kLockStatement, std::string(quote_id));
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
    tx_.conn().prepare(kUpdateStatement, kUpdateSql);
    pqxx::result r = tx_.exec_prepared(
        kUpdateStatement, q.quote_id(), std::string(QuoteStatusName(q.status())), q.version(),
        q.rejection_reason(), FormatRfc3339(q.updated_at()), expected_version);
    if (r.affected_rows() != 1) {
      return absl::AbortedError(absl::StrCat("quote ", q.quote_id(), " changed concurrently"));
    }
    return absl::OkStatus();
  });
}

}  // namespace quoteflow::workers
