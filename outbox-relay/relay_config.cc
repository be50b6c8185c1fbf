#include "outbox-relay/relay_config.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {

void DeclareRelayFlags(Config& config) {
  config.Declare("database-url", "", "PostgreSQL URL of the service database (required)");
  config.Declare("outbox-schema", "",
                 "schema whose outbox table this relay publishes: quote, policy or customer (required)");
  config.Declare("relay-id", "", "name of this replica in logs and quoteflow_outbox_relays "
                                 "(default: <hostname>-<pid>)");
  config.Declare("topic-map", kDefaultTopicMap,
                 "topic per aggregate_type or event_type (event_type entries win), for rows without "
                 "an explicit topic");
  config.Declare("topic-prefix", "",
                 "put before every topic the relay publishes to, explicit ones (orchestration "
                 "commands and replies) included, e.g. 'staging.'");
  config.Declare("shards", "64", "shard count of the outbox table (fixed by the migration)");
  config.Declare("max-batch", "5000",
                 "largest batch; batches start at 16 rows and double while they come back full");
  config.Declare("max-in-flight-per-key", "1",
                 "rows of one aggregate per batch; 1 keeps per-key order even across message "
                 "timeouts, more is faster for hot aggregates");
  config.Declare("max-attempts", "5",
                 "permanent broker refusals (too large, unknown topic, ...) before a row is parked");
  config.Declare("poll-interval", "1s",
                 "fallback: longest idle wait between outbox reads when no NOTIFY (the writers' "
                 "doorbell) comes");
  config.Declare("lease-interval", "500ms",
                 "how often shard leases are rebalanced between replicas (one pg_locks read)");
  config.Declare("stats-interval", "10s",
                 "how often the backlog gauges are read, the registration row is written and the "
                 "'relay stats' line is logged");
  config.Declare("shutdown-timeout", "10s",
                 "on SIGTERM, how long to wait for the in-flight batch's delivery reports");
  config.Declare("pg-keepalives-idle", "5s",
                 "lease session: TCP keepalive idle time, client (libpq) and server side; a "
                 "silently lost peer is noticed after this + 3 x --pg-keepalives-interval, and the "
                 "leases go to another replica (0 = OS default, about 2 h 11 min)");
  config.Declare("pg-keepalives-interval", "2s",
                 "lease session: time between TCP keepalive probes");
  config.Declare("pg-tcp-user-timeout", "10s",
                 "lease session: how long sent data may stay unacknowledged before the "
                 "connection is dropped, both sides (0 = OS default)");
  config.Declare("message-timeout", "30s",
                 "librdkafka message.timeout.ms unless --kafka-properties sets it: how long a "
                 "message may stay undelivered before its row goes into backoff");
  config.Declare("row-backoff", "500ms",
                 "first backoff of a row (and the later rows of its aggregate) after a failed "
                 "delivery; doubles per failure");
  config.Declare("max-row-backoff", "30s", "longest backoff of a failed row");
  config.Declare("batch-wait", "1s",
                 "how long a batch waits for its delivery reports before the next batch is read "
                 "(the rest stays in flight)");
  config.Declare("kafka-failure-release", "60s",
                 "release every shard lease after this long without a successful delivery while "
                 "rows are pending, so that a replica reaching Kafka takes them; a relay alone "
                 "on its outbox keeps them (0 = never)");
  config.Declare("kafka-failure-holdoff", "30s",
                 "after such a release, stay without leases this long before reconnecting "
                 "(doubles, up to 8x, while Kafka keeps failing)");
  config.Declare("liveness-timeout", "180s",
                 "/healthz answers 503 when the relay has work but deleted or parked nothing for "
                 "this long (0 = always 200)");
}

absl::Status ValidateSchemaName(const std::string& schema) {
  bool ok = !schema.empty() && schema.size() <= 50 && !(schema[0] >= '0' && schema[0] <= '9');
  for (char c : schema) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--outbox-schema (OUTBOX_SCHEMA)='", schema,
        "' must be a lower-case schema name such as quote, policy or customer"));
  }
  return absl::OkStatus();
}

namespace {
absl::StatusOr<absl::Duration> PositiveDuration(const Config& config, const std::string& name,
                                                absl::Duration min) {
  ASSIGN_OR_RETURN(absl::Duration d, config.GetDuration(name));
  if (d < min) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " (", Config::EnvName(name), ")='",
                                                   config.Get(name), "' must be at least ",
                                                   absl::FormatDuration(min)));
  }
  return d;
}

absl::StatusOr<absl::Duration> NonNegativeDuration(const Config& config, const std::string& name) {
  ASSIGN_OR_RETURN(absl::Duration d, config.GetDuration(name));
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " (", Config::EnvName(name), ")='",
                                                   config.Get(name), "' must not be negative"));
  }
  return d;
}
}  // namespace

