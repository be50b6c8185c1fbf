// ChildProcess starts an executable (fork + execve) with extra environment variables, optionally
// with its stdout captured through a pipe and its stdin connected to a socket the parent writes
// lines to; stderr is inherited or appended to a file. It is how tests and the local launcher run
// quoteflow binaries and the mock Kafka broker as real processes. The child gets
// PR_SET_PDEATHSIG(SIGKILL), so it dies when the thread that started it exits (Linux ties the
// death signal to the creating *thread*: start long-lived children from a long-lived thread,
// e.g. main() or the test body), and the destructor SIGKILLs and reaps a child still running, so
// tests never leak processes.
//
// Thread-safety: distinct objects may be used from different threads; one object must not be used
// from two threads at once (callers serialize, as BrokerProcess does). FreeTcpPort() is
// thread-safe.
#ifndef QUOTEFLOW_PLATFORM_PROCESS_CHILD_PROCESS_H_
#define QUOTEFLOW_PLATFORM_PROCESS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quoteflow::process {

class ChildProcess {
 public:
  enum class Stdin {
    kNull,     // /dev/null (the default: a child never steals the terminal)
    kInherit,  // the parent's stdin
    kPipe,     // a socket the parent writes to with WriteLine()
  };

  struct Options {
    // Path of the executable (no PATH search; use an absolute path or one relative to the cwd).
    std::string path;
    // argv[1..]; argv[0] is `path`.
    std::vector<std::string> args;
    // Added to (or replacing entries of) the parent's environment.
    std::vector<std::pair<std::string, std::string>> env;
    // Capture stdout through a pipe read by ReadLine(); otherwise stdout is inherited.
    bool capture_stdout = false;
    Stdin stdin_mode = Stdin::kNull;
    // Append stderr to this file (created 0644 if missing); empty: inherit the parent's stderr.
    std::string stderr_path;
    // Working directory of the child; empty: the parent's.
    std::string working_dir;
    // Start the child in a session (and process group) of its own (setsid), so that a signal to
    // the terminal's process group (Ctrl-C) does not reach it.
    bool new_session = false;
  };

  // Starts the child. INVALID_ARGUMENT for an empty path; NOT_FOUND / PERMISSION_DENIED (and
  // others, from errno) when the child cannot exec `path` or open `stderr_path` or `working_dir`
  // (the child reports the failure back before Start returns); INTERNAL when fork or pipe fails.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const Options& options);

  // SIGKILLs the child if it is still running, and reaps it.
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads one line of the child's stdout, without the trailing '\n' (a final line without '\n'
  // is returned at EOF). DEADLINE_EXCEEDED when no full line arrived by `deadline`; UNAVAILABLE at
  // EOF (the child closed stdout or exited); FAILED_PRECONDITION when stdout is not captured.
  absl::StatusOr<std::string> ReadLine(absl::Time deadline);

  // Writes `line` plus '\n' to the child's stdin. FAILED_PRECONDITION when stdin is not a pipe;
  // UNAVAILABLE when the child closed its stdin or exited (never raises SIGPIPE).
  absl::Status WriteLine(absl::string_view line);

  // Closes the parent's end of the child's stdin so that the child sees EOF. No-op otherwise.
  void CloseStdin();

  pid_t pid() const { return pid_; }

  // Sends `signal` to the child. FAILED_PRECONDITION once the child was reaped (its pid may have
  // been reused); INTERNAL if kill(2) fails otherwise.
  absl::Status Signal(int signal);

  // Waits for the child to exit and reaps it. Returns its exit status (0..255), or -N when signal
  // N killed it; later calls return the same value. DEADLINE_EXCEEDED when it is still running at
  // `deadline` (use absl::Now() to poll, absl::InfiniteFuture() to block).
  absl::StatusOr<int> Wait(absl::Time deadline);

  // True until the child has exited (reaps it if it just did).
  bool Running();

 private:
  ChildProcess() = default;
  // Reaps without blocking; true when the child has exited (exit_code_ is then set).
  bool TryReap();

  pid_t pid_ = -1;
  int pidfd_ = -1;      // pidfd_open() of the child, -1 if the kernel lacks it
  int stdout_fd_ = -1;  // read end of the stdout pipe
  int stdin_fd_ = -1;   // parent end of the stdin socket pair
  bool reaped_ = false;
  int exit_code_ = 0;
  std::string buffer_;  // stdout bytes read but not yet returned
  bool stdout_eof_ = false;
};

// Returns a TCP port that was free on 127.0.0.1 a moment ago (binds port 0, reads the port the
// kernel chose, closes the socket), or -1 if no socket could be bound. Another process may take
// the port before the caller binds it; callers that can should let the server pick the port.
int FreeTcpPort();

// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
bool AcceptsTcpConnections(int port);
// The same on another IPv4 address of this host (false for an unparsable address).
bool AcceptsTcpConnections(const std::string& ipv4, int port);

}  // namespace quoteflow::process

#endif  // QUOTEFLOW_PLATFORM_PROCESS_CHILD_PROCESS_H_
