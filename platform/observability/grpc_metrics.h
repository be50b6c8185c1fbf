// gRPC server metrics through a server interceptor (grpc::experimental, gRPC 1.51): every RPC of a
// server built with AddGrpcServerMetrics() is counted by full method name and status code, and its
// handling time (interceptor creation to status sent) observed in a latency histogram:
//
//   quoteflow_grpc_server_started_total{method}          RPCs received
//   quoteflow_grpc_server_handled_total{method,code}     RPCs completed, by status code name ("OK",
//                                                        "INVALID_ARGUMENT", ...; "CANCELLED" when
//                                                        no status was sent)
//   quoteflow_grpc_server_handling_seconds{method}       histogram, DefaultLatencyBuckets()
//
// `method` is "/package.Service/Method". Health checks and reflection calls are counted too.
//
// Thread-safety: the interceptors run on gRPC's threads; the registry is thread-safe, and one
// interceptor object belongs to one RPC.
#ifndef QUOTEFLOW_PLATFORM_OBSERVABILITY_GRPC_METRICS_H_
#define QUOTEFLOW_PLATFORM_OBSERVABILITY_GRPC_METRICS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "platform/observability/metrics.h"

namespace quoteflow::metrics {

// Creates the interceptor of each RPC. `registry` must outlive the server.
class GrpcServerMetricsFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit GrpcServerMetricsFactory(Registry& registry);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  CounterFamily& started_;
  CounterFamily& handled_;
  HistogramFamily& seconds_;
};

// Registers the interceptor on `builder` (before BuildAndStart). It replaces interceptor creators
// set earlier with SetInterceptorCreators: call it once, with every creator the server needs in
// `more`. The metrics interceptor is placed after them, so it records the status they leave
// (send hooks run in creator order).
void AddGrpcServerMetrics(
    grpc::ServerBuilder& builder, Registry& registry,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> more = {});

// "OK", "CANCELLED", ... "UNAUTHENTICATED"; "CODE_<n>" for values outside the enum.
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace quoteflow::metrics

#endif  // QUOTEFLOW_PLATFORM_OBSERVABILITY_GRPC_METRICS_H_
