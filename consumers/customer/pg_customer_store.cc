#include "consumers/customer/pg_customer_store.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/pg_guard.h"
#include "domain/errors.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"

namespace quoteflow::workers {
namespace {

std::string CustomerColumns(absl::string_view t) {
  return absl::StrCat(t, ".customer_id, ", t, ".name, ", t, ".max_policies, ", t, ".policy_count, ",
                      t, ".version, ", EpochMicros(absl::StrCat(t, ".created_at")), ", ",
                      EpochMicros(absl::StrCat(t, ".updated_at")));
}

Customer CustomerFromRow(const pqxx::row& r) {
  return Customer::Restore(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                           r[3].as<int64_t>(), r[4].as<int64_t>(), TimeFromMicros(r[5]),
                           TimeFromMicros(r[6]));
}

absl::Time TruncateToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

absl::Status NotFound(absl::string_view customer_id) {
  return absl::NotFoundError(absl::StrCat("customer ", customer_id, " not found"));
}

// Every statement is a prepared statement (pqxx registers it on a connection the first time it is
// used there and prepares it on the server at its first use; later calls skip parsing and
// planning), as in consumers/orchestrator/pg_saga_store.cc. Names are unique across the stores
// that may share a pool (quoteflow_customer_*); each name has exactly one SQL text.
constexpr char kLockStatement[] = "quoteflow_customer_lock";
constexpr char kFindEntryStatement[] = "quoteflow_customer_find_entry";
constexpr char kUpdateStatement[] = "quoteflow_customer_update";
constexpr char kSaveEntryStatement[] = "quoteflow_customer_save_entry";
constexpr char kClaimRequestStatement[] = "quoteflow_customer_claim_request";
constexpr char kPriorRequestStatement[] = "quoteflow_customer_prior_request";
constexpr char kInsertStatement[] = "quoteflow_customer_insert";
constexpr char kGetStatement[] = "quoteflow_customer_get";

constexpr char kUpdateSql[] =
    "UPDATE customer.customers SET policy_count = $2, version = $3,"
    " updated_at = $4::timestamptz WHERE customer_id = $1 AND version = $5";
constexpr char kSaveEntrySql[] =
    "INSERT INTO customer.policy_counts (policy_id, customer_id, quote_id, status, reason,"
    " updated_at) VALUES ($1, $2, $3, $4, $5, $6::timestamptz)"
    " ON CONFLICT (policy_id) DO UPDATE SET status = EXCLUDED.status,"
    " reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at";
constexpr char kClaimRequestSql[] =
    "INSERT INTO customer.requests (request_id, customer_id) VALUES ($1, $2)"
    " ON CONFLICT (request_id) DO NOTHING RETURNING 1";
constexpr char kInsertSql[] =
    "INSERT INTO customer.customers (customer_id, name, max_policies, policy_count,"
    " version, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz)"
    " ON CONFLICT (customer_id) DO NOTHING RETURNING 1";

const std::string& LockSql() {
  static const std::string* const sql =
      new std::string(absl::StrCat("SELECT ", CustomerColumns("c"),
                                   " FROM customer.customers c WHERE customer_id = $1 FOR UPDATE"));
  return *sql;
}

const std::string& FindEntrySql() {
  static const std::string* const sql = new std::string(
      absl::StrCat("SELECT policy_id, customer_id, quote_id, status, reason, ",
                   EpochMicros("updated_at"), " FROM customer.policy_counts WHERE policy_id = $1"));
  return *sql;
}

const std::string& PriorRequestSql() {
  static const std::string* const sql =
      new std::string(absl::StrCat("SELECT ", CustomerColumns("c"),
                                   " FROM customer.requests r JOIN customer.customers c"
                                   " USING (customer_id) WHERE r.request_id = $1"));
  return *sql;
}

const std::string& GetSql() {
  static const std::string* const sql = new std::string(absl::StrCat(
      "SELECT ", CustomerColumns("c"), " FROM customer.customers c WHERE customer_id = $1"));
  return *sql;
}

}  // namespace

absl::StatusOr<std::optional<Customer>> PgCustomerSagaStore::LockCustomer(
    absl::string_view customer_id) {
  return PgGuard("locking a customer", [&]() -> absl::StatusOr<std::optional<Customer>> {
    tx_.conn().prepare(kLockStatement, LockSql());
    pqxx::result rows = tx_.exec_prepared(kLockStatement, std::string(customer_id));
    if (rows.empty()) return std::optional<Customer>();
    return std::optional<Customer>(CustomerFromRow(rows[0]));
  });
}

absl::StatusOr<std::optional<PolicyCountEntry>> PgCustomerSagaStore::FindEntry(
    absl::string_view policy_id) {
  return PgGuard(
      "reading a policy count entry", [&]() -> absl::StatusOr<std::optional<PolicyCountEntry>> {
        tx_.conn().prepare(kFindEntryStatement, FindEntrySql());
        pqxx::result rows = tx_.exec_prepared(kFindEntryStatement, std::string(policy_id));
        if (rows.empty()) return std::optional<PolicyCountEntry>();
        const pqxx::row r = rows[0];
        ASSIGN_OR_RETURN(PolicyCountStatus status, ParsePolicyCountStatus(r[3].as<std::string>()));
        return std::optional<PolicyCountEntry>(
            PolicyCountEntry{.policy_id = r[0].as<std::string>(),
                             .customer_id = r[1].as<std::string>(),
                             .quote_id = r[2].as<std::string>(),
                             .status = status,
                             .reason = r[4].as<std::string>(),
                             .updated_at = TimeFromMicros(r[5])});
      });
}

absl::Status PgCustomerSagaStore::UpdateCustomer(const Customer& c, int64_t expected_version) {
  return PgGuard("updating a customer", [&] {
    tx_.conn().prepare(kUpdateStatement, kUpdateSql);
    pqxx::result r =
        tx_.exec_prepared(kUpdateStatement, c.customer_id(), c.policy_count(), c.version(),
                          FormatRfc3339(c.updated_at()), expected_version);
    if (r.affected_rows() != 1) {
      return absl::AbortedError(
          absl::StrCat("customer ", c.customer_id(), " changed concurrently"));
    }
    return absl::OkStatus();
  });
}

absl::Status PgCustomerSagaStore::SaveEntry(const PolicyCountEntry& e) {
  return PgGuard("saving a policy count entry", [&] {
    tx_.conn().prepare(kSaveEntryStatement, kSaveEntrySql);
    tx_.exec_prepared(kSaveEntryStatement, e.policy_id, e.customer_id, e.quote_id,
                      std::string(PolicyCountStatusName(e.status)), e.reason,
                      FormatRfc3339(e.updated_at));
    return absl::OkStatus();
  });
}

absl::Status PgCustomerSagaStore::Emit(const DomainEvent& event) {
  return PgGuard("writing the customer outbox", [&] {
    WriteOutboxRow(tx_, outbox_rows_, outbox_, event, traceparent_);
    return absl::OkStatus();
  });
}

absl::StatusOr<Customer> PgCustomerRepository::Insert(absl::string_view request_id,
                                                      const Customer& customer) {
  absl::StatusOr<Customer> result = absl::UnknownError("not run");
  absl::Status status = pool_.Run(
      absl::Now() + acquire_timeout_, absl::StrCat("creating customer ", customer.customer_id()),
      [&](pqxx::connection& conn) -> absl::Status {
        conn.prepare(kClaimRequestStatement, kClaimRequestSql);
        conn.prepare(kPriorRequestStatement, PriorRequestSql());
        conn.prepare(kInsertStatement, kInsertSql);
        pqxx::work tx(conn);
        const std::string rid(request_id);
        if (!rid.empty()) {
          // A concurrent copy of the request blocks here until the first one ends.
          pqxx::result claimed =
              tx.exec_prepared(kClaimRequestStatement, rid, customer.customer_id());
          if (claimed.empty()) {
            pqxx::result prior = tx.exec_prepared(kPriorRequestStatement, rid);
            if (prior.empty()) {
              result = InvalidField("request_id", "was already used for a different request");
              return absl::OkStatus();
            }
            Customer first = CustomerFromRow(prior[0]);
            if (first.customer_id() != customer.customer_id() || first.name() != customer.name() ||
                first.max_policies() != customer.max_policies()) {
              result = InvalidField("request_id", "was already used for a different request");
              return absl::OkStatus();
            }
            // The customer as this request created it, not as the saga changed it since.
            result = Customer::Restore(first.customer_id(), first.name(), first.max_policies(), 0,
                                       1, first.created_at(), first.created_at());
            return absl::OkStatus();
          }
        }
        pqxx::result inserted = tx.exec_prepared(
            kInsertStatement, customer.customer_id(), customer.name(), customer.max_policies(),
            customer.policy_count(), customer.version(), FormatRfc3339(customer.created_at()),
            FormatRfc3339(customer.updated_at()));
        if (inserted.empty()) {
          result = absl::AlreadyExistsError(
              absl::StrCat("customer ", customer.customer_id(), " already exists"));
          return absl::OkStatus();  // rolled back: the request id stays free
        }
        tx.commit();
        // Timestamps at the database's (microsecond) precision, as a repeat would return them.
        result = Customer::Restore(customer.customer_id(), customer.name(), customer.max_policies(),
                                   customer.policy_count(), customer.version(),
                                   TruncateToMicros(customer.created_at()),
                                   TruncateToMicros(customer.updated_at()));
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<Customer> PgCustomerRepository::Get(absl::string_view customer_id) {
  absl::StatusOr<Customer> result = absl::UnknownError("not run");
  absl::Status status =
      pool_.Run(absl::Now() + acquire_timeout_, absl::StrCat("reading customer ", customer_id),
                [&](pqxx::connection& conn) {
                  conn.prepare(kGetStatement, GetSql());
                  pqxx::read_transaction tx(conn);
                  pqxx::result rows = tx.exec_prepared(kGetStatement, std::string(customer_id));
                  result = rows.empty() ? absl::StatusOr<Customer>(NotFound(customer_id))
                                        : absl::StatusOr<Customer>(CustomerFromRow(rows[0]));
                  return absl::OkStatus();
                });
  if (!status.ok()) return status;
  return result;
}

}  // namespace quoteflow::workers
