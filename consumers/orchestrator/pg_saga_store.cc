#include "consumers/orchestrator/pg_saga_store.h"

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "consumers/common/pg_guard.h"
#include "consumers/orchestrator/saga_topics.h"
#include "platform/events/command_codec.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/outbox_writer.h"
#include "platform/postgres/pg_array.h"

namespace quoteflow::workers {

const char kSagaColumns[] =
    "quote_id, customer_id, policy_id, premium, quote_version, state, step, attempt, "
    "step_attempts, (extract(epoch from deadline) * 1000000)::bigint, failure_reason, "
    "stuck_reason, version, (extract(epoch from created_at) * 1000000)::bigint, "
    "(extract(epoch from updated_at) * 1000000)::bigint";

Saga SagaFromRow(const pqxx::row& r) {
  Saga s;
  s.quote_id = r[0].as<std::string>();
  s.customer_id = r[1].as<std::string>();
  s.policy_id = r[2].as<std::string>();
  s.premium = r[3].as<int64_t>();
  s.quote_version = r[4].as<int64_t>();
  // The CHECK constraints keep these parseable.
  s.state = ParseSagaState(r[5].as<std::string>()).value_or(SagaState::kStuck);
  s.step = ParseSagaStep(r[6].as<std::string>()).value_or(SagaStep::kCreatePolicy);
  s.attempt = r[7].as<int>();
  s.step_attempts = r[8].as<int>();
  if (!r[9].is_null()) s.deadline = TimeFromMicros(r[9]);
  s.failure_reason = r[10].as<std::string>();
  s.stuck_reason = r[11].as<std::string>();
  s.version = r[12].as<int64_t>();
  s.created_at = TimeFromMicros(r[13]);
  s.updated_at = TimeFromMicros(r[14]);
  return s;
}

namespace {

// Every statement of the consumer path is a prepared statement (pqxx registers it on a connection
// the first time it is used there and prepares it on the server at its first use; later calls skip
// parsing and planning), as in platform/postgres/pg_quote_repository.cc. A decision is written in
// ONE statement (saga row, history, commands), so an event costs one round trip, its write,
// besides its share of the batch's lock (LockAll) and inbox statements.
constexpr char kLockStatement[] = "quoteflow_saga_lock";
constexpr char kLockExpiredStatement[] = "quoteflow_saga_lock_expired";

// The database's clock: now() is the transaction's start, one clock for every orchestrator host.
// Each locking statement returns it as the last column (kNowColumn), so reading it costs no round
// trip.
constexpr char kNowColumn[] = "(extract(epoch from now()) * 1000000)::bigint";
constexpr int kNowIndex = 15;  // after kSagaColumns' 15 columns

// The sagas of the quote ids $1 (text[]), locked in quote id order (the row locks are taken above
// the sort). At least one row, its saga columns NULL when none exists, so that the clock comes
// with it: a new saga costs no round trip for it.
const std::string& LockSql() {
  static const std::string* const sql = new std::string(absl::StrCat(
      "SELECT ", kSagaColumns, ", ", kNowColumn,
      " FROM (VALUES (1)) AS one (x) LEFT JOIN LATERAL (SELECT * FROM saga.sagas"
      " WHERE quote_id = ANY($1::text[]) ORDER BY quote_id FOR UPDATE) AS s ON true"));
  return *sql;
}

// `deadline <= now()`: deadlines are compared with the database's clock, never a host's.
const std::string& LockExpiredSql() {
  static const std::string* const sql =
      new std::string(absl::StrCat("SELECT ", kSagaColumns, ", ", kNowColumn,
                                   " FROM saga.sagas WHERE deadline <= now() ORDER BY deadline"
                                   " LIMIT $1 FOR UPDATE SKIP LOCKED"));
  return *sql;
}

std::optional<std::string> DeadlineText(const Saga& s) {
  if (!s.deadline.has_value()) return std::nullopt;
  return FormatRfc3339(*s.deadline);
}

// Parameters of the saga row: $1..$14 of the insert, $1..$10 of the update.
constexpr int kInsertParams = 14;
constexpr int kUpdateParams = 10;
constexpr int kHistoryParams = 5;
constexpr int kCommandParams = 11;

// The statement that writes a decision of this shape: the saga row (inserted, or updated only if
// its version is still the one read) in the CTE `s`, then `histories` history rows and `commands`
// outbox rows, each only if `s` wrote the saga row. Returns the number of saga rows written (0 or
// 1). The rows of a multi-row VALUES list are inserted in their order (bigserial seq follows it,
// as it did with one INSERT per row).
std::string WriteSql(bool is_new, int histories, int commands) {
  std::string sql = "WITH s AS (";
  if (is_new) {
    absl::StrAppend(
        &sql,
        "INSERT INTO saga.sagas (quote_id, customer_id, policy_id, premium, quote_version, state,"
        " step, attempt, step_attempts, deadline, failure_reason, stuck_reason, version,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10::timestamptz, $11, $12, 1, $13::timestamptz, $14::timestamptz) RETURNING quote_id)");
  } else {
    absl::StrAppend(&sql,
                    "UPDATE saga.sagas SET state = $2, step = $3, attempt = $4, step_attempts = $5,"
                    " deadline = $6::timestamptz, failure_reason = $7, stuck_reason = $8,"
                    " version = version + 1, updated_at = $9::timestamptz"
                    " WHERE quote_id = $1 AND version = $10 RETURNING quote_id)");
  }
  // One VALUES row of parameters numbered on from `next`, with these casts (appended one by one:
  // the order in which a call's arguments are evaluated is unspecified).
  int next = is_new ? kInsertParams : kUpdateParams;
  auto append_row = [&sql, &next](std::initializer_list<const char*> casts, bool first) {
    sql += first ? "(" : ", (";
    const char* separator = "";
    for (const char* cast : casts) {
      ++next;
      absl::StrAppend(&sql, separator, "$", next, cast);
      separator = ", ";
    }
    sql += ")";
  };
  if (histories > 0) {
    absl::StrAppend(
        &sql,
        ", h AS (INSERT INTO saga.history (quote_id, at, step, attempt, outcome, detail)"
        " SELECT s.quote_id, v.at, v.step, v.attempt, v.outcome, v.detail FROM s,"
        " (VALUES ");
    for (int i = 0; i < histories; ++i) {
      append_row({"::timestamptz", "::text", "::int", "::text", "::text"}, i == 0);
    }
    absl::StrAppend(&sql, ") AS v (at, step, attempt, outcome, detail))");
  }
  if (commands > 0) {
    absl::StrAppend(
        &sql,
        ", o AS (INSERT INTO saga.outbox (event_id, event_type, aggregate_type, aggregate_id,"
        " aggregate_version, quote_id, topic, payload, source, traceparent, occurred_at)"
        " SELECT v.* FROM s, (VALUES ");
    for (int i = 0; i < commands; ++i) {
      append_row({"::text", "::text", "::text", "::text", "::bigint", "::text", "::text", "::text",
                  "::text", "::text", "::timestamptz"},
                 i == 0);
    }
    absl::StrAppend(&sql,
                    ") AS v (event_id, event_type, aggregate_type, aggregate_id,"
                    " aggregate_version, quote_id, topic, payload, source, traceparent,"
                    " occurred_at))");
  }
  absl::StrAppend(&sql, " SELECT count(*) FROM s");
  return sql;
}

}  // namespace

absl::StatusOr<std::optional<Saga>> PgSagaStore::Lock(absl::string_view quote_id) {
  absl::StatusOr<std::map<std::string, Saga>> locked = LockAll({std::string(quote_id)});
  if (!locked.ok()) return locked.status();
  if (locked->empty()) return std::nullopt;
  return std::move(locked->begin()->second);
}

absl::StatusOr<std::map<std::string, Saga>> PgSagaStore::LockAll(
    const std::vector<std::string>& quote_ids) {
  return PgGuard("locking sagas", [&]() -> absl::StatusOr<std::map<std::string, Saga>> {
    tx_.conn().prepare(kLockStatement, LockSql());
    std::map<std::string, Saga> sagas;
    for (const pqxx::row& row : tx_.exec_prepared(kLockStatement, TextArrayLiteral(quote_ids))) {
      now_ = TimeFromMicros(row[kNowIndex]);
      if (row[0].is_null()) continue;
      Saga saga = SagaFromRow(row);
      std::string quote_id = saga.quote_id;
      sagas.emplace(std::move(quote_id), std::move(saga));
    }
    return sagas;
  });
}

absl::StatusOr<std::vector<Saga>> PgSagaStore::LockExpired(int limit) {
  return PgGuard("locking expired sagas", [&]() -> absl::StatusOr<std::vector<Saga>> {
    tx_.conn().prepare(kLockExpiredStatement, LockExpiredSql());
    pqxx::result rows = tx_.exec_prepared(kLockExpiredStatement, limit);
    std::vector<Saga> sagas;
    for (const pqxx::row& r : rows) {
      now_ = TimeFromMicros(r[kNowIndex]);
      sagas.push_back(SagaFromRow(r));
    }
    return sagas;
  });
}

absl::Status PgSagaStore::StoreDecision(const SagaDecision& d, bool is_new,
                                        const std::string& traceparent) {
  if (!d.changed) return absl::OkStatus();
  return PgGuard("storing a saga", [&]() -> absl::Status {
    const Saga& s = d.saga;
    const int histories = static_cast<int>(d.history.size());
    const int commands = static_cast<int>(d.commands.size());
    // One statement per shape of decision (a handful: a decision has 1-3 history rows and at most
    // one command today).
    const std::string statement = absl::StrCat("quoteflow_saga_write_", is_new ? "new" : "update",
                                               "_", histories, "_", commands);
    tx_.conn().prepare(statement, WriteSql(is_new, histories, commands));
    std::vector<std::string> rows;
    rows.reserve(static_cast<size_t>(histories * kHistoryParams + commands * kCommandParams));
    for (const SagaHistoryEntry& h : d.history) {
      rows.push_back(FormatRfc3339(h.at));
      rows.push_back(h.step);
      rows.push_back(std::to_string(h.attempt));
      rows.push_back(h.outcome);
      rows.push_back(h.detail);
    }
    for (const SagaCommand& c : d.commands) {
      rows.push_back(c.command_id);
      rows.push_back(std::string(c.type()));
      rows.push_back(std::string(c.target_type()));
      rows.push_back(c.target_id());
      rows.push_back("0");
      rows.push_back(c.quote_id);
      rows.push_back(std::string(CommandTopicFor(c.target_type())));
      rows.push_back(EncodeCommandEnvelope(c));
      rows.push_back(std::string(kOrchestratorSource));
      rows.push_back(traceparent.empty() ? NewTraceparent() : traceparent);
      rows.push_back(FormatRfc3339(c.issued_at));
    }
    pqxx::result r;
    if (is_new) {
      r = tx_.exec_prepared(statement, s.quote_id, s.customer_id, s.policy_id, s.premium,
                            s.quote_version, std::string(SagaStateName(s.state)),
                            std::string(SagaStepName(s.step)), s.attempt, s.step_attempts,
                            DeadlineText(s), s.failure_reason, s.stuck_reason,
                            FormatRfc3339(s.created_at), FormatRfc3339(s.updated_at),
                            pqxx::prepare::make_dynamic_params(rows));
    } else {
      r = tx_.exec_prepared(statement, s.quote_id, std::string(SagaStateName(s.state)),
                            std::string(SagaStepName(s.step)), s.attempt, s.step_attempts,
                            DeadlineText(s), s.failure_reason, s.stuck_reason,
                            FormatRfc3339(s.updated_at), s.version,
                            pqxx::prepare::make_dynamic_params(rows));
    }
    if (r.empty() || r[0][0].as<int64_t>() != 1) {
      // Only an update can miss (the insert throws on a duplicate key).
      return absl::AbortedError(
          absl::StrCat("saga ", s.quote_id, " changed since version ", s.version));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<SagaView> PgSagaReader::Get(absl::string_view quote_id) {
  absl::StatusOr<SagaView> result = absl::UnknownError("not run");
  absl::Status status =
      pool_.Run(absl::Now() + acquire_timeout_, "reading a saga", [&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        pqxx::result rows = tx.exec_params(
            absl::StrCat("SELECT ", kSagaColumns, " FROM saga.sagas WHERE quote_id = $1"),
            std::string(quote_id));
        if (rows.empty()) {
          result = absl::NotFoundError(absl::StrCat("no saga for quote ", quote_id));
          return absl::OkStatus();
        }
        SagaView view{.saga = SagaFromRow(rows[0])};
        for (const pqxx::row& r : tx.exec_params(
                 "SELECT (extract(epoch from at) * 1000000)::bigint, step, attempt, outcome,"
                 " detail FROM saga.history WHERE quote_id = $1 ORDER BY seq",
                 std::string(quote_id))) {
          view.history.push_back(SagaHistoryEntry{.at = TimeFromMicros(r[0]),
                                                  .step = r[1].as<std::string>(),
                                                  .attempt = r[2].as<int>(),
                                                  .outcome = r[3].as<std::string>(),
                                                  .detail = r[4].as<std::string>()});
        }
        result = std::move(view);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<std::vector<Saga>> PgSagaReader::List(absl::string_view state, int limit) {
  std::vector<Saga> sagas;
  absl::Status status =
      pool_.Run(absl::Now() + acquire_timeout_, "listing sagas", [&](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        for (const pqxx::row& r :
             tx.exec_params(absl::StrCat("SELECT ", kSagaColumns,
                                         " FROM saga.sagas WHERE ($1 = '' OR state = $1)"
                                         " ORDER BY created_at DESC, quote_id LIMIT $2"),
                            std::string(state), limit)) {
          sagas.push_back(SagaFromRow(r));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return sagas;
}

}  // namespace quoteflow::workers
