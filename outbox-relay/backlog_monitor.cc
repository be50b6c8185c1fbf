#include "outbox-relay/backlog_monitor.h"

#include <chrono>
#include <utility>

#include "platform/observability/log.h"

namespace quoteflow::relay {

BacklogMonitor::BacklogMonitor(PgBacklogReader::Options reader, absl::Duration interval)
    : reader_(std::move(reader)), interval_(interval) {}

BacklogMonitor::~BacklogMonitor() { Stop(); }

void BacklogMonitor::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void BacklogMonitor::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BacklogMonitor::SetHeldShards(const std::vector<int>& held) {
  std::lock_guard<std::mutex> l(mu_);
  held_ = held;
}

std::optional<BacklogStats> BacklogMonitor::TakeLatest() {
  std::lock_guard<std::mutex> l(mu_);
  return std::exchange(latest_, std::nullopt);
}

void BacklogMonitor::Loop() {
  bool failing = false;  // warn once per outage, not every interval
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    const std::vector<int> held = held_;
    l.unlock();
    absl::StatusOr<BacklogStats> stats = reader_.Read(held);
    if (!stats.ok() && !failing) {
      log::Warn("reading the backlog gauges failed; retrying every stats interval",
                {{"error", stats.status().ToString()}});
    } else if (stats.ok() && failing) {
      log::Info("reading the backlog gauges again");
    }
    failing = !stats.ok();
    l.lock();
    if (stats.ok()) latest_ = *stats;
    wake_.wait_for(l, absl::ToChronoMilliseconds(interval_), [this] { return stopping_; });
  }
}

}  // namespace quoteflow::relay
