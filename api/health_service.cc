#include "api/health_service.h"

#include "absl/time/clock.h"
#include "platform/observability/log.h"

namespace quoteflow {

using grpc::health::v1::HealthCheckResponse;

HealthService::HealthService(std::set<std::string> services, std::function<absl::Status()> probe)
    : services_(std::move(services)), probe_(std::move(probe)) {}

HealthCheckResponse::ServingStatus HealthService::Status() {
  if (shutting_down_) return HealthCheckResponse::NOT_SERVING;
  absl::MutexLock lock(&mu_);
  if (absl::Now() - probed_at_ > absl::Seconds(1)) {
    absl::Status s = probe_();
    if (!s.ok() && healthy_) log::Warn("dependency check failed", {{"error", s.ToString()}});
    healthy_ = s.ok();
    probed_at_ = absl::Now();
  }
  return healthy_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext*,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  if (!request->service().empty() && !services_.count(request->service())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "unknown service '" + request->service() + "'");
  }
  response->set_status(Status());
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  const bool known = request->service().empty() || services_.count(request->service()) > 0;
  int last = -1;
  while (!context->IsCancelled()) {
    HealthCheckResponse response;
    response.set_status(known ? Status() : HealthCheckResponse::SERVICE_UNKNOWN);
    if (response.status() != last) {
      if (!writer->Write(response)) break;
      last = response.status();
    }
    if (shutting_down_) break;
    absl::SleepFor(absl::Milliseconds(500));  // re-probe period of a watch stream
  }
  return grpc::Status::OK;
}

void HealthService::Shutdown() { shutting_down_ = true; }

}  // namespace quoteflow
