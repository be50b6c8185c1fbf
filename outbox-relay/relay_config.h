// The outbox-relay's command-line/environment options (see platform/config/config.h: every flag is
// also an environment variable) and their validation into RelayOptions. Kafka options are declared
// separately by kafka::KafkaSettings. Not thread-safe while declaring/parsing; pure functions.
#ifndef QUOTEFLOW_OUTBOX_RELAY_RELAY_CONFIG_H_
#define QUOTEFLOW_OUTBOX_RELAY_RELAY_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outbox-relay/relay.h"
#include "platform/config/config.h"

namespace quoteflow::relay {

// Declares database-url, outbox-schema, relay-id, topic-map, shards, max-batch,
// max-in-flight-per-key, max-attempts, poll-interval, lease-interval, stats-interval,
// shutdown-timeout.
void DeclareRelayFlags(Config& config);

// Validates the parsed options. INVALID_ARGUMENT naming the option for a missing database URL or
// schema, a schema that is not a plain lower-case identifier, a bad topic map, numbers out of range
// or durations that are zero or malformed. relay-id defaults to "<hostname>-<pid>".
absl::StatusOr<RelayOptions> RelayOptionsFromConfig(const Config& config);

// OK for a plain SQL identifier ([a-z_][a-z0-9_]*, at most 50 bytes); INVALID_ARGUMENT otherwise.
absl::Status ValidateSchemaName(const std::string& schema);

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_RELAY_CONFIG_H_
