// quoteflow-local: `make run`, the whole local quoteflow system in the foreground (see launcher.h).
// Usage: quoteflow-local [BUILD_DIR] [--quoteflow-...=value ...] (every flag is also an environment
// variable, e.g. QUOTEFLOW_GRPC_PORT; --help lists them).
// Exit status: 0 after SIGTERM/SIGINT and a clean stop; 1 when start-up fails or the system fails
// beyond repair (the reason, with log tails, is on stderr); 2 for invalid configuration.
#include <cstdio>
#include <cstring>
#include <string>

#include "platform/config/config.h"
#include "platform/observability/log.h"
#include "tools/local/launcher.h"

int main(int argc, char** argv) {
  namespace local = quoteflow::local;
  if (argc >= 2 && std::strcmp(argv[1], local::kExecDetachedFlag) == 0) {
    return local::ExecDetached(argc, argv);
  }
  local::Launcher::BlockSignals();
  local::InitLauncherLogging();

  quoteflow::Config config("quoteflow-local",
                           "runs the whole local quoteflow system (make run) until Ctrl-C");
  local::DeclareLauncherFlags(config);
  absl::StatusOr<std::vector<std::string>> positional = config.Parse(argc, argv);
  absl::StatusOr<local::LauncherOptions> options =
      positional.ok() ? local::LauncherOptionsFromConfig(config, *positional)
                      : absl::StatusOr<local::LauncherOptions>(positional.status());
  if (!options.ok()) {
    std::fprintf(stderr, "quoteflow-local: invalid configuration: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  config.LogEffective();

  local::Launcher launcher(*std::move(options));
  absl::Status status = launcher.Run();
  if (!status.ok()) {
    std::fprintf(stderr, "\nquoteflow-local: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