absl::StatusOr<RelayOptions> RelayOptionsFromConfig(const Config& config) {
  RelayOptions o;
  o.database_url = config.Get("database-url");
  if (o.database_url.empty()) {
    return absl::InvalidArgumentError("--database-url (DATABASE_URL) is required");
  }
  o.schema = config.Get("outbox-schema");
  if (o.schema.empty()) {
    return absl::InvalidArgumentError(
        "--outbox-schema (OUTBOX_SCHEMA) is required: quote, policy or customer");
  }
  RETURN_IF_ERROR(ValidateSchemaName(o.schema));
  o.relay_id = config.Get("relay-id");
  if (o.relay_id.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
    o.relay_id = absl::StrCat(host[0] ? host : "relay", "-", getpid());
  }
  ASSIGN_OR_RETURN(o.topic_map, TopicMap::Parse(config.Get("topic-map"), config.Get("topic-prefix")));
  ASSIGN_OR_RETURN(int64_t shards, config.GetInt("shards", 1, 4096));
  o.shards = static_cast<int>(shards);
  ASSIGN_OR_RETURN(int64_t max_batch, config.GetInt("max-batch", 1, 10000));
  o.max_batch = static_cast<int>(max_batch);
  ASSIGN_OR_RETURN(int64_t per_key, config.GetInt("max-in-flight-per-key", 1, 10000));
  o.max_in_flight_per_key = static_cast<int>(per_key);
  ASSIGN_OR_RETURN(int64_t attempts, config.GetInt("max-attempts", 1, 1000000));
  o.max_attempts = static_cast<int>(attempts);
  ASSIGN_OR_RETURN(o.poll_interval, PositiveDuration(config, "poll-interval", absl::Milliseconds(10)));
  ASSIGN_OR_RETURN(o.lease_interval, PositiveDuration(config, "lease-interval", absl::Milliseconds(50)));
  ASSIGN_OR_RETURN(o.stats_interval, PositiveDuration(config, "stats-interval", absl::Milliseconds(100)));
  ASSIGN_OR_RETURN(o.shutdown_timeout, config.GetDuration("shutdown-timeout"));
  ASSIGN_OR_RETURN(o.pg_liveness.keepalive_idle, NonNegativeDuration(config, "pg-keepalives-idle"));
  ASSIGN_OR_RETURN(o.pg_liveness.keepalive_interval,
                   PositiveDuration(config, "pg-keepalives-interval", absl::Seconds(1)));
  ASSIGN_OR_RETURN(o.pg_liveness.tcp_user_timeout,
                   NonNegativeDuration(config, "pg-tcp-user-timeout"));
  ASSIGN_OR_RETURN(o.message_timeout,
                   PositiveDuration(config, "message-timeout", absl::Seconds(1)));
  ASSIGN_OR_RETURN(o.row_backoff, PositiveDuration(config, "row-backoff", absl::Milliseconds(10)));
  ASSIGN_OR_RETURN(o.max_row_backoff, PositiveDuration(config, "max-row-backoff", o.row_backoff));
  ASSIGN_OR_RETURN(o.batch_wait, PositiveDuration(config, "batch-wait", absl::Milliseconds(10)));
  ASSIGN_OR_RETURN(o.kafka_failure_release, NonNegativeDuration(config, "kafka-failure-release"));
  ASSIGN_OR_RETURN(o.kafka_failure_holdoff,
                   PositiveDuration(config, "kafka-failure-holdoff", absl::Milliseconds(100)));
  ASSIGN_OR_RETURN(o.liveness_timeout, NonNegativeDuration(config, "liveness-timeout"));
  return o;
}

absl::Status CheckOrderWithoutIdempotence(const RelayOptions& options,
                                          const std::vector<kafka::KafkaProperty>& producer) {
  for (const auto& [key, value] : producer) {
    const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
    if (key != "enable.idempotence" || (v != "false" && v != "0" && v != "no" && v != "off")) {
      continue;
    }
    if (options.max_in_flight_per_key != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "enable.idempotence=false with --max-in-flight-per-key=", options.max_in_flight_per_key,
          ": without the idempotent producer a retried event can land after a later one of its "
          "aggregate; keep --max-in-flight-per-key=1 (one event per aggregate in flight, the next "
          "sent only after its delivery report)"));
    }
    log::Warn("idempotent producer off: per-key order kept by one in-flight event per aggregate; "
              "retries may put duplicates on the wire (consumers' inboxes absorb them)");
  }
  return absl::OkStatus();
}

}  // namespace quoteflow::relay
