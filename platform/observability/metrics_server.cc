#include "platform/observability/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "platform/observability/log.h"

namespace quoteflow::metrics {

absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(const std::string& address) {
  auto bad = [&address](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-address: '", address, "' ", why, " (want host:port)"));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return bad("has no port");
  std::string host = address.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return bad("has an invalid port");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("needs brackets around an IPv6 host");
  }
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    const Registry& registry,
                                                                    ReadinessProbe ready,
                                                                    LivenessProbe live) {
  absl::StatusOr<std::pair<std::string, int>> host_port = ParseListenAddress(address);
  if (!host_port.ok()) return host_port.status();
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *server->http_;
  http.new_task_queue = [] { return new httplib::ThreadPool(4); };
  // One request per connection: an idle keep-alive connection (a scraper between scrapes) would
  // hold a handler thread for the keep-alive timeout and make liveness probes queue behind it.
  http.set_keep_alive_max_count(1);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port and take
  // half the scrapes: keep only SO_REUSEADDR, so a busy port is an error at start.
  http.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  MetricsServer* self = server.get();
  http.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.Serialize(), kTextContentType);
  });
  http.Get("/healthz", [live](const httplib::Request&, httplib::Response& res) {
    absl::Status s = live ? live() : absl::OkStatus();
    res.status = s.ok() ? 200 : 503;
    res.set_content(s.ok() ? std::string("ok\n") : absl::StrCat(s.message(), "\n"), "text/plain");
  });
  http.Get("/readyz", [self, ready](const httplib::Request&, httplib::Response& res) {
    absl::Status s = absl::OkStatus();
    if (self->shutting_down_) {
      s = absl::UnavailableError("shutting down");
    } else if (ready) {
      s = ready();
    }
    res.status = s.ok() ? 200 : 503;
    res.set_content(s.ok() ? std::string("ready\n") : absl::StrCat(s.message(), "\n"),
                    "text/plain");
  });

  const auto& [host, port] = *host_port;
  if (port == 0) {
    server->port_ = http.bind_to_any_port(host);
    if (server->port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("metrics endpoint: cannot bind ", address));
    }
  } else {
    if (!http.bind_to_port(host, port)) {
      return absl::UnavailableError(
          absl::StrCat("metrics endpoint: cannot bind ", address, " (in use, or not local)"));
    }
    server->port_ = port;
  }
  server->thread_ = std::thread([self] {
    self->http_->listen_after_bind();
    self->listen_returned_ = true;
  });
  return server;
}

MetricsServer::~MetricsServer() {
  if (http_ == nullptr) return;
  if (thread_.joinable()) {
    // httplib's stop() is a no-op until listen_after_bind() has marked the server running, so a
    // stop issued right after Start() could be lost: repeat it until the listener returned.
    while (!listen_returned_) {
      http_->stop();
      if (!listen_returned_) absl::SleepFor(absl::Milliseconds(1));
    }
    thread_.join();
  }
}

void DeclareMetricsAddress(Config& config, const std::string& default_address) {
  config.Declare("metrics-address", default_address,
                 "host:port of the HTTP endpoint serving /metrics, /healthz and /readyz "
                 "(\"\" = none)");
}

absl::Status ValidateMetricsAddress(const Config& config) {
  const std::string& address = config.Get("metrics-address");
  if (address.empty()) return absl::OkStatus();
  return ParseListenAddress(address).status();
}

absl::StatusOr<std::unique_ptr<MetricsServer>> StartFromConfig(const Config& config,
                                                               const Registry& registry,
                                                               MetricsServer::ReadinessProbe ready,
                                                               MetricsServer::LivenessProbe live) {
  const std::string& address = config.Get("metrics-address");
  if (address.empty()) return std::unique_ptr<MetricsServer>();
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start(address, registry, std::move(ready), std::move(live));
  if (server.ok()) {
    log::Info("serving metrics", {{"address", address}, {"port", (*server)->port()}});
  }
  return server;
}

}  // namespace quoteflow::metrics
