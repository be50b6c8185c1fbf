#include "tools/local/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "domain/status_macros.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/observability/log.h"
#include "platform/postgres/migrations.h"
#include "tools/local/local_env.h"
#include "tools/local/readiness.h"

#ifndef QUOTEFLOW_DEFAULT_BUILD_DIR
#define QUOTEFLOW_DEFAULT_BUILD_DIR "build"
#endif
#ifndef QUOTEFLOW_DEFAULT_SOURCE_DIR
#define QUOTEFLOW_DEFAULT_SOURCE_DIR "."
#endif

namespace quoteflow::local {
namespace {

namespace fs = std::filesystem;

constexpr absl::Duration kInitialBackoff = absl::Seconds(1);
constexpr absl::Duration kMaxBackoff = absl::Seconds(30);
// A run at least this long counts as healthy: the next crash restarts after kInitialBackoff again.
constexpr absl::Duration kStableRun = absl::Seconds(30);
constexpr absl::Duration kProbeTimeout = absl::Milliseconds(500);
constexpr absl::Duration kProbeInterval = absl::Milliseconds(100);
constexpr int kConfigErrorExit = 2;  // project convention: invalid configuration
constexpr int kTailLines = 15;
constexpr char kHost[] = "127.0.0.1";
constexpr char kSelfExe[] = "/proc/self/exe";
constexpr char kRealGrpcurl[] = QUOTEFLOW_REAL_GRPCURL;

std::string ExitText(const absl::StatusOr<int>& code) {
  if (!code.ok()) return code.status().ToString();
  if (*code >= 0) return absl::StrCat("exit status ", *code);
  const char* name = sigabbrev_np(-*code);
  return absl::StrCat("signal ", -*code, name != nullptr ? absl::StrCat(" (SIG", name, ")") : "");
}

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

std::string Tail(const std::string& path) {
  std::string tail = FileTail(path, kTailLines, "  | ");
  return tail.empty() ? absl::StrCat("(", path, " is empty)\n")
                      : absl::StrCat("last lines of ", path, ":\n", tail);
}

// Replaces `link` with a symlink to `target` (through a temporary name and rename).
absl::Status ReplaceSymlink(const std::string& target, const std::string& link) {
  const std::string tmp = link + ".tmp";
  unlink(tmp.c_str());
  if (symlink(target.c_str(), tmp.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("symlink ", tmp));
  }
  if (rename(tmp.c_str(), link.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::ErrnoToStatus(err, absl::StrCat("rename ", tmp));
  }
  return absl::OkStatus();
}

}  // namespace

struct Launcher::Service {
  PlannedService plan;
  std::string address;  // host:port of a gRPC server, else empty
  // host:port of its /metrics endpoint, else empty
  std::string metrics_address;
  std::string log_path;
  std::unique_ptr<process::ChildProcess> child;
  absl::Time started_at;
  int64_t log_offset = 0;  // size of the log at this start: readiness lines come after it
  bool ready = false;
  std::string not_ready;  // why the last probe failed
  absl::Duration backoff = kInitialBackoff;
  absl::Time restart_at = absl::InfiniteFuture();  // a pending restart
  int restarts = 0;
};

// ---------------------------------------------------------------------------------------------
// Options.

void DeclareLauncherFlags(Config& config) {
  config.Declare("quoteflow-build-dir", QUOTEFLOW_DEFAULT_BUILD_DIR,
                 "build directory holding the service binaries (a positional argument wins)");
  config.Declare("quoteflow-source-dir", QUOTEFLOW_DEFAULT_SOURCE_DIR,
                 "source tree (tools/grpcurl/grpcurl is linked into <state>/bin)");
  config.Declare("quoteflow-state-dir", ".quoteflow",
                 "state directory: pg/ (the cluster, kept across runs), logs/, bin/, local.env");
  config.Declare("quoteflow-pg-port", "54329",
                 "PostgreSQL port on 127.0.0.1; 0: any free port. The default falls back to a free "
                 "port when taken; an explicit port must be free");
  std::set<std::string> declared;
  for (const ServiceSpec& spec : DefaultServices()) {
    if (spec.port_option.empty() || !declared.insert(spec.port_option).second) continue;
    config.Declare(spec.port_option, std::to_string(spec.default_port),
                   absl::StrCat("gRPC port of ", spec.name,
                                " on 127.0.0.1; 0: any free port. The default falls back to a free "
                                "port when taken; an explicit port must be free"));
  }
  config.Declare("quoteflow-saga-mode", "choreography",
                 "choreography or orchestration (saga-orchestrator runs only in orchestration); "
                 "passed to every service as QUOTEFLOW_SAGA_MODE");
  config.Declare("quoteflow-database-url", "",
                 "use this PostgreSQL instead of starting one (migrations are still applied)");
  config.Declare("quoteflow-kafka-bootstrap-servers", "",
                 "use this Kafka instead of starting one (KAFKA_BOOTSTRAP_SERVERS works too)");
  config.Declare("quoteflow-services", "",
                 "comma-separated services to run (their relays included); default: all built");
  config.Declare("quoteflow-startup-timeout", "120s",
                 "how long everything may take to become ready before the launcher gives up");
  config.Declare("quoteflow-stop-timeout", "10s",
                 "on stop, how long each child may take after SIGTERM before SIGKILL");
  config.Declare("quoteflow-restart", "true",
                 "restart a service that exits unexpectedly (backoff 1s doubling to 30s); false: "
                 "stop everything and exit 1");
}

absl::StatusOr<LauncherOptions> LauncherOptionsFromConfig(
    const Config& config, const std::vector<std::string>& positional) {
  LauncherOptions o;
  if (positional.size() > 1) {
    return absl::InvalidArgumentError("at most one positional argument (the build directory)");
  }
  o.build_dir = positional.empty() ? config.Get("quoteflow-build-dir") : positional[0];
  o.source_dir = config.Get("quoteflow-source-dir");
  o.state_dir = config.Get("quoteflow-state-dir");
  if (o.state_dir.empty()) return absl::InvalidArgumentError("--quoteflow-state-dir is empty");
  auto port_setting = [&config](const std::string& option,
                                int default_port) -> absl::StatusOr<PortSetting> {
    ASSIGN_OR_RETURN(int64_t port, config.GetInt(option, 0, 65535));
    return PortSetting{static_cast<int>(port), port != default_port};
  };
  ASSIGN_OR_RETURN(o.pg_port, port_setting("quoteflow-pg-port", 54329));
  for (const ServiceSpec& spec : o.services) {
    if (spec.port_option.empty() || o.grpc_ports.contains(spec.port_option)) continue;
    ASSIGN_OR_RETURN(o.grpc_ports[spec.port_option],
                     port_setting(spec.port_option, spec.default_port));
  }
  o.saga_mode = config.Get("quoteflow-saga-mode");
  if (o.saga_mode != "choreography" && o.saga_mode != "orchestration") {
    return absl::InvalidArgumentError(absl::StrCat("--quoteflow-saga-mode (QUOTEFLOW_SAGA_MODE)='",
                                                   o.saga_mode,
                                                   "' must be choreography or orchestration"));
  }
  o.database_url = config.Get("quoteflow-database-url");
  o.kafka_bootstrap_servers = config.Get("quoteflow-kafka-bootstrap-servers");
  if (const char* servers = getenv("KAFKA_BOOTSTRAP_SERVERS");
      o.kafka_bootstrap_servers.empty() && servers != nullptr) {
    o.kafka_bootstrap_servers = servers;
  }
  for (absl::string_view name : absl::StrSplit(config.Get("quoteflow-services"), ',')) {
    name = absl::StripAsciiWhitespace(name);
    if (!name.empty()) o.only_services.emplace_back(name);
  }
  ASSIGN_OR_RETURN(o.startup_timeout, config.GetDuration("quoteflow-startup-timeout"));
  ASSIGN_OR_RETURN(o.stop_timeout, config.GetDuration("quoteflow-stop-timeout"));
  ASSIGN_OR_RETURN(o.restart, config.GetBool("quoteflow-restart"));
  return o;
}

int ExecDetached(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s %s PATH [ARGS...]\n", argv[0], kExecDetachedFlag);
    return 127;
  }
  setsid();  // own session and process group: the terminal's Ctrl-C goes to the launcher only
  execv(argv[2], argv + 2);
  std::fprintf(stderr, "quoteflow-local: cannot exec %s: %s\n", argv[2], std::strerror(errno));
  return 127;
}

void InitLauncherLogging() {
  const bool chosen = std::getenv("QUOTEFLOW_LOG_FORMAT") != nullptr;
  if (!chosen) setenv("QUOTEFLOW_LOG_FORMAT", "text", 1);
  log::Init("quoteflow-local");
  if (!chosen) unsetenv("QUOTEFLOW_LOG_FORMAT");
}

// ---------------------------------------------------------------------------------------------
// Launcher.

void Launcher::BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Launcher::Launcher(LauncherOptions options) : options_(std::move(options)) {}

Launcher::~Launcher() {
  Shutdown();
  if (signal_fd_ >= 0) close(signal_fd_);
}

absl::Status Launcher::Run() {
  absl::Status status = Start();
  if (status.ok() && stop_signal_ == 0) status = Supervise();
  if (stop_signal_ != 0) {
    log::Info("stopping", {{"signal", sigabbrev_np(stop_signal_)}});
  } else if (!status.ok()) {
    log::Error("stopping everything after an error");
  }
  Shutdown();
  return stop_signal_ != 0 ? absl::OkStatus() : status;
}

int Launcher::WaitEvent(absl::Time deadline) {
  int timeout_ms = -1;
  if (deadline != absl::InfiniteFuture()) {
    const absl::Duration left = deadline - absl::Now();
    timeout_ms =
        left <= absl::ZeroDuration()
            ? 0
            : static_cast<int>(std::min<int64_t>(
                  INT_MAX, absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
  }
  struct pollfd p = {signal_fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR) {
    log::Warn("poll failed", {{"error", std::strerror(errno)}});
  }
  int term = 0;
  struct signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
      term = static_cast<int>(info.ssi_signo);
    }
  }
  return term;
}

absl::Status Launcher::Start() {
  started_at_ = absl::Now();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return absl::InternalError(absl::StrCat("signalfd: ", std::strerror(errno)));
  auto stop_requested = [this] {
    if (stop_signal_ == 0) stop_signal_ = WaitEvent(absl::Now());
    return stop_signal_ != 0;
  };
  // Settings a developer's shell may carry (e.g. after `source .quoteflow/local.env`) must not
  // reach a child the launcher does not configure explicitly.
  for (const char* name : {"GRPC_ADDRESS", "OUTBOX_SCHEMA", "RELAY_ID"}) unsetenv(name);
  for (const ServiceSpec& spec : options_.services) {
    if (!spec.grpc_key.empty()) unsetenv(absl::StrCat(spec.grpc_key, "_GRPC_ADDRESS").c_str());
  }

  RETURN_IF_ERROR(PrepareStateDir());
  ASSIGN_OR_RETURN(ServicePlan plan,
                   SelectServices(options_.services, options_.saga_mode, options_.only_services,
                                  [this](const std::string& binary) {
                                    return FindBinary(options_.build_dir, binary);
                                  }));
  skipped_ = plan.skipped;
  for (const SkippedService& s : skipped_) {
    log::Warn("not starting", {{"service", s.name}, {"reason", s.reason}});
  }
  for (PlannedService& p : plan.services) {
    auto service = std::make_unique<Service>();
    service->plan = std::move(p);
    service->log_path = absl::StrCat(logs_dir_, "/", service->plan.spec.name, ".log");
    services_.push_back(std::move(service));
  }
  RETURN_IF_ERROR(ResolvePorts());
  if (stop_requested()) return absl::CancelledError("stop requested");
  RETURN_IF_ERROR(StartPostgres());
  if (stop_requested()) return absl::CancelledError("stop requested");
  RETURN_IF_ERROR(StartBroker());
  if (stop_requested()) return absl::CancelledError("stop requested");
  for (auto& service : services_) RETURN_IF_ERROR(StartService(*service));
  absl::Status ready = WaitUntilReady();
  if (stop_signal_ != 0) return absl::CancelledError("stop requested");
  RETURN_IF_ERROR(ready);
  RETURN_IF_ERROR(PublishLocalEnv());
  PrintSummary();
  return absl::OkStatus();
}

absl::Status Launcher::PrepareStateDir() {
  std::error_code ec;
  const fs::path state = fs::absolute(options_.state_dir, ec);
  for (const fs::path& dir : {state, state / "logs", state / "bin"}) {
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
    }
  }
  state_dir_ = fs::canonical(state, ec).string();
  if (ec) return absl::InternalError(absl::StrCat("cannot resolve ", state.string()));
  logs_dir_ = state_dir_ + "/logs";
  bin_dir_ = state_dir_ + "/bin";

