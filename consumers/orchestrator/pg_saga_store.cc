#include "consumers/orchestrator/pg_saga_store.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/pg_guard.h"
#include "consumers/orchestrator/saga_topics.h"
#include "platform/events/command_codec.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/outbox_writer.h"

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

std::optional<std::string> DeadlineText(const Saga& s) {
  if (!s.deadline.has_value()) return std::nullopt;
  return FormatRfc3339(*s.deadline);
}

}  // namespace

absl::StatusOr<std::optional<Saga>> PgSagaStore::Lock(absl::string_view quote_id) {
  return PgGuard("locking a saga", [&]() -> absl::StatusOr<std::optional<Saga>> {
    pqxx::result rows = tx_.exec_params(
        absl::StrCat("SELECT ", kSagaColumns, " FROM saga.sagas WHERE quote_id = $1 FOR UPDATE"),
        std::string(quote_id));
    if (rows.empty()) return std::nullopt;
    return SagaFromRow(rows[0]);
  });
}

absl::StatusOr<std::vector<Saga>> PgSagaStore::LockExpired(absl::Time now, int limit) {
  return PgGuard("locking expired sagas", [&]() -> absl::StatusOr<std::vector<Saga>> {
    pqxx::result rows = tx_.exec_params(
        absl::StrCat("SELECT ", kSagaColumns,
                     " FROM saga.sagas WHERE deadline <= $1::timestamptz ORDER BY deadline"
                     " LIMIT $2 FOR UPDATE SKIP LOCKED"),
        FormatRfc3339(now), limit);
    std::vector<Saga> sagas;
    for (const pqxx::row& r : rows) sagas.push_back(SagaFromRow(r));
    return sagas;
  });
}

absl::Status PgSagaStore::StoreDecision(const SagaDecision& d, bool is_new) {
  if (!d.changed) return absl::OkStatus();
  return PgGuard("storing a saga", [&]() -> absl::Status {
    const Saga& s = d.saga;
    if (is_new) {
      tx_.exec_params(
          "INSERT INTO saga.sagas (quote_id, customer_id, policy_id, premium, quote_version, state,"
          " step, attempt, step_attempts, deadline, failure_reason, stuck_reason, version,"
          " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
          " $10::timestamptz, $11, $12, 1, $13::timestamptz, $14::timestamptz)",
          s.quote_id, s.customer_id, s.policy_id, s.premium, s.quote_version,
          std::string(SagaStateName(s.state)), std::string(SagaStepName(s.step)), s.attempt,
          s.step_attempts, DeadlineText(s), s.failure_reason, s.stuck_reason,
          FormatRfc3339(s.created_at), FormatRfc3339(s.updated_at));
    } else {
      pqxx::result r = tx_.exec_params(
          "UPDATE saga.sagas SET state = $2, step = $3, attempt = $4, step_attempts = $5,"
          " deadline = $6::timestamptz, failure_reason = $7, stuck_reason = $8,"
          " version = version + 1, updated_at = $9::timestamptz"
          " WHERE quote_id = $1 AND version = $10",
          s.quote_id, std::string(SagaStateName(s.state)), std::string(SagaStepName(s.step)),
          s.attempt, s.step_attempts, DeadlineText(s), s.failure_reason, s.stuck_reason,
          FormatRfc3339(s.updated_at), s.version);
      if (r.affected_rows() != 1) {
        return absl::AbortedError(
            absl::StrCat("saga ", s.quote_id, " changed since version ", s.version));
      }
    }
    for (const SagaHistoryEntry& h : d.history) {
      tx_.exec_params(
          "INSERT INTO saga.history (quote_id, at, step, attempt, outcome, detail)"
          " VALUES ($1, $2::timestamptz, $3, $4, $5, $6)",
          s.quote_id, FormatRfc3339(h.at), h.step, h.attempt, h.outcome, h.detail);
    }
    for (const SagaCommand& c : d.commands) {
      tx_.exec_params(
          "INSERT INTO saga.outbox (event_id, event_type, aggregate_type, aggregate_id,"
          " aggregate_version, quote_id, topic, payload, source, traceparent, occurred_at)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::timestamptz)",
          c.command_id, std::string(c.type()), std::string(c.target_type()), c.target_id(), 0,
          c.quote_id, std::string(CommandTopicFor(c.target_type())), EncodeCommandEnvelope(c),
          std::string(kOrchestratorSource), traceparent_.empty() ? NewTraceparent() : traceparent_,
          FormatRfc3339(c.issued_at));
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
