// LocalPostgres: a throwaway (or project-local, persistent) PostgreSQL 15 cluster for tests and for
// the local launcher. Start() runs initdb when the data directory is new, starts the server on
// 127.0.0.1:<port> with its unix socket inside the data directory, and creates database
// `quoteflow`.
//
// How the server process is owned: the postmaster is NOT daemonized through `pg_ctl start`; it is
// exec'd as a direct child of this process, in its own process group, with PR_SET_PDEATHSIG=SIGINT.
// If the owning process dies for any reason (a crashed or SIGKILLed test binary included), the
// kernel sends the postmaster SIGINT and it performs a fast shutdown, so no postmaster outlives its
// owner. PDEATHSIG fires when the *thread* that forked the child exits, so every fork of the
// postmaster is done by one internal thread that lives as long as the LocalPostgres object;
// Start()/Restart() may be called from any thread. Readiness is detected like `pg_ctl -w` does:
// postmaster.pid names our child and reports "ready".
//
// Running as root: initdb and postgres refuse to run as root, so when geteuid() == 0 every
// server-side command runs as the `postgres` system user (privileges dropped in the forked child),
// the cluster directory is chowned to it, and Start() checks that the user can reach the directory
// (all parents must be traversable). Otherwise everything runs as the current user.
//
// Thread-safety: an instance is not thread-safe; callers serialize Stop()/Restart() themselves.
// Accessors are safe to call concurrently with each other. Do not copy; destroy to stop the server
// (fast shutdown) and remove a temporary directory.
#ifndef QUOTEFLOW_PLATFORM_LOCAL_LOCAL_POSTGRES_H_
#define QUOTEFLOW_PLATFORM_LOCAL_LOCAL_POSTGRES_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quoteflow {

class LocalPostgres {
 public:
  struct Options {
    // Cluster directory. Empty: a fresh mkdtemp directory under /tmp, removed on destruction.
    // Non-empty (e.g. ".quoteflow/pg"): created if missing, kept, and reused when already
    // initialized. The data directory is <dir>/data, the server log <dir>/postgres.log.
    std::string dir;
    // TCP port on 127.0.0.1. 0 picks a free one (bind 127.0.0.1:0); it stays the same across
    // Restart().
    int port = 0;
    // false: fsync=off and full_page_writes=off (fast tests). Committed data survives a crash of
    // PostgreSQL itself (Stop(kImmediate), SIGKILL) but not of the OS. synchronous_commit stays on
    // on purpose: with it off, a commit acknowledged to the client may still sit in WAL buffers and
    // an immediate stop loses it, which chaos tests would report as lost outbox rows; with fsync
    // off it costs only a write(2). Pass {"synchronous_commit", "off"} in `settings` to trade that
    // away. true: PostgreSQL's crash-safe defaults (also survives an OS crash).
    bool durable = false;
    // Bounds how long a transaction may sit idle (it holds back the outbox relay's horizon).
    std::string idle_in_transaction_session_timeout = "60s";
    int max_connections = 300;
    // The server's listen_addresses. Add another local address (a bridge's, say) to reach the
    // server from network namespaces (the partition tests); database_url() keeps 127.0.0.1.
    std::string listen_addresses = "127.0.0.1";
    // IPv4 networks ("10.1.2.0/24") whose clients are trusted like 127.0.0.1's: a
    // `host all all <network> trust` line each in pg_hba.conf (added at start when missing).
    std::vector<std::string> trusted_networks;
    // Extra server settings, passed as `-c key=value`; they win over the settings above.
    std::vector<std::pair<std::string, std::string>> settings;
    // How long to wait for the server to accept connections after a start.
    absl::Duration start_timeout = absl::Seconds(60);
  };

  enum class Mode {
    kFast,       // like `pg_ctl stop -m fast`: disconnect clients, checkpoint, exit.
    kImmediate,  // like `pg_ctl stop -m immediate`: exit at once; crash recovery on next start.
  };

  // Initializes (if needed) and starts the cluster and creates database `quoteflow`.
  // Errors: FAILED_PRECONDITION when the postgres binaries or (as root) the `postgres` user are
  // missing, the directory is not usable by the server user, or the socket path would be too long;
  // INTERNAL when initdb fails (with its output); UNAVAILABLE when the server does not become ready
  // in time or exits during start-up, or the database cannot be created (with the server log's
  // tail).
  static absl::StatusOr<std::unique_ptr<LocalPostgres>> Start(const Options& options);

  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;
  // Stops the server (fast) if it runs, then removes the directory if it was a temporary one.
  ~LocalPostgres();

  // Stops the server and waits for the postmaster to exit. OK if it was already stopped (also when
  // someone ran `pg_ctl stop` on the data directory). A fast stop that takes longer than 60s is
  // escalated to immediate. Errors: DEADLINE_EXCEEDED if the postmaster would not exit even after
  // SIGKILL.
  absl::Status Stop(Mode mode = Mode::kFast);

  // Stops the server if it runs (fast) and starts it again on the same directory and port.
  // Errors: as Start() (UNAVAILABLE with the log's tail when it does not come back).
  absl::Status Restart();

  // True while the postmaster we started has not exited.
  bool running();

  // "postgresql://quoteflow@127.0.0.1:PORT/quoteflow".
  const std::string& database_url() const { return database_url_; }
  // Connection URL for another database of the cluster (e.g. "postgres").
  std::string DatabaseUrl(const std::string& database) const;
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  // PID of the running postmaster, or -1.
  pid_t postmaster_pid() const { return pid_; }

  // Last `max_bytes` of the server log (for error messages).
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  class Spawner;
  explicit LocalPostgres(Options options);

  absl::Status Init();
  absl::Status StartServer();
  // Appends Options::trusted_networks to pg_hba.conf (INTERNAL when it cannot be written).
  absl::Status TrustNetworks();
  absl::Status SpawnAndWait(std::string* bind_error_hint);
  absl::Status CreateDatabase();

  Options options_;
  std::string dir_;
  bool temp_dir_ = false;
  std::string data_dir_;
  std::string log_path_;
  std::string bin_dir_;
  std::string database_url_;
  int port_ = 0;
  pid_t pid_ = -1;
  pid_t owner_pid_ =
      -1;  // process that owns the server (a fork()ed copy of this object must not stop it)
  // Server user when running as root; -1 otherwise.
  uid_t run_uid_ = static_cast<uid_t>(-1);
  gid_t run_gid_ = static_cast<gid_t>(-1);
  std::unique_ptr<Spawner> spawner_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_LOCAL_LOCAL_POSTGRES_H_
