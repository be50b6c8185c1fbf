// Kafka client settings shared by every binary, and RAII owners for librdkafka's C objects.
//
// KafkaSettings declares the Kafka options on a Config (flags == env vars):
//   --kafka-bootstrap-servers  KAFKA_BOOTSTRAP_SERVERS  host:port list (required)
//   --kafka-properties         KAFKA_PROPERTIES         "key=value,key=value" librdkafka properties
//   --kafka-properties-file    KAFKA_PROPERTIES_FILE    file of key=value lines, '#' comments
//   --kafka-sasl-password      KAFKA_SASL_PASSWORD      secret; becomes sasl.password
// and builds an rd_kafka_conf_t for a role. Any librdkafka property passes through; the file
// exists because an Event Hubs connection string (the SASL password there) contains ';' and '='.
// Precedence, lowest first: role defaults, properties file, --kafka-properties,
// --kafka-bootstrap-servers / --kafka-sasl-password, then the values a role forces.
//
// Producer: acks=all is forced (setting it otherwise is an error); enable.idempotence=true unless
// explicitly false (librdkafka 2.0.2 defaults to a non-idempotent producer; Azure Event Hubs'
// Standard tier does not grant it, and the relay then keeps per-key order itself);
// compression.type gzip, snappy and lz4 are refused (librdkafka 2.0.2 sends them uncompressed to
// Kafka >= 4.0, librdkafka #4956; zstd works, none is the default); defaults linger.ms=5 and
// allow.auto.create.topics=false (an unknown topic is a permanent error, see mock_broker.h).
// Consumer: group.id from the caller, enable.auto.commit=false forced (offsets are committed after
// the database transaction), defaults fetch.wait.max.ms=100 (librdkafka's mock cluster holds an
// empty fetch for the whole wait, so consumers on it set 5: MockClusterFetchWait() in
// mock_broker.h), auto.offset.reset=earliest, and connection and request timeouts of 10 s
// (socket.connection.setup.timeout.ms, socket.timeout.ms) so that consumers resume within seconds
// of a healed network partition instead of ~25 s (chaos NetPartition.WorkerToKafka).
// Rejected everywhere: enable.ssl.certificate.verification=false,
// ssl.endpoint.identification.algorithm=none, an empty bootstrap list, unknown properties.
// Secrets (sasl.password, any *password*/*secret* property) are never logged or put in errors.
//
// Thread-safety: a KafkaSettings is immutable after construction; all const methods are safe
// from any thread. The unique_ptr aliases are as thread-safe as the objects they own.
#ifndef QUOTEFLOW_PLATFORM_KAFKA_KAFKA_CONFIG_H_
#define QUOTEFLOW_PLATFORM_KAFKA_KAFKA_CONFIG_H_

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "platform/config/config.h"

namespace quoteflow::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct HandleDeleter {
  // Closes a consumer (leaves its group) before destroying it; waits for in-flight requests.
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using TopicPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, TopicPartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;

enum class KafkaRole { kProducer, kConsumer };

// One librdkafka property, in the order it was given.
using KafkaProperty = std::pair<std::string, std::string>;

// Parses "a=b,c=d". A piece without '=' continues the previous value, so that list-valued
// properties work ("debug=broker,topic,msg" is one property); the value is everything after the
// first '=' and may contain '='. Whitespace around keys and values is trimmed; empty pieces are
// skipped. INVALID_ARGUMENT for an empty key or a leading piece without '='.
absl::StatusOr<std::vector<KafkaProperty>> ParseKafkaProperties(absl::string_view text);

// Parses a properties file's contents: one key=value per line, '#' starts a comment line,
// blank lines skipped, whitespace around key and value trimmed, the value may contain '=', ';'
// and ','. INVALID_ARGUMENT naming the line number for a line without '=' or with an empty key.
absl::StatusOr<std::vector<KafkaProperty>> ParseKafkaPropertiesFile(absl::string_view contents);

// True for properties whose values are secrets (sasl.password, ssl.key.password, anything with
// "password" or "secret" in its name, sasl.oauthbearer.config, ssl.key.pem).
bool IsSecretKafkaProperty(absl::string_view key);

// The text of a --kafka-properties value as it may be printed (Config::Describe(), see
// KafkaSettings::Declare()): the properties as key=value joined by ',', a secret's value
// (IsSecretKafkaProperty) as ***, other values through RedactSecrets(); a text that does not parse
// is not shown at all.
std::string RedactKafkaProperties(absl::string_view text);

class KafkaSettings {
 public:
  static constexpr char kBootstrapServersFlag[] = "kafka-bootstrap-servers";
  static constexpr char kPropertiesFlag[] = "kafka-properties";
  static constexpr char kPropertiesFileFlag[] = "kafka-properties-file";
  static constexpr char kSaslPasswordFlag[] = "kafka-sasl-password";

