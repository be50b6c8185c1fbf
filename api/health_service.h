// grpc.health.v1.Health, compiled from our own copy of health.proto so that server reflection can
// describe it (gRPC's built-in health service is not visible to reflection). A service is SERVING
// while its dependency probe succeeds (e.g. Postgres answers); probe results are cached for one
// second so health checks cannot hammer the database. Thread-safe.
#ifndef QUOTEFLOW_API_HEALTH_SERVICE_H_
#define QUOTEFLOW_API_HEALTH_SERVICE_H_

#include <atomic>
#include <functional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace quoteflow {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  // `services` are the names answered besides "" (the whole server); `probe` checks dependencies.
  HealthService(std::set<std::string> services, std::function<absl::Status()> probe);

  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

  // From now on every service reports NOT_SERVING (called when shutdown starts), and Watch streams
  // end.
  void Shutdown();

 private:
  grpc::health::v1::HealthCheckResponse::ServingStatus Status();

  const std::set<std::string> services_;
  const std::function<absl::Status()> probe_;
  std::atomic<bool> shutting_down_{false};
  absl::Mutex mu_;
  absl::Time probed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_API_HEALTH_SERVICE_H_
