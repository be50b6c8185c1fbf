// The operations HTTP endpoint of every binary (cpp-httplib, Debian's libcpp-httplib):
//   GET /metrics  the registry in Prometheus text format 0.0.4
//   GET /healthz  liveness: 200 "ok" while the process serves HTTP and the liveness probe (if any)
//                 succeeds, 503 with the probe's message otherwise (a stalled worker: restart me)
//   GET /readyz   readiness: 200 "ready" while the readiness probe succeeds, 503 with the probe's
//                 message otherwise, and 503 "shutting down" once SetShuttingDown() was called
// Anything else is 404. Four handler threads, one request per connection; scrapes are cheap (the
// registry serializes in microseconds), so this never competes with the service's own work.
//
// Every binary declares the same option with DeclareMetricsAddress(): --metrics-address (env
// METRICS_ADDRESS), "host:port" ("[::1]:9464" for IPv6, port 0 = any free port), "" = no endpoint.
//
// Thread-safety: Start() and the destructor are called from main(); port() and SetShuttingDown()
// from any thread. The probe is called from the handler threads and must be thread-safe.
#ifndef QUOTEFLOW_PLATFORM_OBSERVABILITY_METRICS_SERVER_H_
#define QUOTEFLOW_PLATFORM_OBSERVABILITY_METRICS_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "platform/config/config.h"
#include "platform/observability/metrics.h"

namespace httplib {
class Server;
}

namespace quoteflow::metrics {

class MetricsServer {
 public:
  // Readiness: OK = ready; any other status = not ready, its message is the 503 body.
  using ReadinessProbe = std::function<absl::Status()>;
  // Liveness: OK = alive; any other status = /healthz answers 503 with its message.
  using LivenessProbe = std::function<absl::Status()>;

  // Binds `address` and serves until destroyed. `registry` must outlive the server; `ready` may be
  // null (always ready). Errors: INVALID_ARGUMENT for a malformed address (the message names
  // --metrics-address); UNAVAILABLE when the address cannot be bound (in use, not local).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              const Registry& registry,
                                                              ReadinessProbe ready = nullptr,
                                                              LivenessProbe live = nullptr);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound port (the real one when 0 was asked for).
  int port() const { return port_; }
  // /readyz answers 503 from now on (call when shutdown starts, so load balancers stop first).
  void SetShuttingDown() { shutting_down_ = true; }

 private:
  MetricsServer() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> listen_returned_{false};
};

// Splits "host:port" / "[v6]:port" / ":port" (host 0.0.0.0). INVALID_ARGUMENT otherwise.
absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(const std::string& address);

// Declares --metrics-address (env METRICS_ADDRESS) with this binary's default ("" = off).
void DeclareMetricsAddress(Config& config, const std::string& default_address);

// INVALID_ARGUMENT (naming --metrics-address) when the option is set but malformed; call it with
// the other configuration checks, before anything starts.
absl::Status ValidateMetricsAddress(const Config& config);

// Starts the endpoint when --metrics-address is set; returns nullptr when it is "". Errors as
// Start(). Logs the address it serves on.
absl::StatusOr<std::unique_ptr<MetricsServer>> StartFromConfig(
    const Config& config, const Registry& registry, MetricsServer::ReadinessProbe ready = nullptr,
    MetricsServer::LivenessProbe live = nullptr);

}  // namespace quoteflow::metrics

#endif  // QUOTEFLOW_PLATFORM_OBSERVABILITY_METRICS_SERVER_H_
