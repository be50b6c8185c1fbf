#include "consumers/policy/pg_policy_store.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/pg_guard.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"

namespace quoteflow::workers {
namespace {

const std::string kPolicyColumns = absl::StrCat(
    "policy_id, quote_id, customer_id, premium, status, cancellation_reason, quote_version,"
    " version, ",
    EpochMicros("created_at"), ", ", EpochMicros("updated_at"));

absl::StatusOr<Policy> PolicyFromRow(const pqxx::row& r) {
  ASSIGN_OR_RETURN(PolicyStatus status, ParsePolicyStatus(r[4].as<std::string>()));
  return Policy::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                         r[3].as<int64_t>(), status, r[5].as<std::string>(), r[6].as<int64_t>(),
                         r[7].as<int64_t>(), TimeFromMicros(r[8]), TimeFromMicros(r[9]));
}

// Every statement is a prepared statement (pqxx registers it on a connection the first time it is
// used there and prepares it on the server at its first use; later calls skip parsing and
// planning), as in consumers/orchestrator/pg_saga_store.cc. Names are unique across the stores
// that may share a pool (quoteflow_policy_*); each name has exactly one SQL text.
constexpr char kLockStatement[] = "quoteflow_policy_lock";
constexpr char kIsDeclinedStatement[] = "quoteflow_policy_is_declined";
constexpr char kInsertStatement[] = "quoteflow_policy_insert";
constexpr char kUpdateStatement[] = "quoteflow_policy_update";
constexpr char kInsertDeclineStatement[] = "quoteflow_policy_insert_decline";

constexpr char kIsDeclinedSql[] = "SELECT 1 FROM policy.declined_quotes WHERE quote_id = $1";
constexpr char kInsertSql[] =
    "INSERT INTO policy.policies (policy_id, quote_id, customer_id, premium, status,"
    " cancellation_reason, quote_version, version, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10::timestamptz)";
constexpr char kUpdateSql[] =
    "UPDATE policy.policies SET status = $2, cancellation_reason = $3, version = $4,"
    " updated_at = $5::timestamptz WHERE policy_id = $1 AND version = $6";
constexpr char kInsertDeclineSql[] =
    "INSERT INTO policy.declined_quotes (quote_id, customer_id, premium, reason, declined_at)"
    " VALUES ($1, $2, $3, $4, $5::timestamptz)";

const std::string& LockSql() {
  static const std::string* const sql = new std::string(absl::StrCat(
      "SELECT ", kPolicyColumns, " FROM policy.policies WHERE policy_id = $1 FOR UPDATE"));
  return *sql;
}

// PgPolicyReader's read by `column` ("policy_id" or "quote_id"): one statement per column.
std::string GetWhereStatement(absl::string_view column) {
  return absl::StrCat("quoteflow_policy_get_by_", column);
}
std::string GetWhereSql(absl::string_view column) {
  return absl::StrCat("SELECT ", kPolicyColumns, " FROM policy.policies WHERE ", column, " = $1");
}

}  // namespace

absl::StatusOr<std::optional<Policy>> PgPolicySagaStore::LockPolicy(absl::string_view policy_id) {
  return PgGuard("locking a policy", [&]() -> absl::StatusOr<std::optional<Policy>> {
    tx_.conn().prepare(kLockStatement, LockSql());
    pqxx::result rows = tx_.exec_prepared(kLockStatement, std::string(policy_id));
    if (rows.empty()) return std::optional<Policy>();
    ASSIGN_OR_RETURN(Policy p, PolicyFromRow(rows[0]));
    return std::optional<Policy>(std::move(p));
  });
}

absl::StatusOr<bool> PgPolicySagaStore::IsDeclined(absl::string_view quote_id) {
  return PgGuard("reading declined quotes", [&]() -> absl::StatusOr<bool> {
    tx_.conn().prepare(kIsDeclinedStatement, kIsDeclinedSql);
    return !tx_.exec_prepared(kIsDeclinedStatement, std::string(quote_id)).empty();
  });
}

absl::Status PgPolicySagaStore::InsertPolicy(const Policy& p) {
  return PgGuard("inserting a policy", [&] {
    tx_.conn().prepare(kInsertStatement, kInsertSql);
    tx_.exec_prepared(kInsertStatement, p.policy_id(), p.quote_id(), p.customer_id(), p.premium(),
                      std::string(PolicyStatusName(p.status())), p.cancellation_reason(),
                      p.quote_version(), p.version(), FormatRfc3339(p.created_at()),
                      FormatRfc3339(p.updated_at()));
    return absl::OkStatus();
  });
}

absl::Status PgPolicySagaStore::UpdatePolicy(const Policy& p, int64_t expected_version) {
  return PgGuard("updating a policy", [&] {
    tx_.conn().prepare(kUpdateStatement, kUpdateSql);
    pqxx::result r = tx_.exec_prepared(
        kUpdateStatement, p.policy_id(), std::string(PolicyStatusName(p.status())),
        p.cancellation_reason(), p.version(), FormatRfc3339(p.updated_at()), expected_version);
    if (r.affected_rows() != 1) {
      return absl::AbortedError(absl::StrCat("policy ", p.policy_id(), " changed concurrently"));
    }
    return absl::OkStatus();
  });
}

absl::Status PgPolicySagaStore::InsertDecline(const QuoteDecline& d) {
  return PgGuard("recording a declined quote", [&] {
    tx_.conn().prepare(kInsertDeclineStatement, kInsertDeclineSql);
    tx_.exec_prepared(kInsertDeclineStatement, d.quote_id, d.customer_id, d.premium, d.reason,
                      FormatRfc3339(d.declined_at));
    return absl::OkStatus();
  });
}

absl::Status PgPolicySagaStore::Emit(const DomainEvent& event) {
  return PgGuard("writing the policy outbox", [&] {
    WriteOutboxRow(tx_, outbox_rows_, outbox_, event, traceparent_);
    return absl::OkStatus();
  });
}

absl::StatusOr<Policy> PgPolicyReader::GetById(absl::string_view policy_id) {
  return GetWhere("policy_id", policy_id);
}

absl::StatusOr<Policy> PgPolicyReader::GetByQuote(absl::string_view quote_id) {
  return GetWhere("quote_id", quote_id);
}

absl::StatusOr<Policy> PgPolicyReader::GetWhere(const char* column, absl::string_view value) {
  absl::StatusOr<Policy> result = absl::UnknownError("not run");
  absl::Status status =
      pool_.Run(absl::Now() + acquire_timeout_, "reading a policy", [&](pqxx::connection& conn) {
        const std::string statement = GetWhereStatement(column);
        conn.prepare(statement, GetWhereSql(column));
        pqxx::read_transaction tx(conn);
        pqxx::result rows = tx.exec_prepared(statement, std::string(value));
        if (rows.empty()) {
          result = absl::NotFoundError(absl::StrCat(
              "no policy with ", column, " ", value,
              column == std::string("quote_id") ? " (a quote refused by underwriting has none)"
                                                : ""));
        } else {
          result = PolicyFromRow(rows[0]);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

}  // namespace quoteflow::workers
