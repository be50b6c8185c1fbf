#include "platform/process/child_process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace quoteflow::process {
namespace {

// What the child failed to do before exec; sent to the parent with errno.
enum ChildStage : int { kStageStdin = 1, kStageStderr, kStageChdir, kStageExec, kStageParent };

struct ChildFailure {
  int stage;
  int err;
};

const char* StageName(int stage) {
  switch (stage) {
    case kStageStdin:
      return "open /dev/null for stdin";
    case kStageStderr:
      return "open stderr file";
    case kStageChdir:
      return "chdir to working directory";
    case kStageExec:
      return "exec";
    case kStageParent:
      return "start (parent exited)";
  }
  return "start";
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Milliseconds until `deadline` for poll(2): -1 for an infinite deadline, else in [0, INT_MAX],
// rounded up so that a poll does not return just before the deadline.
int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

// dup2 that also works when `fd` already is `target` (then only clears close-on-exec).
bool MoveFd(int fd, int target) {
  if (fd == target) return fcntl(fd, F_SETFD, 0) == 0;
  return dup2(fd, target) == target;
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const Options& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("ChildProcess: empty path");

  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(options.path);
  argv_storage.insert(argv_storage.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::set<std::string> overridden;
  std::vector<std::string> env_storage;
  for (const auto& [name, value] : options.env) {
    overridden.insert(name);
    env_storage.push_back(absl::StrCat(name, "=", value));
  }
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    size_t eq = entry.find('=');
    std::string name(entry.substr(0, eq));
    if (!overridden.contains(name)) env_storage.emplace_back(entry);
  }
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int report[2] = {-1, -1};  // child -> parent: ChildFailure, or EOF on successful exec
  int out[2] = {-1, -1};
  int in[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fds : {report, out, in}) {
      CloseFd(fds[0]);
      CloseFd(fds[1]);
    }
  };
  if (pipe2(report, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  if (options.capture_stdout && pipe2(out, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return ErrnoStatus(err, "pipe2");
  }
  if (options.stdin_mode == Stdin::kPipe &&
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
    int err = errno;
    close_all();
    return ErrnoStatus(err, "socketpair");
  }

  const pid_t parent = getpid();
  const char* stderr_path = options.stderr_path.empty() ? nullptr : options.stderr_path.c_str();
  const char* working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  const char* path = options.path.c_str();
  const Stdin stdin_mode = options.stdin_mode;
  const bool new_session = options.new_session;

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close_all();
    return ErrnoStatus(err, "fork");
  }
  if (pid == 0) {
    // Child.
    auto fail = [&](int stage) {
      ChildFailure f{stage, errno};
      ssize_t ignored = write(report[1], &f, sizeof(f));
      (void)ignored;
      _exit(127);
    };
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) fail(kStageParent);
    if (new_session) setsid();
    // Undo what the parent may have changed: blocked or ignored signals survive exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
    }
    if (stdin_mode == Stdin::kNull) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0 || !MoveFd(fd, STDIN_FILENO)) fail(kStageStdin);
    } else if (stdin_mode == Stdin::kPipe) {
      if (!MoveFd(in[1], STDIN_FILENO)) fail(kStageStdin);
    }
    if (out[1] >= 0 && !MoveFd(out[1], STDOUT_FILENO)) fail(kStageExec);
    if (stderr_path != nullptr) {
      int fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0 || !MoveFd(fd, STDERR_FILENO)) fail(kStageStderr);
    }
    if (working_dir != nullptr && chdir(working_dir) != 0) fail(kStageChdir);
    execve(path, argv.data(), envp.data());
    fail(kStageExec);
  }

  // Parent.
  CloseFd(report[1]);
  CloseFd(out[1]);
  CloseFd(in[1]);
  ChildFailure failure{0, 0};
  ssize_t n;
  do {
    n = read(report[0], &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  CloseFd(report[0]);
  if (n == static_cast<ssize_t>(sizeof(failure))) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    close_all();
    return ErrnoStatus(failure.err,
                       absl::StrCat(options.path, ": ", StageName(failure.stage),
                                    failure.stage == kStageStderr ? " " + options.stderr_path : "",
                                    failure.stage == kStageChdir ? " " + options.working_dir : ""));
  }

  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  child->pid_ = pid;
  child->stdout_fd_ = out[0];
  child->stdin_fd_ = in[0];
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    child->pidfd_ = pidfd;
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  CloseFd(stdout_fd_);
  CloseFd(stdin_fd_);
  CloseFd(pidfd_);
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Time deadline) {
  if (stdout_fd_ < 0 && buffer_.empty() && !stdout_eof_) {
    return absl::FailedPreconditionError("ChildProcess: stdout is not captured");
  }
  while (true) {
    if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (stdout_eof_) {
      if (!buffer_.empty()) return std::exchange(buffer_, std::string());
      return absl::UnavailableError(absl::StrCat("child ", pid_, " closed its stdout"));
    }
    struct pollfd p = {stdout_fd_, POLLIN, 0};
    int r = poll(&p, 1, PollTimeoutMs(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "poll child stdout");
    }
    if (r == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("no line from child ", pid_, " before the deadline"));
    }
    char chunk[4096];
    ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return ErrnoStatus(errno, "read child stdout");
    }
    if (n == 0) {
      stdout_eof_ = true;
      CloseFd(stdout_fd_);
    } else {
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
}

