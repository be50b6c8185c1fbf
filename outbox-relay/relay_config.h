// The outbox-relay's command-line/environment options (see platform/config/config.h: every flag is
// also an environment variable) and their validation into RelayOptions. Kafka options are declared
// separately by kafka::KafkaSettings. Not thread-safe while declaring/parsing; pure functions.
#ifndef QUOTEFLOW_OUTBOX_RELAY_RELAY_CONFIG_H_
#define QUOTEFLOW_OUTBOX_RELAY_RELAY_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outbox-relay/relay.h"
#include "platform/kafka/kafka_config.h"
#include "platform/config/config.h"

namespace quoteflow::relay {

// Declares database-url, outbox-schema, relay-id, topic-map, shards, max-batch,
// max-in-flight-per-key, max-attempts, poll-interval, lease-interval, stats-interval,
// shutdown-timeout, pg-keepalives-idle/-interval, pg-tcp-user-timeout, message-timeout,
// row-backoff, max-row-backoff, batch-wait, kafka-failure-release, kafka-failure-holdoff,
// liveness-timeout.
void DeclareRelayFlags(Config& config);

// Validates the parsed options. INVALID_ARGUMENT naming the option for a missing database URL or
// schema, a schema that is not a plain lower-case identifier, a bad topic map, numbers out of range
// or durations that are zero or malformed. relay-id defaults to "<hostname>-<pid>".
absl::StatusOr<RelayOptions> RelayOptionsFromConfig(const Config& config);

// Per-key order without the idempotent producer (enable.idempotence=false in the effective
// `producer` properties, e.g. for Azure Event Hubs' Standard tier): OK, with a warning, when
// options.max_in_flight_per_key is 1 (one event per aggregate per batch, each batch waits for
// all its delivery reports); INVALID_ARGUMENT otherwise.
absl::Status CheckOrderWithoutIdempotence(const RelayOptions& options,
                                          const std::vector<kafka::KafkaProperty>& producer);

// OK for a plain SQL identifier ([a-z_][a-z0-9_]*, at most 50 bytes); INVALID_ARGUMENT otherwise.
absl::Status ValidateSchemaName(const std::string& schema);

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_RELAY_CONFIG_H_
