// A gRPC server interceptor that answers INVALID_ARGUMENT where gRPC itself would answer INTERNAL
// for a unary request message that does not parse: malformed protobuf, or a proto3 `string` field
// holding bytes that are not UTF-8 (protobuf refuses those). That is bad input from the caller,
// not a server fault (DESIGN.md I6); INTERNAL would also page whoever watches server errors. The
// reply cannot name the field (the parser does not say which one failed), so it carries no
// BadRequest detail; its message says what was wrong. Replies of requests that parsed are not
// touched.
//
// Register MalformedRequestInterceptorFactory with
// ServerBuilder::experimental().SetInterceptorCreators (or metrics::AddGrpcServerMetrics's `more`).
// Thread-safety: one interceptor object belongs to one RPC; the factory is stateless.
#ifndef QUOTEFLOW_API_MALFORMED_REQUEST_INTERCEPTOR_H_
#define QUOTEFLOW_API_MALFORMED_REQUEST_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

namespace quoteflow {

class MalformedRequestInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_API_MALFORMED_REQUEST_INTERCEPTOR_H_
