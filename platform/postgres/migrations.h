// Applies and checks the schema migrations embedded in the binaries (migrations/*.sql). Applied
// versions are recorded in public.quoteflow_migrations with the md5 of their SQL; a file that was
// edited after it was applied is refused. Concurrent runners serialize on an advisory lock.
// Thread-safe (each call uses its own connection).
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_MIGRATIONS_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_MIGRATIONS_H_

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "migrations/embedded.h"

namespace quoteflow {

struct MigrationReport {
  std::vector<std::string> applied;          // names applied by this call
  std::vector<std::string> already_applied;  // names that were already there
};

// Applies every pending migration in version order, each in its own transaction.
// FAILED_PRECONDITION if an applied migration's SQL changed, or the database has a version this
// binary doesn't know (it is older than the schema); UNAVAILABLE when Postgres is unreachable;
// INTERNAL with the SQL error when a migration fails (nothing of that migration is kept).
absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& database_url,
                                                std::span<const MigrationFile> files);
absl::Status ApplyMigrations(const std::string& database_url);  // the embedded set

// OK when every embedded migration is applied unchanged. FAILED_PRECONDITION otherwise, saying what
// is missing or edited and to run `quotectl migrate`; UNAVAILABLE when Postgres is unreachable.
absl::Status CheckMigrations(const std::string& database_url);

// What every binary does at start: waits until Postgres answers (retrying UNAVAILABLE with backoff
// until `timeout`) and the schema is current, or applies pending migrations when `migrate`.
// Errors: as CheckMigrations / ApplyMigrations (UNAVAILABLE once `timeout` passed).
absl::Status PrepareSchema(const std::string& database_url, bool migrate, absl::Duration timeout);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_MIGRATIONS_H_
