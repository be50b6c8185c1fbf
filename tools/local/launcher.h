// Launcher: `make run`. Runs the whole local quoteflow system in the foreground: a persistent
// PostgreSQL cluster in <state>/pg (reused across runs), the schema migrations, a single-node
// Apache Kafka 4.1 in KRaft mode in <state>/kafka (LocalKafka; its log dir kept across runs, so a
// restart resumes in-flight sagas) with every topic the services expect, or an existing Kafka
// (KAFKA_BOOTSTRAP_SERVERS), and every service of service_table.h that is built, each with its
// stderr appended to <state>/logs/<name>.log. Once ALL of it is ready it writes <state>/local.env
// (local_env.h) and prints where to point grpcurl; then it supervises until SIGTERM or SIGINT.
//
// local.env keys: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, GRPC_ADDRESS (quote-api), one
// <KEY>_GRPC_ADDRESS per running gRPC server (QUOTE first, then CUSTOMER, POLICY, SAGA as they
// run), <NAME>_METRICS_URL per service with a metrics endpoint (QUOTE_API_METRICS_URL, ...),
// QUOTEFLOW_SAGA_MODE, QUOTECTL (only when quotectl is built), QUOTEFLOW_LOCAL_STATE_DIR,
// QUOTEFLOW_LOCAL_LOG_DIR, QUOTEFLOW_LOCAL_PID (the launcher: `kill -TERM` it to stop everything),
// and last `export PATH="$PATH:<state>/bin"` (<state>/bin links tools/grpcurl/grpcurl and
// quotectl).
//
// Supervision: a service that exits unexpectedly is logged (with its log's last lines) and
// restarted with backoff (1 s, doubling to 30 s; back to 1 s after a run of 30 s or more), except
// after exit status 2 (invalid configuration: a restart cannot help). With restart disabled, or
// when Postgres or the broker dies (their addresses would change under every client), everything is
// stopped and Run() fails.
//
// Stopping (SIGTERM/SIGINT): local.env is removed first, then the services are stopped in reverse
// start order (SIGTERM, up to stop_timeout, then SIGKILL), then Kafka, then Postgres (fast
// shutdown). A second signal while stopping SIGKILLs what is left and stops Postgres immediately.
//
// Process model: every child runs in its own session (the launcher re-executes itself as a tiny
// `setsid; exec` wrapper, see ExecDetached), so a terminal's Ctrl-C reaches only the launcher,
// which then stops the children in order; Postgres runs in its own process group (LocalPostgres).
// All children carry PDEATHSIG, so none outlives a SIGKILLed launcher. A lock file keeps two
// launchers off one state directory.
//
// Thread-safety: single-threaded. Call BlockSignals() first thing in main() (before any thread),
// then create and Run() the Launcher on the main thread: the children's PDEATHSIG is tied to the
// thread that starts them.
#ifndef QUOTEFLOW_TOOLS_LOCAL_LAUNCHER_H_
#define QUOTEFLOW_TOOLS_LOCAL_LAUNCHER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/config/config.h"
#include "platform/local/local_kafka.h"
#include "platform/local/local_postgres.h"
#include "platform/process/child_process.h"
#include "tools/local/service_table.h"

