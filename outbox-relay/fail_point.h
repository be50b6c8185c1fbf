// Fail points: named places in the relay where a test can make the process die on purpose, configured
// by the environment variable QUOTEFLOW_FAILPOINT="name:action[@n]" (several separated by ';').
// action is "abort" (SIGABRT, like a crash) or "exit" (_exit(86) without cleanup); n (default 1) is the
// hit that fires. Example: QUOTEFLOW_FAILPOINT=after-produce-before-delete:abort@3 kills the relay after
// its third batch was produced and acknowledged, before any of it is deleted.
// Parse once in main(); Hit() is called from the relay's single worker thread (not thread-safe).
#ifndef QUOTEFLOW_OUTBOX_RELAY_FAIL_POINT_H_
#define QUOTEFLOW_OUTBOX_RELAY_FAIL_POINT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace quoteflow::relay {

inline constexpr char kFailPointAfterProduceBeforeDelete[] = "after-produce-before-delete";

class FailPoints {
 public:
  // INVALID_ARGUMENT when the spec is malformed or names an unknown action.
  static absl::StatusOr<FailPoints> Parse(const std::string& spec);
  // Reads QUOTEFLOW_FAILPOINT (empty when unset).
  static absl::StatusOr<FailPoints> FromEnvironment();

  // Counts a hit of `name`; performs the configured action when this is the configured hit.
  void Hit(const std::string& name);
  bool empty() const { return points_.empty(); }

 private:
  struct Point {
    std::string action;
    int fire_at = 1;
    int hits = 0;
  };
  std::map<std::string, Point> points_;
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_FAIL_POINT_H_
