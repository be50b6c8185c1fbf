// BacklogMonitor: reads the outbox's backlog gauges (PgBacklogReader) every `interval` on a thread
// and Postgres connection of its own, so that the relay's publishing loop never waits for them.
// On the publishing connection the read held up every row behind it: 115-167 ms right after a
// 100,000-row drain, before it walked the indexes the relay cleans (the Debezium benchmark's paced
// phase saw it as its commit -> consumed maximum, issue 13).
//
// Thread-safety: every method may be called from any thread.
#ifndef QUOTEFLOW_OUTBOX_RELAY_BACKLOG_MONITOR_H_
#define QUOTEFLOW_OUTBOX_RELAY_BACKLOG_MONITOR_H_

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "outbox-relay/outbox_store.h"

namespace quoteflow::relay {

class BacklogMonitor {
 public:
  BacklogMonitor(PgBacklogReader::Options reader, absl::Duration interval);
  ~BacklogMonitor();  // Stop()
  BacklogMonitor(const BacklogMonitor&) = delete;
  BacklogMonitor& operator=(const BacklogMonitor&) = delete;

  // Starts reading: at once, then every interval. No-op when started.
  void Start();
  // Ends the thread, after the read under way if any (bounded, on a lost link, by the
  // connection's tcp_user_timeout).
  void Stop();

  // The shards whose rows make BacklogStats::held_backlog true (the relay's, as of its last
  // lease tick).
  void SetHeldShards(const std::vector<int>& held);
  // The newest read that was not taken yet.
  std::optional<BacklogStats> TakeLatest();

 private:
  void Loop();

  PgBacklogReader reader_;  // used by the thread only
  const absl::Duration interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<int> held_;
  std::optional<BacklogStats> latest_;
  std::thread thread_;
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_BACKLOG_MONITOR_H_
