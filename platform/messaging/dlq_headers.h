// Names of the Kafka headers InboxConsumer adds when it dead-letters a record to "<topic>.dlq",
// shared with the `quotectl dlq` admin functions (dlq_admin.h). A dead-lettered record keeps the
// original key, value and headers; these are appended:
//   dlq_reason              why it was dead-lettered ("decode: ...", "handler: INVALID_ARGUMENT:
//   ...") dlq_consumer            the inbox consumer name that gave up on it dlq_original_topic
//   topic, partition and offset it was read from (decimal strings) dlq_original_partition
//   dlq_original_offset
//   dlq_attempts            how many times it was tried (decimal)
//   dlq_failed_at           RFC 3339 UTC time of the last failure
// A record that cannot be dead-lettered as it is (its copy is larger than the producer or the
// dead-letter topic accepts) is dead-lettered as a trimmed copy instead: original key (up to
// 4 KiB), no value, only the dlq_* headers, plus
//   dlq_trimmed             "true"
//   dlq_original_bytes      size of the original value (decimal)
// The original stays readable at its coordinates (dlq_original_*) while the source topic keeps it.
// Header-only constants; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_DLQ_HEADERS_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_DLQ_HEADERS_H_

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace quoteflow::messaging {

inline constexpr char kDlqReasonHeader[] = "dlq_reason";
inline constexpr char kDlqConsumerHeader[] = "dlq_consumer";
inline constexpr char kDlqOriginalTopicHeader[] = "dlq_original_topic";
inline constexpr char kDlqOriginalPartitionHeader[] = "dlq_original_partition";
inline constexpr char kDlqOriginalOffsetHeader[] = "dlq_original_offset";
inline constexpr char kDlqAttemptsHeader[] = "dlq_attempts";
inline constexpr char kDlqFailedAtHeader[] = "dlq_failed_at";
inline constexpr char kDlqTrimmedHeader[] = "dlq_trimmed";
inline constexpr char kDlqOriginalBytesHeader[] = "dlq_original_bytes";

// True for the headers above (every header whose name starts with "dlq_"): a redrive strips them.
inline bool IsDlqHeader(absl::string_view name) { return absl::StartsWith(name, "dlq_"); }

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_DLQ_HEADERS_H_
