#include "platform/local/local_postgres.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"

namespace quoteflow {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kSuperuser[] = "quoteflow";
constexpr char kDatabase[] = "quoteflow";
// sizeof(sockaddr_un::sun_path) - 1.
constexpr size_t kMaxSocketPath = 107;

std::string ErrnoText(absl::string_view what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

// ---- Code that runs in a forked child before exec: async-signal-safe calls only. ----

void ChildWrite(int fd, const char* msg) {
  ssize_t unused = write(fd, msg, std::strlen(msg));
  (void)unused;
}

void ChildCloseFrom(int lowfd) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, static_cast<unsigned>(lowfd), ~0U, 0) == 0) return;
#endif
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  for (int fd = lowfd; fd < max_fd; ++fd) close(fd);
}

// Resets signal state and drops to (uid, gid) when uid is not -1. Exits the child on failure,
// writing a message to `err_fd`.
void ChildPrepare(uid_t uid, gid_t gid, int err_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(sig, SIG_DFL);
  if (uid != static_cast<uid_t>(-1)) {
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      ChildWrite(err_fd, "local_postgres: could not switch to the postgres user\n");
      _exit(126);
    }
  }
  if (chdir("/") != 0) _exit(126);
}

// Argument vector with stable storage for execv.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : args_(std::move(args)) {
    for (auto& a : args_) ptrs_.push_back(a.data());
    ptrs_.push_back(nullptr);
  }
  char* const* get() const { return ptrs_.data(); }
  const char* path() const { return args_[0].c_str(); }
  std::string ToString() const { return absl::StrJoin(args_, " "); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (as uid/gid when given) and captures its output. Errors: INTERNAL when it cannot be
// started.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& args, uid_t uid,
                                         gid_t gid) {
  Argv argv(args);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(ErrnoText("pipe2"));
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    if (devnull >= 0) close(devnull);
    return absl::InternalError(ErrnoText("fork"));
  }
  if (pid == 0) {
    ChildPrepare(uid, gid, fds[1]);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    ChildCloseFrom(3);
    execv(argv.path(), argv.get());
    ChildWrite(2, "local_postgres: exec failed\n");
    _exit(127);
  }
  close(fds[1]);
  if (devnull >= 0) close(devnull);
  CommandResult result;
  char buf[4096];
  while (true) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(fds[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return result;
}

std::string Trim(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Output of `pg_config --bindir`, or "" when pg_config is unavailable.
std::string PgConfigBinDir() {
  for (const char* pg_config : {"/usr/bin/pg_config", "/usr/local/bin/pg_config"}) {
    if (access(pg_config, X_OK) != 0) continue;
    auto result =
        RunCommand({pg_config, "--bindir"}, static_cast<uid_t>(-1), static_cast<gid_t>(-1));
    if (result.ok() && result->exit_code == 0) return Trim(result->output);
  }
  return "";
}

absl::StatusOr<std::string> FindBinDir() {
  std::vector<std::string> candidates;
  if (const char* env = getenv("QUOTEFLOW_PG_BINDIR"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  }
  candidates.push_back(kDefaultBinDir);
  if (std::string from_pg_config = PgConfigBinDir(); !from_pg_config.empty()) {
    // pg_config may belong to a different major version than the server package; prefer it only
    // when it has a server (Debian's /usr/bin/pg_config comes from libpq-dev).
    candidates.insert(candidates.begin() + (candidates.size() > 1 ? 1 : 0), from_pg_config);
  }
  for (const auto& dir : candidates) {
    if (access((dir + "/initdb").c_str(), X_OK) == 0 &&
        access((dir + "/postgres").c_str(), X_OK) == 0) {
      return dir;
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "PostgreSQL server binaries (initdb, postgres) not found in any of: ",
      absl::StrJoin(candidates, ", "), " (install postgresql-15 or set QUOTEFLOW_PG_BINDIR)"));
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(ErrnoText("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string err = ErrnoText("bind 127.0.0.1:0");
    close(fd);
    return absl::InternalError(err);
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - max_bytes : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

// True when `pid` has exited (and is reaped now); fills *wstatus.
bool Reaped(pid_t pid, int* wstatus) {
  while (true) {
    pid_t r = waitpid(pid, wstatus, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno == EINTR) continue;
    // ECHILD: not our child any more (reaped elsewhere); treat as gone.
    if (r < 0) return true;
    return false;
  }
}

bool WaitReaped(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  int wstatus = 0;
  while (!Reaped(pid, &wstatus)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string DescribeExit(int wstatus) {
  if (WIFEXITED(wstatus)) return absl::StrCat("exited with code ", WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return absl::StrCat("killed by signal ", WTERMSIG(wstatus));
  return "stopped";
}

}  // namespace

// Runs closures on one long-lived thread, so the postmaster's PDEATHSIG is tied to the lifetime of
// this object rather than to whichever thread called Start()/Restart().
class LocalPostgres::Spawner {
 public:
  Spawner() : thread_([this] { Loop(); }) {}
  ~Spawner() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Runs `fn` on the spawner thread and returns when it has finished.
  void Run(const std::function<void()>& fn) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return task_ == nullptr; });
    task_ = &fn;
    const uint64_t mine = ++submitted_;
    cv_.notify_all();
    cv_.wait(lock, [this, mine] { return completed_ >= mine; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return task_ != nullptr || stop_; });
      if (task_ != nullptr) {
        (*task_)();
        task_ = nullptr;
        ++completed_;
        cv_.notify_all();
        continue;
      }
      return;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* task_ = nullptr;  // guarded by mu_
  uint64_t submitted_ = 0;                       // guarded by mu_
  uint64_t completed_ = 0;                       // guarded by mu_
  bool stop_ = false;                            // guarded by mu_
  std::thread thread_;
};

LocalPostgres::LocalPostgres(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<LocalPostgres>> LocalPostgres::Start(const Options& options) {
  std::unique_ptr<LocalPostgres> pg(new LocalPostgres(options));
  absl::Time t0 = absl::Now();
  RETURN_IF_ERROR(pg->Init());
  absl::Time t1 = absl::Now();
  RETURN_IF_ERROR(pg->StartServer());
  log::Info("local postgres started",
            {{"url", pg->database_url_},
             {"data_dir", pg->data_dir_},
             {"pid", static_cast<int>(pg->pid_)},
             {"durable", options.durable},
             {"init_ms", static_cast<long long>(absl::ToInt64Milliseconds(t1 - t0))},
             {"start_ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t1))}});
  return pg;
}

absl::Status LocalPostgres::Init() {
  owner_pid_ = getpid();
  ASSIGN_OR_RETURN(bin_dir_, FindBinDir());

  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, but there is no `postgres` system user to run initdb/postgres as "
          "(initdb refuses to run as root); create one or run as a non-root user");
    }
    run_uid_ = pw->pw_uid;
    run_gid_ = pw->pw_gid;
  }

  std::error_code ec;
  if (options_.dir.empty()) {
    std::string tmpl = "/tmp/quoteflow-pg-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError(ErrnoText("mkdtemp " + tmpl));
    dir_ = tmpl;
    temp_dir_ = true;
  } else {
    dir_ = fs::absolute(options_.dir, ec).lexically_normal().string();
    if (ec)
      return absl::FailedPreconditionError(
          absl::StrCat("bad dir ", options_.dir, ": ", ec.message()));
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    fs::create_directories(dir_, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create ", dir_, ": ", ec.message()));
    }
  }
  data_dir_ = dir_ + "/data";
  log_path_ = dir_ + "/postgres.log";
  // The socket is <data_dir>/.s.PGSQL.<port>; sun_path is limited.
  if (data_dir_.size() + std::strlen("/.s.PGSQL.65535") > kMaxSocketPath) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory path too long for a unix socket inside it (", data_dir_.size(),
                     " chars): ", data_dir_, "; use a shorter dir"));
  }

  if (run_uid_ != static_cast<uid_t>(-1)) {
    if (chown(dir_.c_str(), run_uid_, run_gid_) != 0) {
      return absl::FailedPreconditionError(ErrnoText("chown " + dir_ + " to postgres"));
    }
    chmod(dir_.c_str(), 0700);
    // The server user must reach the directory: every parent needs search permission for it.
    auto check = RunCommand({"/usr/bin/test", "-w", dir_, "-a", "-x", dir_}, run_uid_, run_gid_);
    if (!check.ok() || check->exit_code != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("the postgres user cannot access ", dir_,
                       " (every parent directory must be traversable by it, e.g. chmod o+x); "
                       "use a directory under /tmp or make the parents traversable"));
    }
  }

  if (fs::exists(data_dir_ + "/PG_VERSION", ec)) {
    log::Info("reusing initialized postgres data directory", {{"data_dir", data_dir_}});
    return absl::OkStatus();
  }
  if (fs::exists(data_dir_, ec) && !fs::is_empty(data_dir_, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        data_dir_, " exists but is not an initialized cluster (no PG_VERSION); remove it"));
  }
  std::vector<std::string> initdb = {bin_dir_ + "/initdb",
                                     "-D",
                                     data_dir_,
                                     "-U",
                                     kSuperuser,
                                     "-A",
                                     "trust",
                                     "-E",
                                     "UTF8",
                                     "--locale=C",
                                     "--no-instructions"};
  if (!options_.durable) initdb.push_back("--no-sync");
  ASSIGN_OR_RETURN(CommandResult result, RunCommand(initdb, run_uid_, run_gid_));
  if (result.exit_code != 0) {
    return absl::InternalError(absl::StrCat("initdb failed (", Argv(initdb).ToString(), "), exit ",
                                            result.exit_code, ":\n", result.output));
  }
  return absl::OkStatus();
}

absl::Status LocalPostgres::StartServer() {
  RETURN_IF_ERROR(TrustNetworks());
  // A port picked by bind(:0) can be taken by someone else before the server binds it: retry with a
  // new one, but only when the caller did not ask for a fixed port and this is the first start (a
  // restart keeps the URL tests already hold).
  const bool may_repick = options_.port == 0 && port_ == 0;
  if (port_ == 0) {
    if (options_.port != 0) {
      port_ = options_.port;
    } else {
      ASSIGN_OR_RETURN(port_, PickFreePort());
    }
  }
  for (int attempt = 0;; ++attempt) {
    database_url_ = DatabaseUrl(kDatabase);
    std::string bind_error;
    absl::Status status = SpawnAndWait(&bind_error);
    if (status.ok()) break;
    if (may_repick && !bind_error.empty() && attempt < 5) {
      log::Warn("postgres port taken, picking another", {{"port", port_}});
      ASSIGN_OR_RETURN(port_, PickFreePort());
      continue;
    }
    return status;
  }
  return CreateDatabase();
}

absl::Status LocalPostgres::TrustNetworks() {
  if (options_.trusted_networks.empty()) return absl::OkStatus();
  const std::string hba = data_dir_ + "/pg_hba.conf";
  std::string text;
  {
    std::ifstream in(hba);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::ofstream out(hba, std::ios::app);
  for (const std::string& network : options_.trusted_networks) {
    const std::string line = absl::StrCat("host all all ", network, " trust");
    if (text.find(line) != std::string::npos) continue;
    out << line << "\n";
  }
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot append to ", hba));
  return absl::OkStatus();
}

absl::Status LocalPostgres::SpawnAndWait(std::string* bind_error) {
  std::vector<std::string> args = {bin_dir_ + "/postgres", "-D", data_dir_};
  auto set = [&args](const std::string& key, const std::string& value) {
    args.push_back("-c");
    args.push_back(key + "=" + value);
  };
  set("listen_addresses", options_.listen_addresses);
  set("port", std::to_string(port_));
  set("unix_socket_directories", data_dir_);
  set("max_connections", std::to_string(options_.max_connections));
  set("idle_in_transaction_session_timeout", options_.idle_in_transaction_session_timeout);
  set("logging_collector", "off");
  set("log_line_prefix", "%m [%p] %q%u@%d ");
  if (!options_.durable) {
    set("fsync", "off");
    set("full_page_writes", "off");
  }
  for (const auto& [key, value] : options_.settings) set(key, value);
  Argv argv(args);

  int log_fd = open(log_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::FailedPreconditionError(ErrnoText("open " + log_path_));
  if (run_uid_ != static_cast<uid_t>(-1)) {
    int ignored = fchown(log_fd, run_uid_, run_gid_);
    (void)ignored;
  }
  off_t log_start = lseek(log_fd, 0, SEEK_END);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const uid_t uid = run_uid_;
  const gid_t gid = run_gid_;

  pid_t pid = -1;
  int fork_errno = 0;
  if (!spawner_) spawner_ = std::make_unique<Spawner>();
  spawner_->Run([&] {
    pid = fork();
    if (pid < 0) {
      fork_errno = errno;
      return;
    }
    if (pid == 0) {
      setpgid(0, 0);
      ChildPrepare(uid, gid, log_fd);
      // Set after the uid change (which clears it). SIGINT = fast shutdown.
      prctl(PR_SET_PDEATHSIG, SIGINT);
      if (getppid() != parent) _exit(1);  // the owner died before we got here
      if (devnull >= 0) dup2(devnull, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      ChildCloseFrom(3);
      execv(argv.path(), argv.get());
      ChildWrite(2, "local_postgres: exec of postgres failed\n");
      _exit(127);
    }
  });
  close(log_fd);
  if (devnull >= 0) close(devnull);
  if (pid < 0) {
    errno = fork_errno;
    return absl::InternalError(ErrnoText("fork"));
  }
  pid_ = pid;

  auto log_since_start = [&] {
    std::string tail = ReadTail(log_path_, 64 * 1024);
    off_t size = 0;
    struct stat st;
    if (stat(log_path_.c_str(), &st) == 0) size = st.st_size;
    size_t new_bytes = static_cast<size_t>(size - log_start);
    if (new_bytes < tail.size()) tail = tail.substr(tail.size() - new_bytes);
    if (tail.size() > 4000) tail = "..." + tail.substr(tail.size() - 4000);
    return tail;
  };

  const absl::Time deadline = absl::Now() + options_.start_timeout;
  const std::string pid_file = data_dir_ + "/postmaster.pid";
  while (true) {
    int wstatus = 0;
    if (Reaped(pid_, &wstatus)) {
      pid_ = -1;
      std::string tail = log_since_start();
      if (tail.find("could not bind") != std::string::npos ||
          tail.find("Address already in use") != std::string::npos) {
        *bind_error = tail;
      }
      return absl::UnavailableError(absl::StrCat("postgres (", argv.ToString(), ") ",
                                                 DescribeExit(wstatus), " during start-up; log ",
                                                 log_path_, ":\n", tail));
    }
    // Like pg_ctl -w: postmaster.pid names our child and its status line (8th) says "ready".
    std::ifstream in(pid_file);
    if (in) {
      std::vector<std::string> lines;
      for (std::string line; std::getline(in, line);) lines.push_back(line);
      if (lines.size() >= 8 && Trim(lines[0]) == std::to_string(pid_) &&
          Trim(lines[7]) == "ready") {
        return absl::OkStatus();
      }
    }
    if (absl::Now() > deadline) {
      kill(pid_, SIGQUIT);
      if (!WaitReaped(pid_, absl::Seconds(10))) {
        kill(pid_, SIGKILL);
        WaitReaped(pid_, absl::Seconds(10));
      }
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("postgres did not become ready within ",
                                                 absl::FormatDuration(options_.start_timeout),
                                                 "; log ", log_path_, ":\n", log_since_start()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::Status LocalPostgres::CreateDatabase() {
  try {
    pqxx::connection conn(DatabaseUrl("postgres"));
    pqxx::nontransaction tx(conn);
    pqxx::result r = tx.exec("SELECT 1 FROM pg_database WHERE datname = " + tx.quote(kDatabase));
    if (r.empty()) tx.exec("CREATE DATABASE " + tx.quote_name(kDatabase));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("could not create database ", kDatabase, " on ",
                                               DatabaseUrl("postgres"), ": ", e.what(),
                                               "\nserver log tail:\n", LogTail()));
  }
  return absl::OkStatus();
}

std::string LocalPostgres::DatabaseUrl(const std::string& database) const {
  return absl::StrCat("postgresql://", kSuperuser, "@127.0.0.1:", port_, "/", database);
}

bool LocalPostgres::running() {
  if (pid_ < 0) return false;
  int wstatus = 0;
  if (Reaped(pid_, &wstatus)) {
    pid_ = -1;
    return false;
  }
  return true;
}

absl::Status LocalPostgres::Stop(Mode mode) {
  if (!running()) return absl::OkStatus();
  const pid_t pid = pid_;
  absl::Time t0 = absl::Now();
  kill(pid, mode == Mode::kFast ? SIGINT : SIGQUIT);
  bool exited = WaitReaped(pid, mode == Mode::kFast ? absl::Seconds(60) : absl::Seconds(30));
  if (!exited && mode == Mode::kFast) {
    log::Warn("postgres fast shutdown timed out; stopping immediately",
              {{"pid", static_cast<int>(pid)}});
    kill(pid, SIGQUIT);
    exited = WaitReaped(pid, absl::Seconds(30));
  }
  if (!exited) {
    log::Warn("postgres did not stop; killing it", {{"pid", static_cast<int>(pid)}});
    kill(pid, SIGKILL);
    exited = WaitReaped(pid, absl::Seconds(10));
  }
  if (!exited) {
    return absl::DeadlineExceededError(
        absl::StrCat("postmaster ", pid, " did not exit; log tail:\n", LogTail()));
  }
  pid_ = -1;
  log::Info("local postgres stopped",
            {{"mode", mode == Mode::kFast ? "fast" : "immediate"},
             {"ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0))}});
  return absl::OkStatus();
}

absl::Status LocalPostgres::Restart() {
  RETURN_IF_ERROR(Stop(Mode::kFast));
  absl::Time t0 = absl::Now();
  RETURN_IF_ERROR(StartServer());
  log::Info("local postgres restarted",
            {{"url", database_url_},
             {"ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0))}});
  return absl::OkStatus();
}

std::string LocalPostgres::LogTail(size_t max_bytes) const {
  return ReadTail(log_path_, max_bytes);
}

LocalPostgres::~LocalPostgres() {
  if (getpid() != owner_pid_) {
    // A fork()ed copy (e.g. a gtest death-test child): the server and the spawner thread belong to
    // the original process. Leave both alone.
    (void)spawner_.release();
    return;
  }
  absl::Status stopped = Stop(Mode::kFast);
  if (!stopped.ok()) log::Error("stopping local postgres failed", {{"error", stopped.ToString()}});
  spawner_.reset();
  if (temp_dir_ && !dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec)
      log::Warn("could not remove postgres temp dir", {{"dir", dir_}, {"error", ec.message()}});
  }
}

}  // namespace quoteflow
