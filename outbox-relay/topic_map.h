// TopicMap: chooses the Kafka topic of an outbox row that has no explicit topic, from configuration like
// "quote=quotes,policy=policies,customer=customers,QuoteRejected=quotes". Keys are matched first against
// the row's event_type, then against its aggregate_type, so event-type entries override aggregate-type
// ones. A prefix, when given, is put before every topic the map resolves, explicit ones included, so
// that several systems (test runs, tenants) share one cluster. Immutable after Parse(); thread-safe
// for concurrent Resolve() calls.
#ifndef QUOTEFLOW_OUTBOX_RELAY_TOPIC_MAP_H_
#define QUOTEFLOW_OUTBOX_RELAY_TOPIC_MAP_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace quoteflow::relay {

inline constexpr char kDefaultTopicMap[] = "quote=quotes,policy=policies,customer=customers";

class TopicMap {
 public:
  // Parses "key=topic,key=topic". INVALID_ARGUMENT for an empty map, an entry without '=', an empty key,
  // a duplicate key, or a topic name Kafka would refuse (empty, longer than 249, or characters other
  // than [a-zA-Z0-9._-]), with or without `prefix`.
  static absl::StatusOr<TopicMap> Parse(const std::string& spec, const std::string& prefix = "");

  // The topic for a row: the prefix followed by `explicit_topic` when non-empty, else by the entry for
  // event_type, else by the entry for aggregate_type; nullopt when none applies (the row is then
  // parked as unpublishable).
  std::optional<std::string> Resolve(const std::string& explicit_topic,
                                     const std::string& event_type,
                                     const std::string& aggregate_type) const;

  // "key=topic,..." in key order (topics with their prefix).
  std::string ToString() const;

 private:
  std::string prefix_;
  std::map<std::string, std::string> entries_;
};

// True when `topic` is a legal Kafka topic name.
bool IsValidTopicName(const std::string& topic);

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_TOPIC_MAP_H_
