// MockBroker hosts librdkafka 2.0.2's mock Kafka cluster (rdkafka_mock.h: real TCP listeners on
// 127.0.0.1, produce/fetch, idempotent producer, consumer groups with offset commits) and drives
// its fault injection through one-line text commands. The `quoteflow-broker` binary
// (tools/broker) runs one in its own process; BrokerProcess (platform/process) starts that binary
// and sends it commands. The cluster lives in memory only, has no SASL/SSL, and keeps a bounded
// log per partition (LIMITS.md: read back what you produce before it is evicted).
//
// Control commands (one per line; each answered `ok` or `error: <reason>`; IDs are broker ids
// 1..N, or -1 for all brokers where noted):
//   ping                                 liveness check
//   broker-down ID|-1                    close the broker's connections and refuse new ones
//                                        (no leader change: its partitions become unavailable)
//   broker-up ID|-1                      accept connections again
//   rtt ID|-1 MS                         add MS milliseconds to every response of the broker
//   errors REQUEST COUNT ERROR           fail the next COUNT requests of type REQUEST, on any
//                                        broker, with ERROR (REQUEST: Produce, Fetch, Metadata,
//                                        InitProducerId, JoinGroup, OffsetCommit, ... or the api
//                                        key number; ERROR: NOT_LEADER_FOR_PARTITION,
//                                        REQUEST_TIMED_OUT, MSG_SIZE_TOO_LARGE, _TRANSPORT (drop
//                                        the connection), ... as in rd_kafka_err2name(), with or
//                                        without the RD_KAFKA_RESP_ERR_ prefix, or the number)
//   clear-errors REQUEST                 drop the errors still queued for REQUEST
//   leader TOPIC PARTITION BROKER|-1     move the partition's leader (-1: leaderless)
//   create-topic NAME PARTITIONS         create a topic (error if it already exists)
//   topic-error TOPIC ERROR              return ERROR for TOPIC in Metadata responses
//                                        (NO_ERROR clears it)
//
// Topic auto-creation (measured against librdkafka 2.0.2, see mock_broker_test.cc): the mock
// auto-creates an unknown topic, with 4 partitions (a fixed default the public API cannot change,
// hence no --default-partitions flag), whenever a Metadata request names it with
// AllowAutoTopicCreation set. Out of the box the mock advertises Metadata v0-v2 only, and those
// versions carry no such flag, so the stock mock creates EVERY topic any client (producer or
// consumer) asks about, whatever `allow.auto.create.topics` says. MockBroker therefore advertises
// Metadata v4 (rd_kafka_mock_set_apiversion; the handler already parses the flag), which makes
// the client setting decide, as on a real broker:
//   - allow.auto.create.topics=true (librdkafka's producer default): the topic appears with 4
//     partitions and the message is delivered;
//   - allow.auto.create.topics=false (KafkaSettings' producer default, and librdkafka's consumer
//     default): the delivery report fails with UNKNOWN_TOPIC_OR_PART after
//     topic.metadata.propagation.max.ms (default 30 s; lower it in tests), after which
//     rd_kafka_producev() on that topic fails at once with _UNKNOWN_TOPIC; a consumer subscribed
//     to it gets UNKNOWN_TOPIC_OR_PART errors. A topic created later (`create-topic`) becomes
//     usable by the same producer within about a second (its next metadata refresh).
// `leader` and `topic-error` on a missing topic also create it (the mock API does).
//
// Thread-safety: Execute() and bootstrap_servers() are safe from any thread (commands are
// serialized). The mock cluster runs in its own librdkafka thread.
#ifndef QUOTEFLOW_PLATFORM_KAFKA_MOCK_BROKER_H_
#define QUOTEFLOW_PLATFORM_KAFKA_MOCK_BROKER_H_

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow::kafka {

// Kafka protocol request name ("Produce", case-insensitive, optional "Request" suffix) or number
// to its api key. INVALID_ARGUMENT for an unknown name or a number outside [0, 100].
absl::StatusOr<int16_t> ParseKafkaApiKey(absl::string_view name);

// Error name as printed by rd_kafka_err2name ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT"; case-
// insensitive, optional "RD_KAFKA_RESP_ERR_" prefix) or number to the error code.
// INVALID_ARGUMENT when librdkafka knows no such error.
absl::StatusOr<rd_kafka_resp_err_t> ParseKafkaError(absl::string_view name);

// librdkafka's mock cluster holds a fetch that finds no data for the whole fetch.wait.max.ms (a
// real broker answers it as soon as data arrives), so with KafkaSettings' consumer default of
// 100 ms every event would reach a consumer on the mock up to 100 ms late (LIMITS.md: p50 258 ms
// with librdkafka's own 500). Consumers on the mock add this property.
inline KafkaProperty MockClusterFetchWait() { return {"fetch.wait.max.ms", "5"}; }

// librdkafka's mock cluster checks the sequence numbers of a transactional producer only, not of
// an idempotent one: when an injected error fails one ProduceRequest of a partition, it appends
// the next request already in flight, and the producer reports the failed request's messages
// delivered without an offset (its "implicit ack"), as a real broker with no state for the
// producer can make it do. Producers must not count such a report as a delivery
// (IsConfirmedDelivery, kafka_config.h); outbox-relay/kafka_publisher_test.cc shows it here.

class MockBroker {
 public:
  struct Options {
    int brokers = 3;
    std::vector<TopicSpec> topics;  // created before Start() returns
  };

  // Creates the cluster and its topics. INVALID_ARGUMENT for brokers outside [1, 64];
  // INTERNAL when librdkafka cannot create the cluster (e.g. no free port) or a topic.
  static absl::StatusOr<std::unique_ptr<MockBroker>> Start(const Options& options);

  // Destroys the cluster (closing all listeners), then the librdkafka handle hosting it.
  ~MockBroker();

  MockBroker(const MockBroker&) = delete;
  MockBroker& operator=(const MockBroker&) = delete;

  // "127.0.0.1:port,..." of all brokers.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  int broker_count() const { return broker_count_; }

  // Runs one control command (see the header comment). INVALID_ARGUMENT for an unknown command,
  // wrong arguments, or an error librdkafka reported (its name is in the message).
  absl::Status Execute(absl::string_view command) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  MockBroker() = default;
  absl::Status ExecuteLocked(const std::vector<std::string>& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int32_t> ParseBrokerId(absl::string_view text, bool allow_all) const;

  absl::Mutex mu_;
  HandlePtr rk_;  // required by rd_kafka_mock_cluster_new for bookkeeping; otherwise idle
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_servers_;
  std::vector<int> ports_;  // of the brokers' listeners
  int broker_count_ = 0;
};

// Serves control commands: reads lines from `in_fd` (stdin), runs each through `broker`, and
// writes one reply line per non-empty command to `out_fd` (`ok` or `error: <reason>`). EOF on
// `in_fd` stops reading commands but not serving: returns only when `stop_fd` becomes readable
// (a signalfd for SIGTERM/SIGINT, or a pipe in tests). INTERNAL if poll(2) fails.
absl::Status ServeControl(MockBroker& broker, int in_fd, int out_fd, int stop_fd);

}  // namespace quoteflow::kafka

#endif  // QUOTEFLOW_PLATFORM_KAFKA_MOCK_BROKER_H_
