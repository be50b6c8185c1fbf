// Operator functions over a service's outbox, for `quotectl outbox ...`: list parked rows, put one
// back (retry), drop one for good, and show backlog/parked/oldest age plus the running relays.
// Each call opens its own short connection; thread-safe.
#ifndef QUOTEFLOW_OUTBOX_RELAY_OUTBOX_ADMIN_H_
#define QUOTEFLOW_OUTBOX_RELAY_OUTBOX_ADMIN_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quoteflow::relay {

struct ParkedRow {
  int64_t seq = 0;
  std::string event_id;
  std::string event_type;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string topic;  // explicit topic, empty when mapped
  int attempts = 0;
  std::string last_error;
  std::string created_at;  // RFC 3339 UTC
  std::string parked_at;   // RFC 3339 UTC
  int64_t payload_bytes = 0;
  int64_t blocked_rows = 0;  // later rows of the same aggregate waiting behind it
};

struct RelayReplica {
  std::string relay_id;
  int backend_pid = 0;
  std::vector<int> shards;
  int64_t published = 0;
  int64_t parked = 0;
  std::string started_at;
  std::string heartbeat_at;
};

struct OutboxStatus {
  int64_t backlog = 0;  // unparked rows
  int64_t parked = 0;
  double oldest_age_seconds = 0;  // oldest unparked row; 0 when none
  std::vector<RelayReplica> relays;
};

// Parked rows of `schema`.outbox, oldest first, at most `limit`. INVALID_ARGUMENT for a bad schema
// name; FAILED_PRECONDITION when the schema has no outbox (not migrated); UNAVAILABLE when Postgres
// is unreachable; INTERNAL otherwise.
absl::StatusOr<std::vector<ParkedRow>> ListParked(const std::string& database_url,
                                                  const std::string& schema, int limit = 100);

// Un-parks row `seq` (clears parked_at and attempts, keeps last_error) and wakes the relays with
// NOTIFY; it is published again by the relay holding its shard. NOT_FOUND when no row has that seq;
// FAILED_PRECONDITION when the row exists but is not parked; other errors as ListParked.
absl::Status RetryParked(const std::string& database_url, const std::string& schema, int64_t seq);

// Deletes parked row `seq` without publishing it (releases the rows of its aggregate behind it).
// NOT_FOUND / FAILED_PRECONDITION / others as RetryParked.
absl::Status DropParked(const std::string& database_url, const std::string& schema, int64_t seq);

// Backlog, parked count, oldest age and the relays registered for `schema`. Errors as ListParked.
absl::StatusOr<OutboxStatus> GetOutboxStatus(const std::string& database_url,
                                             const std::string& schema);

// Runs `outbox parked [LIMIT] | retry SEQ | drop SEQ | stats` (a leading "outbox" is skipped),
// printing results to `out` and errors to `err`. Returns 0 on success, 2 for a usage error, 1 when
// the operation failed.
int RunOutboxCommand(const std::vector<std::string>& args, const std::string& database_url,
                     const std::string& schema, std::ostream& out, std::ostream& err);

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_OUTBOX_ADMIN_H_
