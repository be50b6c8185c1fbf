// Resetting a consumer group's committed offsets, for `quotectl replay ...`:
//   replay --group G --topic T (--to-offset O [--partition P] | --to-time RFC3339 | --to-earliest
//          | --to-latest) [--dry-run] [--timeout 60s]
// The next run of the group's workers starts from the new offsets; replaying events that were
// already applied changes nothing, because each worker's inbox absorbs event ids it has seen, as
// long as its inbox row is still there: workers sweep inbox rows older than their --retention,
// which they require to be at least --replay-window, the oldest record a topic still holds
// (retention.ms + segment.ms; consumers/common/retention_sweeper.h). Replay no further back.
//
// The group must be inactive: stop its workers first. The check: rd_kafka_list_groups (real
// Kafka, Event Hubs) reports the group's members; where the broker does not offer ListGroups (the
// librdkafka mock cluster), the tool joins the group itself, subscribed to T, and proceeds only if
// it is assigned every partition of T (a running worker would get some of them). Committing as
// that sole member also works on brokers that refuse commits from non-members of a known group.
// --to-time uses rd_kafka_offsets_for_times; when the broker answers without a lookup (the mock
// always says "no record after T"), the partition is scanned for the first record at or after T.
//
// Each call builds its own short-lived librdkafka client; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_REPLAY_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_REPLAY_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow::messaging {

enum class ReplayTarget { kOffset, kTime, kEarliest, kLatest };

struct ReplayRequest {
  std::string group;
  std::string topic;
  ReplayTarget target = ReplayTarget::kEarliest;
  int64_t offset = -1;     // kOffset: the offset of the next record to consume
  int32_t partition = -1;  // kOffset: only this partition (-1: every partition of the topic)
  absl::Time time;         // kTime
  bool dry_run = false;    // compute and report, commit nothing, do not join the group
  absl::Duration timeout = absl::Seconds(60);
};

struct PartitionReset {
  int32_t partition = 0;
  int64_t previous = -1;  // committed offset before (-1: none)
  int64_t offset = 0;     // new committed offset
};

// Resets `request.group`'s committed offsets on `request.topic`. Errors: NOT_FOUND for an unknown
// topic; INVALID_ARGUMENT for a partition the topic lacks; OUT_OF_RANGE for an offset outside a
// partition's stored range [low, high]; FAILED_PRECONDITION when the group has active members
// (the message says to stop the workers first); DEADLINE_EXCEEDED when the group could not be
// joined within the timeout (members that have not left yet); UNAVAILABLE when the brokers cannot
// be reached or the commit failed.
absl::StatusOr<std::vector<PartitionReset>> ResetConsumerGroup(const kafka::KafkaSettings& settings,
                                                               const ReplayRequest& request);

// Runs `replay ...` (a leading "replay" is skipped), printing the reset per partition to `out` and
// errors to `err`. Returns 0 on success, 2 for a usage error, 1 when the operation failed.
int RunReplayCommand(const std::vector<std::string>& args, const kafka::KafkaSettings& settings,
                     std::ostream& out, std::ostream& err);

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_REPLAY_H_
