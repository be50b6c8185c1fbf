// quoteflow.v1.PolicyService over gRPC: converts GetPolicy to PolicyQueries and the domain Policy
// to its proto, nothing else. Thread-safe (sync API; calls may block on Postgres).
#ifndef QUOTEFLOW_CONSUMERS_POLICY_POLICY_GRPC_SERVICE_H_
#define QUOTEFLOW_CONSUMERS_POLICY_POLICY_GRPC_SERVICE_H_

#include "domain/customer_commands.h"
#include "quoteflow/v1/policy.grpc.pb.h"

namespace quoteflow::workers {

class PolicyGrpcService final : public v1::PolicyService::Service {
 public:
  explicit PolicyGrpcService(PolicyQueries& queries) : queries_(queries) {}
  grpc::Status GetPolicy(grpc::ServerContext* context, const v1::GetPolicyRequest* request,
                         v1::Policy* response) override;

 private:
  PolicyQueries& queries_;
};

void PolicyToProto(const Policy& policy, v1::Policy* out);

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_POLICY_POLICY_GRPC_SERVICE_H_
