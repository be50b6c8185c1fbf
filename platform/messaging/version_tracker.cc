#include "platform/messaging/version_tracker.h"

#include <string>

namespace quoteflow::messaging {

VersionObservation VersionTracker::Observe(absl::string_view key, uint64_t epoch, int64_t version) {
  if (version <= 0) return {VersionVerdict::kUntracked, 0};
  std::string k(key);
  auto it = index_.find(k);
  if (it == index_.end()) {
    lru_.push_front(Entry{k, epoch, version});
    index_.emplace(std::move(k), lru_.begin());
    if (index_.size() > capacity_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    return {VersionVerdict::kUnknown, 0};
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  Entry& e = *it->second;
  if (e.epoch != epoch) {
    e.epoch = epoch;
    e.version = version;
    return {VersionVerdict::kUnknown, 0};
  }
  VersionObservation obs{VersionVerdict::kInOrder, e.version};
  if (version == e.version + 1) {
    obs.verdict = VersionVerdict::kInOrder;
  } else if (version > e.version + 1) {
    obs.verdict = VersionVerdict::kGap;
  } else {
    obs.verdict = VersionVerdict::kStale;
  }
  if (version > e.version) e.version = version;
  return obs;
}

}  // namespace quoteflow::messaging