  const std::string lock_path = state_dir_ + "/launcher.lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", lock_path));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = pread(lock_fd_, pid, sizeof(pid) - 1, 0);
    const std::string holder = n > 0 ? std::string(absl::StripAsciiWhitespace(pid)) : "?";
    close(lock_fd_);
    lock_fd_ = -1;
    return absl::FailedPreconditionError(absl::StrCat(
        "another quoteflow-local (pid ", holder, ") is running on ", state_dir_,
        ": stop it first (kill -TERM ", holder, "), or give this one its own QUOTEFLOW_STATE_DIR"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(lock_fd_, 0) != 0 ||
      pwrite(lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    log::Warn("cannot record the pid in the lock file", {{"path", lock_path}});
  }

  // Only now that we own the directory: drop what a killed launcher left, keep one previous log.
  local_env_path_ = state_dir_ + "/local.env";
  unlink(local_env_path_.c_str());
  for (const fs::directory_entry& entry : fs::directory_iterator(logs_dir_, ec)) {
    if (entry.path().extension() == ".log") {
      fs::rename(entry.path(), entry.path().string() + ".1", ec);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Launcher::ChoosePort(const std::string& what, const std::string& env,
                                         const PortSetting& setting) {
  auto free_port = [this, &what]() -> absl::StatusOr<int> {
    for (int attempt = 0; attempt < 20; ++attempt) {
      const int port = process::FreeTcpPort();
      if (port > 0 && used_ports_.insert(port).second) return port;
    }
    return absl::UnavailableError(absl::StrCat("no free TCP port for ", what));
  };
  if (setting.port == 0) return free_port();
  if (!used_ports_.contains(setting.port) && TcpPortAvailable(setting.port)) {
    used_ports_.insert(setting.port);
    return setting.port;
  }
  if (setting.explicit_port) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " port ", setting.port, " (", env,
                     ") is in use: stop what listens there, or set ", env, "=0 for a free port"));
  }
  ASSIGN_OR_RETURN(int port, free_port());
  log::Warn("default port in use, using a free port instead",
            {{"for", what}, {"default", setting.port}, {"port", port}, {"override", env}});
  return port;
}

absl::Status Launcher::ResolvePorts() {
  for (auto& service : services_) {
    const ServiceSpec& spec = service->plan.spec;
    if (spec.port_option.empty()) continue;
    PortSetting setting{spec.default_port, false};
    if (auto it = options_.grpc_ports.find(spec.port_option); it != options_.grpc_ports.end()) {
      setting = it->second;
    }
    ASSIGN_OR_RETURN(int port, ChoosePort(spec.name, Config::EnvName(spec.port_option), setting));
    service->address = absl::StrCat(kHost, ":", port);
  }
  for (auto& service : services_) {
    const ServiceSpec& spec = service->plan.spec;
    if (spec.metrics_port == 0) continue;
    ASSIGN_OR_RETURN(int port, ChoosePort(spec.name + " metrics", "METRICS_ADDRESS",
                                          PortSetting{spec.metrics_port, false}));
    service->metrics_address = absl::StrCat(kHost, ":", port);
  }
  return absl::OkStatus();
}

absl::Status Launcher::StartPostgres() {
  if (!options_.database_url.empty()) {
    database_url_ = options_.database_url;
    log::Info("using the PostgreSQL of QUOTEFLOW_DATABASE_URL",
              {{"database_url", RedactSecrets(database_url_)}});
  } else {
    ASSIGN_OR_RETURN(int port, ChoosePort("PostgreSQL", "QUOTEFLOW_PG_PORT", options_.pg_port));
    const std::string dir = state_dir_ + "/pg";
    log::Info("starting PostgreSQL", {{"dir", dir}, {"port", port}});
    absl::StatusOr<std::unique_ptr<LocalPostgres>> pg =
        LocalPostgres::Start({.dir = dir, .port = port, .durable = true});
    if (!pg.ok()) return pg.status();
    postgres_ = *std::move(pg);
    database_url_ = postgres_->database_url();
    log::Info("PostgreSQL ready",
              {{"database_url", database_url_}, {"log", postgres_->log_path()}});
  }
  absl::StatusOr<MigrationReport> report = ApplyMigrations(database_url_, EmbeddedMigrations());
  if (!report.ok()) {
    return absl::Status(
        report.status().code(),
        absl::StrCat("migrations: ", report.status().message(),
                     options_.database_url.empty()
                         ? absl::StrCat(" (to start from an empty database, stop the launcher and "
                                        "delete ",
                                        state_dir_, "/pg)")
                         : ""));
  }
  log::Info("migrations applied",
            {{"applied", absl::StrJoin(report->applied, ",")},
             {"already_applied", static_cast<int>(report->already_applied.size())}});
  return absl::OkStatus();
}

absl::Status Launcher::StartBroker() {
  const absl::Time t0 = absl::Now();
  if (!options_.kafka_bootstrap_servers.empty()) {
    kafka_bootstrap_servers_ = options_.kafka_bootstrap_servers;
    log::Info("using an existing Kafka (KAFKA_BOOTSTRAP_SERVERS); no broker started",
              {{"bootstrap_servers", kafka_bootstrap_servers_}});
  } else {
    // A real single-node Apache Kafka (KRaft); its log dir is kept in <state>/kafka like the
    // Postgres cluster, so in-flight events survive a restart of `make run`.
    LocalKafka::Options kafka_options;
    kafka_options.dir = state_dir_ + "/kafka";
    kafka_options.new_session = true;  // Ctrl-C reaches the launcher only; it stops Kafka last
    ASSIGN_OR_RETURN(kafka_, LocalKafka::Start(kafka_options));
    kafka_bootstrap_servers_ = kafka_->bootstrap_servers();
  }
  // Every topic the services expect, the dead-letter topics included (existing ones are kept).
  ASSIGN_OR_RETURN(std::vector<kafka::TopicSpec> topics,
                   kafka::ParseTopicSpecs(kafka::kQuoteflowTopics));
  absl::Status created =
      kafka::CreateTopics(kafka::KafkaSettings(kafka_bootstrap_servers_, {}), topics);
  if (!created.ok() && kafka_ != nullptr) return created;
  if (!created.ok()) {
    log::Warn("could not create the topics on the existing Kafka; the services need them",
              {{"error", created.ToString()}, {"topics", kafka::kQuoteflowTopics}});
  }
  kafka_startup_ = absl::Now() - t0;
  log::Info("kafka ready", {{"bootstrap_servers", kafka_bootstrap_servers_},
                            {"started_here", kafka_ != nullptr},
                            {"startup_ms", Millis(kafka_startup_)},
                            {"log", kafka_ != nullptr ? kafka_->dir() + "/node-1/kafka.log" : "-"}});
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> Launcher::EnvironmentFor(
    const Service* service) const {
  std::vector<std::pair<std::string, std::string>> env = {
      {"DATABASE_URL", database_url_},
      {"KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers_},
      {"QUOTEFLOW_SAGA_MODE", options_.saga_mode},
  };
  for (const auto& s : services_) {
    if (!s->address.empty()) {
      env.emplace_back(absl::StrCat(s->plan.spec.grpc_key, "_GRPC_ADDRESS"), s->address);
    }
  }
  if (service != nullptr && !service->address.empty()) {
    env.emplace_back("GRPC_ADDRESS", service->address);
  }
  // Always set (possibly empty), so that a METRICS_ADDRESS from the shell never reaches a child.
  if (service != nullptr) env.emplace_back("METRICS_ADDRESS", service->metrics_address);
  return env;
}

std::string Launcher::Substitute(const std::string& arg, const Service& service) const {
  return absl::StrReplaceAll(arg, {{"{database_url}", database_url_},
                                   {"{kafka_bootstrap_servers}", kafka_bootstrap_servers_},
                                   {"{grpc_address}", service.address}});
}

absl::Status Launcher::StartService(Service& service) {
  const ServiceSpec& spec = service.plan.spec;
  std::vector<std::string> args = {kExecDetachedFlag, service.plan.path};
  for (const std::string& arg : spec.args) args.push_back(Substitute(arg, service));
  service.log_offset = FileSize(service.log_path);
  absl::StatusOr<std::unique_ptr<process::ChildProcess>> child =
      process::ChildProcess::Start({.path = kSelfExe,
                                    .args = std::move(args),
                                    .env = EnvironmentFor(&service),
                                    .stderr_path = service.log_path});
  if (!child.ok()) {
    return absl::Status(child.status().code(),
                        absl::StrCat("cannot start ", spec.name, ": ", child.status().message()));
  }
  service.child = *std::move(child);
  service.started_at = absl::Now();
  service.ready = false;
  service.restart_at = absl::InfiniteFuture();
  log::Info(service.restarts == 0 ? "started" : "restarted",
            {{"service", spec.name},
             {"pid", static_cast<int>(service.child->pid())},
             {"address", service.address.empty() ? "-" : service.address},
             {"log", service.log_path}});
  return absl::OkStatus();
}

absl::Status Launcher::CheckInfrastructure() {
  if (postgres_ != nullptr && !postgres_->running()) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL exited; ", Tail(postgres_->log_path())));
  }
  if (kafka_ != nullptr && !kafka_->NodeRunning(1)) {
    return absl::UnavailableError(absl::StrCat("Kafka exited; ", kafka_->NodeLogTail(1)));
  }
  return absl::OkStatus();
}

absl::Status Launcher::WaitUntilReady() {
  const absl::Time deadline = absl::Now() + options_.startup_timeout;
  while (true) {
    RETURN_IF_ERROR(CheckInfrastructure());
    bool all_ready = true;
    for (auto& service : services_) {
      if (service->ready) continue;
      const ServiceSpec& spec = service->plan.spec;
      if (!service->child->Running()) {
        return absl::UnavailableError(absl::StrCat(spec.name, " exited during start-up with ",
                                                   ExitText(service->child->Wait(absl::Now())),
                                                   "; ", Tail(service->log_path)));
      }
      switch (spec.readiness) {
        case Readiness::kGrpcHealth: {
          absl::Status health = CheckGrpcHealth(service->address, kProbeTimeout);
          service->ready = health.ok();
          service->not_ready = std::string(health.message());
          break;
        }
        case Readiness::kLogLine:
          service->ready =
              FileContainsSince(service->log_path, service->log_offset, spec.ready_line);
          service->not_ready = absl::StrCat("no '", spec.ready_line, "' in its log yet");
          break;
        case Readiness::kAliveFor:
          service->ready = absl::Now() - service->started_at >= spec.alive_for;
          service->not_ready =
              absl::StrCat("has not yet run for ", absl::FormatDuration(spec.alive_for));
          break;
      }
      if (service->ready) {
        log::Info("ready", {{"service", spec.name},
                            {"after_ms", Millis(absl::Now() - service->started_at)}});
      } else {
        all_ready = false;
      }
    }
    if (all_ready) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      std::string detail;
      for (const auto& service : services_) {
        if (service->ready) continue;
        absl::StrAppend(&detail, "\n", service->plan.spec.name, ": ", service->not_ready, "; ",
                        Tail(service->log_path));
      }
      return absl::DeadlineExceededError(
          absl::StrCat("not ready after ", absl::FormatDuration(options_.startup_timeout),
                       " (QUOTEFLOW_STARTUP_TIMEOUT):", detail));
    }
    if (int sig = WaitEvent(std::min(deadline, absl::Now() + kProbeInterval)); sig != 0) {
      stop_signal_ = sig;
      return absl::CancelledError("stop requested");
    }
  }
}

absl::Status Launcher::PublishLocalEnv() {
  if (auto quotectl = FindBinary(options_.build_dir, "quotectl"); quotectl.has_value()) {
    quotectl_ = *quotectl;
  }
  // The real grpcurl (scripts/install-deps.sh `go install`s it when a Go >= 1.21 is there), else
  // the tools/grpcurl stand-in with the same flags.
  std::string grpcurl = kRealGrpcurl;
  if (access(grpcurl.c_str(), X_OK) != 0) {
    std::error_code ec;
    grpcurl = fs::absolute(options_.source_dir + "/tools/grpcurl/grpcurl", ec)
                  .lexically_normal()
                  .string();
    grpcurl_shim_ = access(grpcurl.c_str(), X_OK) == 0;
    if (!grpcurl_shim_) grpcurl.clear();
  }
  struct {
    std::string name;
    std::string target;
  } links[] = {{"grpcurl", grpcurl}, {"quotectl", quotectl_}};
  for (const auto& link : links) {
    const std::string path = absl::StrCat(bin_dir_, "/", link.name);
    if (link.target.empty()) {
      unlink(path.c_str());
      continue;
    }
    if (absl::Status s = ReplaceSymlink(link.target, path); !s.ok()) {
      log::Warn("cannot link a tool into the state directory", {{"error", s.ToString()}});
    }
  }

  std::vector<std::pair<std::string, std::string>> vars = {
      {"DATABASE_URL", database_url_},
      {"KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap_servers_},
  };
  for (const auto& service : services_) {
    if (service->plan.spec.grpc_key == "QUOTE") vars.emplace_back("GRPC_ADDRESS", service->address);
  }
  // QUOTE first, then the others in start order.
  std::vector<const Service*> grpc;
  for (const auto& service : services_) {
    if (!service->address.empty()) grpc.push_back(service.get());
  }
  std::stable_partition(grpc.begin(), grpc.end(),
                        [](const Service* s) { return s->plan.spec.grpc_key == "QUOTE"; });
  for (const Service* s : grpc) {
    vars.emplace_back(absl::StrCat(s->plan.spec.grpc_key, "_GRPC_ADDRESS"), s->address);
  }
  for (const auto& service : services_) {
    if (service->metrics_address.empty()) continue;
    std::string key = absl::AsciiStrToUpper(service->plan.spec.name);
    std::replace(key.begin(), key.end(), '-', '_');
    vars.emplace_back(absl::StrCat(key, "_METRICS_URL"),
                      absl::StrCat("http://", service->metrics_address, "/metrics"));
  }
  vars.emplace_back("QUOTEFLOW_SAGA_MODE", options_.saga_mode);
  if (!quotectl_.empty()) vars.emplace_back("QUOTECTL", quotectl_);
  vars.emplace_back("QUOTEFLOW_LOCAL_STATE_DIR", state_dir_);
  vars.emplace_back("QUOTEFLOW_LOCAL_LOG_DIR", logs_dir_);
  vars.emplace_back("QUOTEFLOW_LOCAL_PID", std::to_string(getpid()));
  const std::string text = FormatLocalEnv(
      {absl::StrCat("quoteflow local system, written by quoteflow-local (pid ", getpid(), ") at ",
                    absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()),
                    " once everything was ready."),
       "Removed when the launcher stops. Use: source " + local_env_path_},
      vars, bin_dir_);
  RETURN_IF_ERROR(WriteFileAtomically(local_env_path_, text));
  log::Info("all ready; wrote local.env", {{"path", local_env_path_}});
  return absl::OkStatus();
}

void Launcher::PrintSummary() const {
  std::string out = "\nquoteflow is running";
  absl::StrAppend(&out, " (saga mode: ", options_.saga_mode, "), started in ",
                  absl::FormatDuration(absl::Trunc(absl::Now() - started_at_, absl::Milliseconds(100))),
                  kafka_ != nullptr
                      ? absl::StrCat(" (Kafka ", absl::FormatDuration(absl::Trunc(
                                                     kafka_startup_, absl::Milliseconds(100))),
                                     ")")
                      : "",
                  "\n\n");
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
    const Service& s = **it;
    absl::StrAppend(&out, "  ", absl::StrFormat("%-24s", s.plan.spec.name),
                    absl::StrFormat("%-18s", s.address.empty() ? "" : s.address), " log ",
                    s.log_path, "\n");
  }
  absl::StrAppend(
      &out, "  ",
      absl::StrFormat("%-24s", kafka_ != nullptr ? "kafka (4.1, KRaft)" : "kafka (existing)"),
      kafka_bootstrap_servers_,
      kafka_ != nullptr ? absl::StrCat("  log ", kafka_->dir(), "/node-1/kafka.log") : "", "\n");
  absl::StrAppend(&out, "  ", absl::StrFormat("%-24s", "postgresql"), database_url_,
                  postgres_ != nullptr ? absl::StrCat("  log ", postgres_->log_path()) : "", "\n");
  for (const SkippedService& s : skipped_) {
    absl::StrAppend(&out, "  ", absl::StrFormat("%-24s", s.name), "not running: ", s.reason, "\n");
  }
  std::string api;
  for (const auto& s : services_) {
    if (s->plan.spec.grpc_key == "QUOTE") api = s->address;
  }
  absl::StrAppend(&out, "\nEnvironment (addresses, QUOTECTL, grpcurl on PATH):\n  source ",
                  local_env_path_, "\n");
  if (!api.empty()) {
    absl::StrAppend(&out, "\nPoint grpcurl at ", api, " (reflection is on):\n",
                    "  grpcurl -plaintext ", api, " list\n", "  grpcurl -plaintext ", api,
                    " describe quoteflow.v1.QuoteService\n",
                    "  grpcurl -plaintext -d '{\"customer_id\":\"c-1\",\"premium\":1000}' ", api,
                    " quoteflow.v1.QuoteService/CreateQuote\n",
                    "  grpcurl -plaintext -d '{\"quote_id\":\"<id>\"}' ", api,
                    " quoteflow.v1.QuoteService/ApproveQuote\n", "  grpcurl -plaintext ", api,
                    " grpc.health.v1.Health/Check\n");
    absl::StrAppend(&out, "  (`source` the file above first: it puts ", bin_dir_,
                    grpcurl_shim_ ? ", with the tools/grpcurl stand-in (no Go >= 1.21 here),"
                                  : ", with the real grpcurl,",
                    " on PATH)\n");
  }
  absl::StrAppend(&out, "\nChildren log to ", logs_dir_,
                  "/<name>.log (JSON; the previous run's as .log.1). The launcher restarts a "
                  "service that exits.\nCtrl-C (or kill -TERM ",
                  getpid(), ") stops everything.\n\n");
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

absl::Status Launcher::HandleExit(Service& service) {
  const ServiceSpec& spec = service.plan.spec;
  const absl::StatusOr<int> code = service.child->Wait(absl::Now());
  const absl::Duration ran = absl::Now() - service.started_at;
  service.child.reset();
  log::Warn("exited unexpectedly", {{"service", spec.name},
                                    {"exit", ExitText(code)},
                                    {"ran_ms", Millis(ran)},
                                    {"log", service.log_path}});
  std::fputs(FileTail(service.log_path, kTailLines, absl::StrCat("  ", spec.name, " | ")).c_str(),
             stderr);
  if (!options_.restart) {
    return absl::UnavailableError(absl::StrCat(spec.name, " exited with ", ExitText(code),
                                               " and QUOTEFLOW_RESTART=false; ",
                                               Tail(service.log_path)));
  }
  if (code.ok() && *code == kConfigErrorExit) {
    log::Error("not restarting: it refused its configuration (exit status 2); fix it and run again",
               {{"service", spec.name}});
    return absl::OkStatus();
  }
  if (ran >= kStableRun) service.backoff = kInitialBackoff;
  service.restart_at = absl::Now() + service.backoff;
  log::Info("restarting after backoff",
            {{"service", spec.name}, {"backoff_ms", Millis(service.backoff)}});
  service.backoff = std::min(service.backoff * 2, kMaxBackoff);
  return absl::OkStatus();
}

absl::Status Launcher::Supervise() {
  while (true) {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& service : services_) next = std::min(next, service->restart_at);
    if (int sig = WaitEvent(next); sig != 0) {
      stop_signal_ = sig;
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(CheckInfrastructure());
    for (auto& service : services_) {
      if (service->child != nullptr && !service->child->Running()) {
        RETURN_IF_ERROR(HandleExit(*service));
      }
      if (service->child == nullptr && service->restart_at <= absl::Now()) {
        ++service->restarts;
        if (absl::Status s = StartService(*service); !s.ok()) {
          log::Error("restart failed",
                     {{"service", service->plan.spec.name}, {"error", s.ToString()}});
          service->restart_at = absl::Now() + service->backoff;
          service->backoff = std::min(service->backoff * 2, kMaxBackoff);
        }
      }
    }
  }
}

void Launcher::StopChild(const std::string& name, std::unique_ptr<process::ChildProcess>& child) {
  if (child == nullptr) return;
  if (!child->Running()) {
    log::Info("had exited", {{"service", name}, {"exit", ExitText(child->Wait(absl::Now()))}});
    child.reset();
    return;
  }
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.stop_timeout;
  (void)child->Signal(hurry_ ? SIGKILL : SIGTERM);
  // SIGCHLD (through the signalfd) wakes WaitEvent when the child exits.
  while (child->Running()) {
    if (hurry_) {
      (void)child->Signal(SIGKILL);
      break;
    }
    if (absl::Now() >= deadline) {
      log::Warn("did not stop in time, killing",
                {{"service", name}, {"stop_timeout_ms", Millis(options_.stop_timeout)}});
      (void)child->Signal(SIGKILL);
      break;
    }
    if (WaitEvent(deadline) != 0) {
      hurry_ = true;
      log::Warn("second stop signal: killing what is left");
    }
  }
  const absl::StatusOr<int> code = child->Wait(absl::InfiniteFuture());
  log::Info(
      "stopped",
      {{"service", name}, {"exit", ExitText(code)}, {"after_ms", Millis(absl::Now() - start)}});
  child.reset();
}

void Launcher::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // First, so that nobody starts using a system that is going away.
  if (!local_env_path_.empty()) unlink(local_env_path_.c_str());
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
    (*it)->restart_at = absl::InfiniteFuture();
    StopChild((*it)->plan.spec.name, (*it)->child);
  }
  if (kafka_ != nullptr) {
    const absl::Time start = absl::Now();
    absl::Status s = kafka_->Stop(hurry_ ? absl::ZeroDuration() : absl::Seconds(30));
    if (s.ok()) {
      log::Info("stopped", {{"service", "kafka"}, {"after_ms", Millis(absl::Now() - start)}});
    } else {
      log::Error("Kafka did not stop cleanly", {{"error", s.ToString()}});
    }
    kafka_.reset();
  }
  if (postgres_ != nullptr) {
    const absl::Time start = absl::Now();
    absl::Status s =
        postgres_->Stop(hurry_ ? LocalPostgres::Mode::kImmediate : LocalPostgres::Mode::kFast);
    if (s.ok()) {
      log::Info("stopped", {{"service", "postgresql"}, {"after_ms", Millis(absl::Now() - start)}});
    } else {
      log::Error("PostgreSQL did not stop", {{"error", s.ToString()}});
    }
    postgres_.reset();
  }
  if (lock_fd_ >= 0) {
    close(lock_fd_);
    lock_fd_ = -1;
  }
  if (!state_dir_.empty()) log::Info("all stopped");
}

}  // namespace quoteflow::local
