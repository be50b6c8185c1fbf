// Helpers shared by the workers' PostgreSQL adapters: running adapter code with every exception
// mapped to absl::Status (so none crosses into domain code), and reading timestamps. Stateless;
// thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_COMMON_PG_GUARD_H_
#define QUOTEFLOW_CONSUMERS_COMMON_PG_GUARD_H_

#include <exception>
#include <pqxx/pqxx>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "platform/postgres/pg_errors.h"

namespace quoteflow::workers {

// Runs `fn` (returning absl::Status or absl::StatusOr<T>); a thrown exception becomes
// StatusFromPqxx(e, what): UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, ALREADY_EXISTS or INTERNAL.
template <class F>
auto PgGuard(absl::string_view what, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, what);
  }
}

// SQL for a timestamptz column as epoch microseconds, and its reading.
inline std::string EpochMicros(absl::string_view column) {
  return "(extract(epoch from " + std::string(column) + ") * 1000000)::bigint";
}
inline absl::Time TimeFromMicros(const pqxx::field& f) {
  return absl::FromUnixMicros(f.as<int64_t>());
}

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_PG_GUARD_H_
