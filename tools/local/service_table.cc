#include "tools/local/service_table.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quoteflow::local {
namespace {

// The relay logs this once it is connected to Postgres and holds its shard leases.
constexpr char kRelayReadyLine[] = "shard leases changed";

ServiceSpec Relay(const std::string& schema, const std::string& companion) {
  return {.name = "outbox-relay-" + schema,
          .binary = "outbox-relay",
          .args = {"--outbox-schema=" + schema, "--relay-id=local-" + schema,
                   "--database-url={database_url}",
                   "--kafka-bootstrap-servers={kafka_bootstrap_servers}"},
          .readiness = Readiness::kLogLine,
          .ready_line = kRelayReadyLine,
          .companion_of = companion};
}

ServiceSpec GrpcWorker(const std::string& name, const std::string& key, const std::string& option,
                       int port) {
  return {.name = name,
          .binary = name,
          .grpc_key = key,
          .port_option = option,
          .default_port = port,
          .readiness = Readiness::kGrpcHealth};
}

bool IsExecutableFile(const std::filesystem::path& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

}  // namespace

const std::vector<ServiceSpec>& DefaultServices() {
  static const std::vector<ServiceSpec>* const kServices = [] {
    auto* s = new std::vector<ServiceSpec>;
    // Relays first: they stop last, after every service that writes to an outbox.
    s->push_back(Relay("quote", "quote-api"));
    s->push_back(Relay("policy", "policy-worker"));
    s->push_back(Relay("customer", "customer-worker"));
    s->push_back(Relay("saga", "saga-orchestrator"));
    s->push_back(GrpcWorker("customer-worker", "CUSTOMER", "quoteflow-customer-grpc-port", 50052));
    s->push_back(GrpcWorker("policy-worker", "POLICY", "quoteflow-policy-grpc-port", 50053));
    s->push_back({.name = "quote-worker", .binary = "quote-worker"});
    ServiceSpec saga = GrpcWorker("saga-orchestrator", "SAGA", "quoteflow-saga-grpc-port", 50054);
    saga.saga_mode = "orchestration";
    s->push_back(saga);
    // The entry point last: it stops first, so no new command arrives while the rest stops.
    s->push_back({.name = "quote-api",
                  .binary = "quote-api",
                  .args = {"--grpc-address={grpc_address}", "--database-url={database_url}"},
                  .grpc_key = "QUOTE",
                  .port_option = "quoteflow-grpc-port",
                  .default_port = 50051,
                  .readiness = Readiness::kGrpcHealth,
                  .required = true});
    // Metrics endpoints: quote-api 9464 as in deploy/, then one port per process on this host.
    const std::map<std::string, int> metrics_ports = {
        {"quote-api", 9464},           {"outbox-relay-quote", 9465},
        {"policy-worker", 9466},       {"customer-worker", 9467},
        {"quote-worker", 9468},        {"saga-orchestrator", 9469},
        {"outbox-relay-policy", 9470}, {"outbox-relay-customer", 9471},
        {"outbox-relay-saga", 9472}};
    for (ServiceSpec& spec : *s) {
      if (auto it = metrics_ports.find(spec.name); it != metrics_ports.end()) {
        spec.metrics_port = it->second;
      }
    }
    return s;
  }();
  return *kServices;
}

absl::StatusOr<ServicePlan> SelectServices(
    const std::vector<ServiceSpec>& specs, const std::string& saga_mode,
    const std::vector<std::string>& only,
    const std::function<std::optional<std::string>(const std::string&)>& find_binary) {
  std::set<std::string> known;
  for (const ServiceSpec& spec : specs) known.insert(spec.name);
  for (const std::string& name : only) {
    if (!known.contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown service '", name, "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  auto wanted = [&only](const ServiceSpec& spec) {
    if (only.empty()) return true;
    auto named = [&only](const std::string& n) {
      return std::find(only.begin(), only.end(), n) != only.end();
    };
    return named(spec.name) || (!spec.companion_of.empty() && named(spec.companion_of));
  };

  // First pass: services that are not companions; second pass: companions of the chosen ones.
  std::set<std::string> chosen;
  std::vector<std::optional<std::string>> paths(specs.size());
  ServicePlan plan;
  std::vector<std::optional<SkippedService>> skipped(specs.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < specs.size(); ++i) {
      const ServiceSpec& spec = specs[i];
      if (spec.companion_of.empty() != (pass == 0)) continue;
      if (!wanted(spec)) continue;
      if (!spec.saga_mode.empty() && spec.saga_mode != saga_mode) {
        skipped[i] = SkippedService{spec.name, absl::StrCat("runs only in ", spec.saga_mode,
                                                            " mode (QUOTEFLOW_SAGA_MODE)")};
        continue;
      }
      if (!spec.companion_of.empty() && !chosen.contains(spec.companion_of)) {
        skipped[i] = SkippedService{spec.name, absl::StrCat(spec.companion_of, " does not run")};
        continue;
      }
      paths[i] = find_binary(spec.binary);
      if (!paths[i].has_value()) {
        if (spec.required) {
          return absl::FailedPreconditionError(absl::StrCat(
              spec.binary, " is not built in the build directory: run `make build` first"));
        }
        skipped[i] = SkippedService{spec.name, absl::StrCat(spec.binary, " is not built yet")};
        continue;
      }
      chosen.insert(spec.name);
    }
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (paths[i].has_value() && chosen.contains(specs[i].name)) {
      plan.services.push_back({specs[i], *paths[i]});
    } else if (skipped[i].has_value()) {
      plan.skipped.push_back(*skipped[i]);
    }
  }
  return plan;
}

std::optional<std::string> FindBinary(const std::string& build_dir, const std::string& binary) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path root = fs::absolute(build_dir, ec);
  if (ec) return std::nullopt;
  if (IsExecutableFile(root / binary)) return (root / binary).lexically_normal().string();
  std::vector<std::string> found;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string leaf = p.filename().string();
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      if (leaf == "CMakeFiles" || leaf.starts_with(".") || it.depth() >= 3) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (leaf == binary && IsExecutableFile(p)) found.push_back(p.lexically_normal().string());
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return found.front();
}

}  // namespace quoteflow::local
