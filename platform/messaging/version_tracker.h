// VersionTracker remembers, per aggregate, the highest aggregate_version a consumer has seen on
// the wire, so that the consumer can notice a version gap (version > last + 1: an event of the
// aggregate is missing or was reordered) or an older version arriving later (version <= last with
// a new event id). It is a bounded LRU: the least recently seen aggregates are forgotten, and an
// aggregate seen for the first time (or again after being forgotten) cannot be judged. Entries
// carry an "epoch" chosen by the caller (InboxConsumer uses one per partition assignment), so that
// after a partition is revoked and assigned again the old knowledge is ignored instead of producing
// false reports for records legitimately delivered again.
//
// Thread-safety: not thread-safe; owned by the consumer's single thread.
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_VERSION_TRACKER_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_VERSION_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

#include "absl/strings/string_view.h"

namespace quoteflow::messaging {

enum class VersionVerdict {
  kUnknown,   // first sighting (or forgotten, or from an older epoch): nothing to compare with
  kInOrder,   // version == last + 1
  kGap,       // version > last + 1
  kStale,     // version <= last (an older or repeated version)
  kUntracked  // version <= 0: the event carries no usable version
};

struct VersionObservation {
  VersionVerdict verdict = VersionVerdict::kUnknown;
  int64_t last = 0;  // the last version known before this observation (0 when unknown)
};

class VersionTracker {
 public:
  // `capacity` >= 1 aggregates are remembered.
  explicit VersionTracker(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // Judges `version` of aggregate `key` against what was seen in the same `epoch`, then remembers
  // max(last, version) under `epoch`.
  VersionObservation Observe(absl::string_view key, uint64_t epoch, int64_t version);

  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    std::string key;
    uint64_t epoch = 0;
    int64_t version = 0;
  };
  size_t capacity_;
  std::list<Entry> lru_;  // most recently seen first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_VERSION_TRACKER_H_
