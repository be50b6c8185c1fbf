// Cluster administration through librdkafka's Admin API and metadata requests, for the local
// launcher, the test fixtures and the chaos suite: create topics (idempotently), wait until a
// cluster has its brokers and leaders, and find a partition's leader. Works against any Kafka
// (a LocalKafka cluster, an existing cluster, librdkafka's mock).
//
// Thread-safety: stateless functions; each call makes and destroys its own client handle.
#ifndef QUOTEFLOW_PLATFORM_KAFKA_KAFKA_ADMIN_H_
#define QUOTEFLOW_PLATFORM_KAFKA_KAFKA_ADMIN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 1;
};

// The topics quoteflow's services expect, with their partition counts, as "name:partitions,...":
// the event topics, the orchestration command and reply topics, and each consumer's dead-letter
// topic (<topic>.dlq).
inline constexpr char kQuoteflowTopics[] =
    "quotes:12,policies:12,customers:12,quote-commands:12,policy-commands:12,"
    "customer-commands:12,saga-replies:12,quoteflow-dlq:3,"
    "quotes.dlq:3,policies.dlq:3,customers.dlq:3,quote-commands.dlq:3,policy-commands.dlq:3,"
    "customer-commands.dlq:3,saga-replies.dlq:3";

// Parses "name:partitions,..." (whitespace trimmed, empty pieces skipped). INVALID_ARGUMENT for a
// piece without ':', an empty name, or partitions not in [1, 10000].
absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(absl::string_view spec);

// The same specs with `prefix` prepended to every name.
std::vector<TopicSpec> PrefixTopics(const std::vector<TopicSpec>& topics, absl::string_view prefix);

struct TopicOptions {
  // 0: the broker's default.replication.factor.
  int replication_factor = 0;
  // Topic configs, e.g. {"min.insync.replicas", "2"}.
  std::map<std::string, std::string> configs;
  absl::Duration timeout = absl::Seconds(30);
};

// Creates the topics that do not exist yet (an existing topic is left as it is, whatever its
// partition count) and waits until every partition of every listed topic has a leader.
// UNAVAILABLE when the cluster cannot be reached or a topic gets no leader in time;
// INVALID_ARGUMENT for a refused topic (bad name, replication factor above the broker count...).
absl::Status CreateTopics(const KafkaSettings& settings, const std::vector<TopicSpec>& topics,
                          const TopicOptions& options = {});

// Waits until a metadata request lists exactly `brokers` brokers. UNAVAILABLE on timeout, with
// the last count seen.
absl::Status WaitForBrokers(const KafkaSettings& settings, int brokers, absl::Duration timeout);

// Leader broker id of each partition of `topic` (index = partition; -1 when leaderless).
// NOT_FOUND for an unknown topic; UNAVAILABLE when metadata cannot be fetched.
absl::StatusOr<std::vector<int32_t>> PartitionLeaders(const KafkaSettings& settings,
                                                      const std::string& topic,
                                                      absl::Duration timeout = absl::Seconds(10));

}  // namespace quoteflow::kafka

#endif  // QUOTEFLOW_PLATFORM_KAFKA_KAFKA_ADMIN_H_
