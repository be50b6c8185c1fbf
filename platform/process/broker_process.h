// BrokerProcess runs the `quoteflow-broker` binary (librdkafka's mock Kafka cluster in its own
// process, see platform/kafka/mock_broker.h) as a child: it waits for the
// `KAFKA_BOOTSTRAP_SERVERS=host:port,...` line the broker prints once it listens, and drives its
// fault injection through control lines on the broker's stdin ("broker-down 1", "errors Produce 3
// NOT_LEADER_FOR_PARTITION", ...; the full list is in mock_broker.h), each answered by `ok` or
// `error: <reason>` on its stdout. Tests and the local launcher use it so that killing a relay or
// a worker never kills the broker.
//
// Thread-safety: Control() may be called from several threads (commands are serialized);
// bootstrap_servers() and pid() are immutable. Stop()/Kill() must not race with Control().
#ifndef QUOTEFLOW_PLATFORM_PROCESS_BROKER_PROCESS_H_
#define QUOTEFLOW_PLATFORM_PROCESS_BROKER_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "platform/process/child_process.h"

namespace quoteflow::process {

class BrokerProcess {
 public:
  struct Options {
    // Path of the quoteflow-broker executable.
    std::string binary;
    // --brokers; 0 keeps the broker's default (3).
    int brokers = 0;
    // --topics as "name:partitions,..."; empty keeps the broker's default topic list.
    std::string topics;
    // More flags passed as they are.
    std::vector<std::string> extra_args;
    // Append the broker's JSON log (stderr) to this file; empty: inherit stderr.
    std::string stderr_path;
    // How long to wait for the KAFKA_BOOTSTRAP_SERVERS line.
    absl::Duration start_timeout = absl::Seconds(15);
  };

  // Starts the broker and waits until it listens. Errors of ChildProcess::Start (NOT_FOUND for a
  // wrong binary path, ...); DEADLINE_EXCEEDED when no bootstrap line came within start_timeout;
  // UNAVAILABLE when the broker exited first (e.g. bad flags: its stderr says why).
  static absl::StatusOr<std::unique_ptr<BrokerProcess>> Start(const Options& options);

  // Kills the broker if still running.
  ~BrokerProcess() = default;

  // "127.0.0.1:port,127.0.0.1:port,..." as printed by the broker.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  pid_t pid() const { return child_->pid(); }

  // Sends one control command and waits for its reply. OK on `ok`; INVALID_ARGUMENT carrying the
  // broker's reason on `error: ...`; DEADLINE_EXCEEDED without a reply within `timeout`;
  // UNAVAILABLE when the broker is gone; INTERNAL for an unexpected reply line.
  absl::Status Control(absl::string_view command, absl::Duration timeout = absl::Seconds(10))
      ABSL_LOCKS_EXCLUDED(mu_);

  // SIGTERM, then waits up to `grace` for a clean exit, then SIGKILL. Returns the exit status as
  // ChildProcess::Wait does (0 for a clean shutdown). Idempotent.
  absl::StatusOr<int> Stop(absl::Duration grace = absl::Seconds(10));

  // SIGKILL and reap (simulates a crashed broker; all its data is lost, it is in memory only).
  void Kill();

 private:
  explicit BrokerProcess(std::unique_ptr<ChildProcess> child) : child_(std::move(child)) {}

  absl::Mutex mu_;
  std::unique_ptr<ChildProcess> child_;
  std::string bootstrap_servers_;
};

}  // namespace quoteflow::process

#endif  // QUOTEFLOW_PLATFORM_PROCESS_BROKER_PROCESS_H_
