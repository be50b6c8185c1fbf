#include "outbox-relay/topic_map.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace quoteflow::relay {

bool IsValidTopicName(const std::string& topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<TopicMap> TopicMap::Parse(const std::string& spec, const std::string& prefix) {
  TopicMap map;
  map.prefix_ = prefix;
  if (!prefix.empty() && !IsValidTopicName(prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--topic-prefix '", prefix, "' is not a valid start of a Kafka topic name"));
  }
  for (absl::string_view raw : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--topic-map entry '", entry, "' must look like aggregate_or_event_type=topic"));
    }
    std::string key(absl::StripAsciiWhitespace(entry.substr(0, eq)));
    std::string topic = absl::StrCat(prefix, absl::StripAsciiWhitespace(entry.substr(eq + 1)));
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--topic-map entry '", entry, "' has no key"));
    }
    if (!IsValidTopicName(topic)) {
      return absl::InvalidArgumentError(absl::StrCat("--topic-map entry '", entry, "': '", topic,
                                                     "' is not a valid Kafka topic name"));
    }
    if (!map.entries_.emplace(key, topic).second) {
      return absl::InvalidArgumentError(absl::StrCat("--topic-map names '", key, "' twice"));
    }
  }
  if (map.entries_.empty()) return absl::InvalidArgumentError("--topic-map is empty");
  return map;
}

std::optional<std::string> TopicMap::Resolve(const std::string& explicit_topic,
                                             const std::string& event_type,
                                             const std::string& aggregate_type) const {
  if (!explicit_topic.empty()) return absl::StrCat(prefix_, explicit_topic);
  if (auto it = entries_.find(event_type); it != entries_.end()) return it->second;
  if (auto it = entries_.find(aggregate_type); it != entries_.end()) return it->second;
  return std::nullopt;
}

std::string TopicMap::ToString() const {
  return absl::StrJoin(entries_, ",", absl::PairFormatter("="));
}

}  // namespace quoteflow::relay