namespace quoteflow::local {

// A port setting: `port` 0 means "any free port"; `explicit_port` is false when the default was
// kept, in which case a busy port falls back to a free one (with a warning) instead of failing.
struct PortSetting {
  int port = 0;
  bool explicit_port = false;
};

struct LauncherOptions {
  std::string build_dir;   // where the service binaries are searched
  std::string source_dir;  // the source tree (for tools/grpcurl/grpcurl)
  std::string state_dir = ".quoteflow";
  PortSetting pg_port{54329, false};
  std::map<std::string, PortSetting> grpc_ports;  // by ServiceSpec::port_option
  std::string saga_mode = "choreography";
  std::string database_url;             // non-empty: use this server, start no Postgres
  std::string kafka_bootstrap_servers;  // non-empty: use this Kafka, start no broker
  std::vector<std::string> only_services;
  absl::Duration startup_timeout = absl::Seconds(120);
  absl::Duration stop_timeout = absl::Seconds(10);
  bool restart = true;
  std::vector<ServiceSpec> services = DefaultServices();
};

// Declares the launcher's options (flag --quoteflow-x = env QUOTEFLOW_X, see config.h).
void DeclareLauncherFlags(Config& config);
// Reads them back; `positional` may hold the build directory. INVALID_ARGUMENT naming the option
// for a bad port, duration, mode or boolean, or more than one positional argument.
absl::StatusOr<LauncherOptions> LauncherOptionsFromConfig(
    const Config& config, const std::vector<std::string>& positional);

// The hidden first argument that turns quoteflow-local into the detaching exec wrapper.
inline constexpr char kExecDetachedFlag[] = "--internal-exec-detached";
// `quoteflow-local --internal-exec-detached PATH ARGS...`: setsid(), then exec PATH with ARGS
// (PDEATHSIG and the environment survive). Returns 127 (after printing why) only if exec fails.
int ExecDetached(int argc, char** argv);

// Logs in the human-readable text format unless QUOTEFLOW_LOG_FORMAT is set; children keep
// logging JSON to their files.
void InitLauncherLogging();

class Launcher {
 public:
  // Blocks SIGTERM, SIGINT, SIGCHLD and ignores SIGPIPE in the calling thread and the threads it
  // starts later; the launcher receives them through a signalfd. Call first thing in main().
  static void BlockSignals();

  explicit Launcher(LauncherOptions options);
  // Stops whatever still runs (as on SIGTERM).
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // Starts everything, supervises until SIGTERM/SIGINT, stops everything. OK after a stop on a
  // signal (also one that arrives during start-up). Errors, each after stopping what was started:
  // FAILED_PRECONDITION (another launcher holds the state directory, a required binary is not
  // built, an explicitly chosen port is taken, Postgres cannot run there); INVALID_ARGUMENT (an
  // unknown service name); UNAVAILABLE (a service exited during start-up, or Postgres/the broker
  // died, or a service died with restart disabled; with the log's last lines);
  // DEADLINE_EXCEEDED (not everything ready within startup_timeout, naming what was not);
  // INTERNAL (cannot create the signalfd or the state directory).
  absl::Status Run();

 private:
  struct Service;

  absl::Status Start();
  absl::Status PrepareStateDir();
  absl::Status ResolvePorts();
  absl::StatusOr<int> ChoosePort(const std::string& what, const std::string& env,
                                 const PortSetting& setting);
  absl::Status StartPostgres();
  absl::Status StartBroker();
  absl::Status StartService(Service& service);
  absl::Status WaitUntilReady();
  absl::Status CheckInfrastructure();
  absl::Status Supervise();
  absl::Status HandleExit(Service& service);
  absl::Status PublishLocalEnv();
  void PrintSummary() const;
  void Shutdown();
  void StopChild(const std::string& name, std::unique_ptr<process::ChildProcess>& child);
  // Waits until `deadline` for a signal: returns SIGTERM/SIGINT if one arrived, else 0 (SIGCHLD:
  // some child exited, or the deadline passed). Callers re-check their condition after it.
  int WaitEvent(absl::Time deadline);
  std::vector<std::pair<std::string, std::string>> EnvironmentFor(const Service* service) const;
  std::string Substitute(const std::string& arg, const Service& service) const;

  LauncherOptions options_;
  std::string state_dir_;  // absolute
  std::string logs_dir_;
  std::string bin_dir_;
  std::string local_env_path_;
  int lock_fd_ = -1;
  int signal_fd_ = -1;
  int stop_signal_ = 0;  // the SIGTERM/SIGINT that asked us to stop, 0 before
  bool hurry_ = false;   // a second signal arrived while stopping
  bool shut_down_ = false;
  std::vector<SkippedService> skipped_;
  std::set<int> used_ports_;  // ports handed out in this run
  std::string database_url_;
  std::string kafka_bootstrap_servers_;
  std::unique_ptr<LocalPostgres> postgres_;
  std::unique_ptr<LocalKafka> kafka_;  // null with an existing Kafka
  absl::Duration kafka_startup_;
  absl::Time started_at_;
  std::vector<std::unique_ptr<Service>> services_;
  std::string quotectl_;  // path, empty when not built
  bool grpcurl_shim_ = false;
};

}  // namespace quoteflow::local

#endif  // QUOTEFLOW_TOOLS_LOCAL_LAUNCHER_H_
