#include "platform/observability/grpc_metrics.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace quoteflow::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;

class GrpcServerMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  GrpcServerMetricsInterceptor(std::string method, CounterFamily& handled, Histogram& seconds)
      : method_(std::move(method)),
        handled_(handled),
        seconds_(seconds),
        start_(std::chrono::steady_clock::now()) {}

  ~GrpcServerMetricsInterceptor() override {
    // An RPC that ended without sending a status (the client went away) counts as CANCELLED.
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    handled_.WithLabels({method_, StatusCodeName(code)}).Increment();
    seconds_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

  const std::string method_;
  CounterFamily& handled_;
  Histogram& seconds_;
  const std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int n = static_cast<int>(code);
  if (n >= 0 && n < static_cast<int>(std::size(kNames))) return kNames[n];
  return absl::StrCat("CODE_", n);
}

GrpcServerMetricsFactory::GrpcServerMetricsFactory(Registry& registry)
    : started_(registry.AddCounter("quoteflow_grpc_server_started_total",
                                   "gRPC calls received by the server", {"method"})),
      handled_(registry.AddCounter("quoteflow_grpc_server_handled_total",
                                   "gRPC calls completed by the server, by status code",
                                   {"method", "code"})),
      seconds_(registry.AddHistogram(
          "quoteflow_grpc_server_handling_seconds",
          "time from receiving a gRPC call to sending its status, in seconds", {"method"})) {}

grpc::experimental::Interceptor* GrpcServerMetricsFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  std::string method = info->method() != nullptr ? info->method() : "unknown";
  started_.WithLabels({method}).Increment();
  Histogram& seconds = seconds_.WithLabels({method});
  return new GrpcServerMetricsInterceptor(std::move(method), handled_, seconds);
}

void AddGrpcServerMetrics(
    grpc::ServerBuilder& builder, Registry& registry,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> more) {
  // Last: send hooks (PRE_SEND_STATUS) run in creator order, so the metrics interceptor sees the
  // status as the others left it (e.g. INTERNAL rewritten to INVALID_ARGUMENT).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators =
      std::move(more);
  creators.push_back(std::make_unique<GrpcServerMetricsFactory>(registry));
  builder.experimental().SetInterceptorCreators(std::move(creators));
}

}  // namespace quoteflow::metrics
