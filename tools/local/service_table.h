// The services `make run` starts, as data: which binary, with which flags, whether it serves gRPC
// (and on which default port), how the launcher knows it is ready, and when it runs at all (saga
// mode, companion of another service). SelectServices() turns the table into the plan for one run:
// it skips services whose binary is not built yet (other engineers' binaries land over time) and
// says why, so the launcher works on a partial tree and picks the rest up once they are built.
//
// Start order is table order; the launcher stops services in reverse order, so quote-api (the
// entry point) stops first and the outbox relays stop last, after everything that writes to the
// outboxes.
//
// Thread-safety: the table is immutable; the functions are pure (FindBinary reads the file
// system) and thread-safe.
#ifndef QUOTEFLOW_TOOLS_LOCAL_SERVICE_TABLE_H_
#define QUOTEFLOW_TOOLS_LOCAL_SERVICE_TABLE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quoteflow::local {

enum class Readiness {
  kGrpcHealth,  // grpc.health.v1.Health/Check("") answers SERVING (UNIMPLEMENTED counts: it serves)
  kLogLine,     // `ready_line` appears in the service's log after this start
  kAliveFor,    // still running `alive_for` after the start (for binaries with no better signal)
};

struct ServiceSpec {
  // Label in logs and the log file name (<state>/logs/<name>.log).
  std::string name;
  // Executable file name, searched in the build directory.
  std::string binary;
  // Flags. Placeholders: {database_url}, {kafka_bootstrap_servers}, {grpc_address}. Every service
  // also gets the same settings as environment variables (the project's Config reads both), so a
  // binary whose flags the table does not know is configured through the environment alone.
  std::vector<std::string> args;
  // For a gRPC server: the prefix of its local.env key (QUOTE -> QUOTE_GRPC_ADDRESS), the launcher
  // option holding its port (e.g. "quoteflow-grpc-port", env QUOTEFLOW_GRPC_PORT) and the default.
  std::string grpc_key;
  std::string port_option;
  int default_port = 0;
  // Default port of its --metrics-address (/metrics, /healthz, /readyz; a free port when taken),
  // 0 = none. local.env names it <NAME>_METRICS_URL: the name upper-cased with '-' -> '_'
  // (QUOTE_API_METRICS_URL, OUTBOX_RELAY_QUOTE_METRICS_URL, POLICY_WORKER_METRICS_URL, ...).
  int metrics_port = 0;
  Readiness readiness = Readiness::kAliveFor;
  std::string ready_line;
  absl::Duration alive_for = absl::Seconds(2);
  // Runs only in this saga mode ("" = any).
  std::string saga_mode;
  // Runs only when the service of this name runs too (a relay runs with the service whose outbox it
  // publishes).
  std::string companion_of;
  // A missing binary is an error instead of a skip.
  bool required = false;
};

// The quoteflow services in start order.
const std::vector<ServiceSpec>& DefaultServices();

struct PlannedService {
  ServiceSpec spec;
  std::string path;  // resolved executable
};

struct SkippedService {
  std::string name;
  std::string reason;
};

struct ServicePlan {
  std::vector<PlannedService> services;  // start order
  std::vector<SkippedService> skipped;
};

// Chooses the services of one run. `find_binary` maps a binary name to its path, or nullopt when it
// is not built. `only` (empty = all) restricts the run to the named services (companions of a named
// service included). Errors: INVALID_ARGUMENT for an unknown name in `only`; FAILED_PRECONDITION
// when a required binary is missing (saying to run `make build`).
absl::StatusOr<ServicePlan> SelectServices(
    const std::vector<ServiceSpec>& specs, const std::string& saga_mode,
    const std::vector<std::string>& only,
    const std::function<std::optional<std::string>(const std::string&)>& find_binary);

// Finds an executable regular file named `binary` under `build_dir` (the top level first, then
// subdirectories up to four levels deep, skipping CMakeFiles and hidden directories; the shortest,
// then lexicographically first path wins). Returns its absolute path, or nullopt.
std::optional<std::string> FindBinary(const std::string& build_dir, const std::string& binary);

}  // namespace quoteflow::local

#endif  // QUOTEFLOW_TOOLS_LOCAL_SERVICE_TABLE_H_