  // Declares the four options above on `config` (before config.Parse()); --kafka-properties is
  // printed through RedactKafkaProperties().
  static void Declare(Config& config);

  // Reads the options back after config.Parse(), reading the properties file if one is named.
  // INVALID_ARGUMENT for unparsable properties (naming the option); NOT_FOUND / PERMISSION_DENIED
  // when the properties file cannot be read. Does not validate against librdkafka yet: call
  // Validate() (or Build()) for that, so binaries can fail fast at startup.
  static absl::StatusOr<KafkaSettings> FromConfig(const Config& config);

  // Builds settings directly (tests, tools). `properties` are applied in order.
  KafkaSettings(std::string bootstrap_servers, std::vector<KafkaProperty> properties,
                std::string sasl_password = "")
      : bootstrap_servers_(std::move(bootstrap_servers)),
        properties_(std::move(properties)),
        sasl_password_(std::move(sasl_password)) {}

  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  const std::vector<KafkaProperty>& properties() const { return properties_; }

  // The properties a client of `role` gets, in application order, after defaults, overrides and
  // forced values (bootstrap.servers included; sasl.password only when set). `group_id` is
  // required for kConsumer and ignored for kProducer. INVALID_ARGUMENT (with a message saying
  // what to change) for a configuration that cannot be right: see the header comment.
  absl::StatusOr<std::vector<KafkaProperty>> EffectiveProperties(
      KafkaRole role, absl::string_view group_id = "") const;

  // EffectiveProperties() applied to a fresh rd_kafka_conf_t, with librdkafka's log callback
  // routed to quoteflow::log. INVALID_ARGUMENT as above, or naming the property librdkafka
  // rejected (unknown property or invalid value; a secret's value is never echoed).
  absl::StatusOr<ConfPtr> Build(KafkaRole role, absl::string_view group_id = "") const;

  // OK when Build() would succeed for both roles (consumer with a placeholder group id).
  absl::Status Validate() const;

  // "bootstrap.servers=... key=value ..." of the settings as given, secrets as *** (other values
  // through RedactSecrets()).
  std::string DescribeRedacted() const;
  // The effective properties of `role`, secrets as ***; the error text if they are invalid.
  std::string DescribeRedacted(KafkaRole role, absl::string_view group_id = "") const;

 private:
  std::string bootstrap_servers_;
  std::vector<KafkaProperty> properties_;
  std::string sasl_password_;
};

// Creates a client handle from `conf`, taking ownership of it (librdkafka keeps it on success;
// it is destroyed on failure). INVALID_ARGUMENT with librdkafka's reason if rd_kafka_new fails.
absl::StatusOr<HandlePtr> NewKafkaHandle(rd_kafka_type_t type, ConfPtr conf);

// Routes librdkafka's log lines of `conf` to quoteflow::log (fields: rdkafka_fac, client).
void RouteKafkaLogs(rd_kafka_conf_t* conf);

// Whether a delivery report says the broker wrote the message: no error and the offset it was
// written at (acks=all is forced, so a broker's ack always carries one). librdkafka 2.0.2 also
// reports "delivered", without an offset, the messages it acks implicitly: when a later request
// of the partition is acknowledged it takes the earlier messages as written, even after their own
// request failed as not persisted (rdkafka_request.c). That holds only if the broker refuses a
// request out of sequence, and a broker with no state for the producer on the partition (its first
// writes there, or none for producer.id.expiration.ms) accepts any sequence: the earlier messages
// may be lost. Such a report must be treated as a failure (send again: a duplicate at worst).
inline bool IsConfirmedDelivery(const rd_kafka_message_t* m) {
  return m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset >= 0;
}
// The error text of a report that is not an error but not confirmed either (above).
inline constexpr char kUnconfirmedDelivery[] =
    "delivered without an offset (implicitly acknowledged by a later request): not confirmed";

}  // namespace quoteflow::kafka

#endif  // QUOTEFLOW_PLATFORM_KAFKA_KAFKA_CONFIG_H_
