// The one place where absl::Status becomes grpc::Status: same code and message, and for
// INVALID_ARGUMENT errors that name a field (domain/errors.h) a google.rpc.BadRequest detail in
// grpc-status-details-bin. Stateless; thread-safe.
#ifndef QUOTEFLOW_API_GRPC_STATUS_H_
#define QUOTEFLOW_API_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace quoteflow {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace quoteflow

#endif  // QUOTEFLOW_API_GRPC_STATUS_H_
