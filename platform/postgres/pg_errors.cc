#include "platform/postgres/pg_errors.h"

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace quoteflow {
namespace {
constexpr char kConnectionLost[] = "type.quoteflow.dev/pg-connection-lost";
}  // namespace

absl::Status StatusFromPqxx(const std::exception& e, absl::string_view what) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    absl::Status s = absl::UnavailableError(absl::StrCat(
        what,
        ": the database connection broke during commit; the outcome is unknown, retry with "
        "the same request_id"));
    s.SetPayload(kConnectionLost, absl::Cord("1"));
    return s;
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    absl::Status s =
        absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", e.what()));
    s.SetPayload(kConnectionLost, absl::Cord("1"));
    return s;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    auto msg = [&](absl::string_view kind) {
      return absl::StrCat(what, ": ", kind, " (SQLSTATE ", state, "): ", e.what());
    };
    if (state == "40001" || state == "40P01") return absl::AbortedError(msg("concurrent change"));
    if (state == "57014") return absl::DeadlineExceededError(msg("statement timed out"));
    if (state == "23505") return absl::AlreadyExistsError(msg("duplicate key"));
    if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P") || state == "53300" ||
        state == "25P03") {
      absl::Status s = absl::UnavailableError(msg("database unavailable"));
      s.SetPayload(kConnectionLost, absl::Cord("1"));
      return s;
    }
    return absl::InternalError(msg("database error"));
  }
  return absl::InternalError(absl::StrCat(what, ": ", e.what()));
}

bool IsConnectionLoss(const absl::Status& status) {
  return status.GetPayload(kConnectionLost).has_value();
}

}  // namespace quoteflow
