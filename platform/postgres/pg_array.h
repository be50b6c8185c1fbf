// PostgreSQL array literals for passing a list as one statement parameter ($1::text[]): pqxx 6
// has no conversion for containers.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_PG_ARRAY_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_PG_ARRAY_H_

#include <string>
#include <vector>

namespace quoteflow {

// A text[] literal: every element double-quoted, with '"' and '\' escaped, so that any text
// (commas, braces, spaces, "NULL") comes back as itself.
std::string TextArrayLiteral(const std::vector<std::string>& elements);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_PG_ARRAY_H_
