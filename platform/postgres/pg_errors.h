// Maps libpqxx exceptions to absl::Status, so that no pqxx exception leaves an adapter:
// connection lost / server shutting down / commit outcome unknown -> UNAVAILABLE, serialization
// failure or deadlock -> ABORTED, statement timeout -> DEADLINE_EXCEEDED, unique violation ->
// ALREADY_EXISTS, anything else -> INTERNAL. Stateless; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_PG_ERRORS_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_PG_ERRORS_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace quoteflow {

// `what` says what was being done ("approving quote q-1"), for the message.
absl::Status StatusFromPqxx(const std::exception& e, absl::string_view what);

// Whether the status means the connection it came from should be discarded.
bool IsConnectionLoss(const absl::Status& status);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_PG_ERRORS_H_
