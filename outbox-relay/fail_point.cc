#include "outbox-relay/fail_point.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {

absl::StatusOr<FailPoints> FailPoints::Parse(const std::string& spec) {
  FailPoints fp;
  for (absl::string_view entry : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    std::vector<std::string> parts = absl::StrSplit(entry, ':');
    if (parts.size() != 2 || parts[0].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("QUOTEFLOW_FAILPOINT entry '", entry, "' must be name:action[@n]"));
    }
    Point p;
    std::vector<std::string> action_n = absl::StrSplit(parts[1], '@');
    p.action = action_n[0];
    if (p.action != "abort" && p.action != "exit") {
      return absl::InvalidArgumentError(
          absl::StrCat("QUOTEFLOW_FAILPOINT action '", p.action, "' must be abort or exit"));
    }
    if (action_n.size() > 2 ||
        (action_n.size() == 2 && (!absl::SimpleAtoi(action_n[1], &p.fire_at) || p.fire_at < 1))) {
      return absl::InvalidArgumentError(
          absl::StrCat("QUOTEFLOW_FAILPOINT entry '", entry, "': @n must be a positive integer"));
    }
    fp.points_[parts[0]] = p;
  }
  return fp;
}

absl::StatusOr<FailPoints> FailPoints::FromEnvironment() {
  const char* spec = std::getenv("QUOTEFLOW_FAILPOINT");
  return Parse(spec == nullptr ? "" : spec);
}

void FailPoints::Hit(const std::string& name) {
  auto it = points_.find(name);
  if (it == points_.end()) return;
  Point& p = it->second;
  if (++p.hits != p.fire_at) return;
  log::Warn("fail point fired", {{"fail_point", name}, {"action", p.action}, {"hit", p.hits}});
  if (p.action == "abort") std::abort();
  _exit(86);
}

}  // namespace quoteflow::relay
