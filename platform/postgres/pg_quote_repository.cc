#include "platform/postgres/pg_quote_repository.h"

#include "absl/strings/str_cat.h"
#include "domain/errors.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/pg_errors.h"

namespace quoteflow {
namespace {

// Timestamps cross the wire as RFC 3339 text and are read back as epoch microseconds.
constexpr char kQuoteColumns[] =
    "q.quote_id, q.customer_id, q.premium, q.status, q.version, q.rejection_reason,"
    " (extract(epoch from q.created_at) * 1000000)::bigint,"
    " (extract(epoch from q.updated_at) * 1000000)::bigint";

absl::StatusOr<Quote> QuoteFromRow(const pqxx::row& r) {
  ASSIGN_OR_RETURN(QuoteStatus status, ParseQuoteStatus(r[3].as<std::string>()));
  return Quote::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(), status,
                        r[4].as<int64_t>(), r[5].as<std::string>(),
                        absl::FromUnixMicros(r[6].as<int64_t>()),
                        absl::FromUnixMicros(r[7].as<int64_t>()));
}

absl::Status RequestIdReused() {
  return InvalidField("request_id", "was already used for a different request");
}

absl::Status NotFound(absl::string_view quote_id) {
  return absl::NotFoundError(absl::StrCat("quote ", quote_id, " not found"));
}

}  // namespace

PgQuoteRepository::PgQuoteRepository(PgPool& pool, OutboxTarget outbox,
                                     absl::Duration acquire_timeout)
    : pool_(pool), outbox_(std::move(outbox)), acquire_timeout_(acquire_timeout) {}

