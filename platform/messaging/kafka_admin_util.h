// Small helpers shared by the operator commands (dlq_admin.h, replay.h): a consumer handle that
// is not a group member (manual assign), topic partition counts, watermarks, reading a range of
// records, and "--flag value" argument parsing. Internal to platform/messaging.
//
// Thread-safety: stateless functions; each handle is used by one thread.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_KAFKA_ADMIN_UTIL_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_KAFKA_ADMIN_UTIL_H_

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow::messaging::internal {

// A consumer with group.id `group_id` (only used for committed-offset requests; nothing joins
// the group unless the caller subscribes), enable.auto.offset.store=false, and its main queue
// redirected to the consumer queue. INVALID_ARGUMENT for a bad configuration.
// `configure`, when given, runs on the configuration before the handle is created (callbacks,
// opaque, extra properties).
absl::StatusOr<kafka::HandlePtr> NewAdminConsumer(
    const kafka::KafkaSettings& settings, const std::string& group_id,
    const std::function<void(rd_kafka_conf_t*)>& configure = nullptr);

// Number of partitions of `topic`. NOT_FOUND when the cluster does not know it; UNAVAILABLE when
// the metadata request failed (brokers unreachable).
absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic,
                                   absl::Duration timeout);

struct Watermarks {
  int64_t low = 0;   // first offset still stored
  int64_t high = 0;  // offset the next record will get
};

// Low/high watermarks of partitions 0..n-1 of `topic`. UNAVAILABLE when a query failed.
absl::StatusOr<std::vector<Watermarks>> QueryWatermarks(rd_kafka_t* rk, const std::string& topic,
                                                        int partitions, absl::Duration timeout);

// Reads the records [start, end) of each listed partition (manual assignment; `ranges` maps a
// partition to {start, end}); returns them ordered by partition then offset. DEADLINE_EXCEEDED
// when they did not all arrive before `deadline`; UNAVAILABLE for a consumer error.
absl::StatusOr<std::vector<kafka::MessagePtr>> ReadRanges(
    rd_kafka_t* rk, const std::string& topic, const std::map<int32_t, Watermarks>& ranges,
    absl::Time deadline);

// Command-line arguments: "--name=value", "--name value" and bare "--flag" (value "true").
// INVALID_ARGUMENT for a positional argument or an option not in `allowed`.
absl::StatusOr<std::map<std::string, std::string>> ParseFlags(
    const std::vector<std::string>& args, const std::set<std::string>& allowed,
    const std::set<std::string>& bare_flags);

// Header `name` of `m` (last occurrence), "" if absent.
std::string MessageHeader(const rd_kafka_message_t* m, const char* name);

}  // namespace quoteflow::messaging::internal

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_KAFKA_ADMIN_UTIL_H_