absl::Status ChildProcess::WriteLine(absl::string_view line) {
  if (stdin_fd_ < 0) return absl::FailedPreconditionError("ChildProcess: stdin is not a pipe");
  std::string data = absl::StrCat(line, "\n");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(stdin_fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        return absl::UnavailableError(absl::StrCat("child ", pid_, " closed its stdin"));
      }
      return ErrnoStatus(errno, "write child stdin");
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

void ChildProcess::CloseStdin() { CloseFd(stdin_fd_); }

absl::Status ChildProcess::Signal(int signal) {
  if (reaped_ || TryReap()) {
    return absl::FailedPreconditionError(absl::StrCat("child ", pid_, " already exited"));
  }
  if (kill(pid_, signal) != 0) return ErrnoStatus(errno, absl::StrCat("kill ", pid_));
  return absl::OkStatus();
}

bool ChildProcess::TryReap() {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  reaped_ = true;
  if (r < 0) {
    exit_code_ = -SIGKILL;  // ECHILD: somebody else reaped it (SIGCHLD ignored); unknown status
  } else if (WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_code_ = -WTERMSIG(status);
  }
  CloseFd(pidfd_);
  return true;
}

absl::StatusOr<int> ChildProcess::Wait(absl::Time deadline) {
  while (!TryReap()) {
    int timeout = PollTimeoutMs(deadline);
    if (timeout == 0) {
      return absl::DeadlineExceededError(absl::StrCat("child ", pid_, " still running"));
    }
    if (pidfd_ >= 0) {
      struct pollfd p = {pidfd_, POLLIN, 0};
      if (poll(&p, 1, timeout) < 0 && errno != EINTR) {
        return ErrnoStatus(errno, "poll pidfd");
      }
    } else {
      // No pidfd (old kernel): poll waitpid with a short period.
      absl::SleepFor(timeout < 0 ? absl::Milliseconds(5)
                                 : std::min(absl::Milliseconds(5), absl::Milliseconds(timeout)));
    }
  }
  return exit_code_;
}

bool ChildProcess::Running() { return !TryReap(); }

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

bool AcceptsTcpConnections(int port) { return AcceptsTcpConnections("127.0.0.1", port); }

bool AcceptsTcpConnections(const std::string& ipv4, int port) {
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ipv4.c_str(), &addr.sin_addr) != 1) return false;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace quoteflow::process