absl::StatusOr<Quote> PgQuoteRepository::Insert(absl::string_view request_id, const Quote& quote) {
  absl::StatusOr<Quote> result = absl::UnknownError("not run");
  absl::Status status =
      pool_.Run(absl::Now() + acquire_timeout_, "creating a quote", [&](pqxx::connection& conn) {
        pqxx::work tx(conn);
        const std::string rid(request_id);
        if (!rid.empty()) {
          // A concurrent duplicate blocks on the primary key until this transaction ends.
          pqxx::result claimed = tx.exec_params(
              "INSERT INTO quote.requests (request_id, operation, quote_id, status, version,"
              " updated_at) VALUES ($1, 'create', $2, $3, $4, $5::timestamptz)"
              " ON CONFLICT (request_id) DO NOTHING RETURNING 1",
              rid, quote.quote_id(), std::string(QuoteStatusName(quote.status())), quote.version(),
              FormatRfc3339(quote.updated_at()));
          if (claimed.empty()) {
            pqxx::result prior = tx.exec_params(
                absl::StrCat("SELECT ", kQuoteColumns,
                             ", r.operation, r.status, r.version, r.rejection_reason,"
                             " (extract(epoch from r.updated_at) * 1000000)::bigint"
                             " FROM quote.requests r JOIN quote.quotes q USING (quote_id)"
                             " WHERE r.request_id = $1"),
                rid);
            if (prior.empty() || prior[0][8].as<std::string>() != "create") {
              result = RequestIdReused();
              return absl::OkStatus();
            }
            // The quote as this request left it, not as later commands changed it.
            const pqxx::row r = prior[0];
            ASSIGN_OR_RETURN(QuoteStatus recorded, ParseQuoteStatus(r[9].as<std::string>()));
            result =
                Quote::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                               recorded, r[10].as<int64_t>(), r[11].as<std::string>(),
                               absl::FromUnixMicros(r[6].as<int64_t>()),
                               absl::FromUnixMicros(r[12].as<int64_t>()));
            return absl::OkStatus();
          }
        }
        tx.exec_params(
            "INSERT INTO quote.quotes (quote_id, customer_id, premium, status, version,"
            " rejection_reason, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz)",
            quote.quote_id(), quote.customer_id(), quote.premium(),
            std::string(QuoteStatusName(quote.status())), quote.version(), quote.rejection_reason(),
            FormatRfc3339(quote.created_at()), FormatRfc3339(quote.updated_at()));
        tx.commit();
        result = quote;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<QuoteCommandResult> PgQuoteRepository::Update(absl::string_view request_id,
                                                             absl::string_view quote_id,
                                                             Decide decide) {
  absl::StatusOr<QuoteCommandResult> result = absl::UnknownError("not run");
  absl::Status status = pool_.Run(
      absl::Now() + acquire_timeout_, absl::StrCat("changing quote ", quote_id),
      [&](pqxx::connection& conn) -> absl::Status {
        pqxx::work tx(conn);
        const std::string rid(request_id);
        const std::string qid(quote_id);
        // Lock the quote first: concurrent commands on it queue here. Only then look for the
        // request's record, in a new statement, so that a repeat of a request that committed while
        // we waited sees it (a join in the locking statement would read the old snapshot).
        pqxx::result rows =
            tx.exec_params(absl::StrCat("SELECT ", kQuoteColumns,
                                        " FROM quote.quotes q WHERE q.quote_id = $1 FOR UPDATE"),
                           qid);
        if (rows.empty()) {
          result = NotFound(quote_id);
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(Quote quote, QuoteFromRow(rows[0]));
        if (!rid.empty()) {
          pqxx::result prior = tx.exec_params(
              "SELECT operation, quote_id, status, version, rejection_reason,"
              " (extract(epoch from updated_at) * 1000000)::bigint, event_id"
              " FROM quote.requests WHERE request_id = $1",
              rid);
          if (!prior.empty()) {
            const pqxx::row r = prior[0];
            if (r[0].as<std::string>() != "approve" || r[1].as<std::string>() != qid) {
              result = RequestIdReused();
              return absl::OkStatus();
            }
            ASSIGN_OR_RETURN(QuoteStatus recorded, ParseQuoteStatus(r[2].as<std::string>()));
            QuoteCommandResult recorded_result{
                Quote::Restore(quote.quote_id(), quote.customer_id(), quote.premium(), recorded,
                               r[3].as<int64_t>(), r[4].as<std::string>(), quote.created_at(),
                               absl::FromUnixMicros(r[5].as<int64_t>())),
                {}};
            if (!r[6].is_null()) recorded_result.event_ids.push_back(r[6].as<std::string>());
            result = std::move(recorded_result);
            return absl::OkStatus();
          }
        }
        const int64_t old_version = quote.version();
        absl::StatusOr<std::vector<DomainEvent>> events = decide(quote);
        if (!events.ok()) {
          result = events.status();
          return absl::OkStatus();
        }
        pqxx::result updated = tx.exec_params(
            "UPDATE quote.quotes SET status = $2, version = $3, rejection_reason = $4,"
            " updated_at = $5::timestamptz WHERE quote_id = $1 AND version = $6",
            qid, std::string(QuoteStatusName(quote.status())), quote.version(),
            quote.rejection_reason(), FormatRfc3339(quote.updated_at()), old_version);
        if (updated.affected_rows() != 1) {
          return absl::AbortedError(absl::StrCat("quote ", quote_id, " changed concurrently"));
        }
        QuoteCommandResult done{quote, {}};
        for (const DomainEvent& e : *events) {
          InsertOutboxRow(tx, outbox_, e);
          done.event_ids.push_back(e.event_id);
        }
        if (!rid.empty()) {
          tx.exec_params(
              "INSERT INTO quote.requests (request_id, operation, quote_id, status, version,"
              " rejection_reason, updated_at, event_id)"
              " VALUES ($1, 'approve', $2, $3, $4, $5, $6::timestamptz, NULLIF($7, ''))",
              rid, qid, std::string(QuoteStatusName(quote.status())), quote.version(),
              quote.rejection_reason(), FormatRfc3339(quote.updated_at()),
              done.event_ids.empty() ? std::string() : done.event_ids.front());
        }
        if (before_commit_) RETURN_IF_ERROR(before_commit_());
        tx.commit();
        result = std::move(done);
        return absl::OkStatus();
      });
  if (status.code() == absl::StatusCode::kAlreadyExists) {
    // The request id was claimed concurrently by a request for another quote.
    return RequestIdReused();
  }
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<Quote> PgQuoteRepository::Get(absl::string_view quote_id) {
  absl::StatusOr<Quote> result = absl::UnknownError("not run");
  absl::Status status = pool_.Run(
      absl::Now() + acquire_timeout_, absl::StrCat("reading quote ", quote_id),
      [&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        pqxx::result rows = tx.exec_params(
            absl::StrCat("SELECT ", kQuoteColumns, " FROM quote.quotes q WHERE q.quote_id = $1"),
            std::string(quote_id));
        result = rows.empty() ? absl::StatusOr<Quote>(NotFound(quote_id)) : QuoteFromRow(rows[0]);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

}  // namespace quoteflow
