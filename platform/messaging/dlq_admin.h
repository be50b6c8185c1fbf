// Operator functions over dead-letter topics (the "<topic>.dlq" records InboxConsumer produces,
// with the dlq_* headers of dlq_headers.h), for `quotectl dlq ...`:
//   dlq list --topic T.dlq [--partition P] [--limit N]
//       reads the topic from its first stored record (manual assignment: no consumer group, no
//       commit) and prints one line per record: position, key, consumer, original position,
//       attempts, time, reason.
//   dlq redrive --topic T.dlq (--offset O [--partition P] | --all)
//       re-produces the original record (key, value, headers minus dlq_*) to its original topic and
//       partition with the idempotent producer, and waits for the delivery report. Redriving is
//       safe to repeat: the consuming worker's inbox absorbs an event id it already applied, so a
//       redrive of something that had been applied (or a second redrive) changes nothing. The DLQ
//       record itself stays (Kafka topics are append-only); a record that fails again is
//       dead-lettered again, as a new DLQ record.
// Each call builds its own short-lived librdkafka clients; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_DLQ_ADMIN_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_DLQ_ADMIN_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow::messaging {

struct DlqRecord {
  std::string dlq_topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  // Every header in order, dlq_* ones included.
  std::vector<std::pair<std::string, std::string>> headers;
  // From the dlq_* headers ("" / -1 / 0 when missing).
  std::string reason;
  std::string consumer;
  std::string original_topic;
  int32_t original_partition = -1;
  int64_t original_offset = -1;
  int attempts = 0;
  std::string failed_at;
};

struct DlqReadOptions {
  int32_t partition = -1;  // -1: all partitions
  int64_t offset = -1;     // >= 0: only the record at this offset (needs a partition)
  int limit = 0;           // 0: no limit; else the first `limit` records (partition, offset order)
  absl::Duration timeout = absl::Seconds(30);
};

// Reads dead-letter records. NOT_FOUND when the topic does not exist, or when `offset` is given
// and no record is stored there; INVALID_ARGUMENT for a partition the topic lacks; UNAVAILABLE
// when the brokers cannot be reached; DEADLINE_EXCEEDED when reading took longer than `timeout`.
absl::StatusOr<std::vector<DlqRecord>> ReadDlq(const kafka::KafkaSettings& settings,
                                               const std::string& dlq_topic,
                                               const DlqReadOptions& options);

// Re-produces each record to its original topic and partition (key, value, headers without dlq_*)
// and waits for every delivery report. FAILED_PRECONDITION for a record without
// dlq_original_topic (not produced by InboxConsumer) or a trimmed copy (dlq_trimmed: its value is
// not there to send; the message says where the original is); UNAVAILABLE / NOT_FOUND / INTERNAL with the
// first failed delivery's reason (the others may have been delivered: the message says how many).
absl::Status RedriveDlqRecords(const kafka::KafkaSettings& settings,
                               const std::vector<DlqRecord>& records,
                               absl::Duration timeout = absl::Seconds(30));

// Runs `dlq list ...` / `dlq redrive ...` (a leading "dlq" is skipped), printing results to `out`
// and errors to `err`. Returns 0 on success, 2 for a usage error, 1 when the operation failed.
int RunDlqCommand(const std::vector<std::string>& args, const kafka::KafkaSettings& settings,
                  std::ostream& out, std::ostream& err);

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_DLQ_ADMIN_H_
