#include "consumers/policy/policy_grpc_service.h"

#include "api/grpc_status.h"
#include "consumers/common/proto_time.h"

namespace quoteflow::workers {

void PolicyToProto(const Policy& policy, v1::Policy* out) {
  out->set_policy_id(policy.policy_id());
  out->set_quote_id(policy.quote_id());
  out->set_customer_id(policy.customer_id());
  out->set_premium(policy.premium());
  out->set_status(policy.status() == PolicyStatus::kActive ? v1::POLICY_STATUS_ACTIVE
                                                           : v1::POLICY_STATUS_CANCELLED);
  out->set_cancellation_reason(policy.cancellation_reason());
  out->set_version(policy.version());
  SetTimestamp(policy.created_at(), out->mutable_created_at());
  SetTimestamp(policy.updated_at(), out->mutable_updated_at());
}

grpc::Status PolicyGrpcService::GetPolicy(grpc::ServerContext* context,
                                          const v1::GetPolicyRequest* request,
                                          v1::Policy* response) {
  if (context->deadline() < std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the call's deadline passed before it was started");
  }
  absl::StatusOr<Policy> policy = queries_.GetPolicy(request->policy_id(), request->quote_id());
  if (!policy.ok()) return ToGrpcStatus(policy.status());
  PolicyToProto(*policy, response);
  return grpc::Status::OK;
}

}  // namespace quoteflow::workers
