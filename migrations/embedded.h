// The SQL migrations of migrations/*.sql, compiled into the binary in version order. Immutable data;
// thread-safe.
#ifndef QUOTEFLOW_MIGRATIONS_EMBEDDED_H_
#define QUOTEFLOW_MIGRATIONS_EMBEDDED_H_

#include <span>

namespace quoteflow {

struct MigrationFile {
  int version;       // NNNN of NNNN_name.sql
  const char* name;  // file name
  const char* sql;
};

std::span<const MigrationFile> EmbeddedMigrations();

}  // namespace quoteflow

#endif  // QUOTEFLOW_MIGRATIONS_EMBEDDED_H_
