#include "api/malformed_request_interceptor.h"

#include <string>

namespace quoteflow {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MalformedRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit MalformedRequestInterceptor(const char* method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A unary handler's request that failed to deserialize reaches the interceptors as a null
    // message; gRPC then skips the handler and sends INTERNAL (sync methods) or UNIMPLEMENTED
    // with no message (callback methods).
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsable_ = true;
    }
    if (unparsable_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        (methods->GetSendStatus().error_code() == grpc::StatusCode::INTERNAL ||
         methods->GetSendStatus().error_code() == grpc::StatusCode::UNIMPLEMENTED)) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          std::string("the request is not a valid message for ") + method_ +
              ": malformed protobuf, or a string field that is not UTF-8 (use bytes for raw "
              "data)"));
    }
    methods->Proceed();
  }

 private:
  const char* method_;
  bool unparsable_ = false;
};

}  // namespace

grpc::experimental::Interceptor* MalformedRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // Streams see a null message at their end; only unary calls always carry exactly one request.
  if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) return nullptr;
  return new MalformedRequestInterceptor(info->method());
}

}  // namespace quoteflow
