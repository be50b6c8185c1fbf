#include "consumers/customer/customer_grpc_service.h"

#include "api/grpc_status.h"
#include "consumers/common/proto_time.h"

namespace quoteflow::workers {
namespace {

bool Expired(const grpc::ServerContext* context) {
  return context->deadline() < std::chrono::system_clock::now();
}

const grpc::Status kDeadlinePassed(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "the call's deadline passed before it was started");

}  // namespace

void CustomerToProto(const Customer& customer, v1::Customer* out) {
  out->set_customer_id(customer.customer_id());
  out->set_name(customer.name());
  out->set_policy_count(customer.policy_count());
  out->set_max_policies(customer.max_policies());
  out->set_version(customer.version());
  SetTimestamp(customer.created_at(), out->mutable_created_at());
  SetTimestamp(customer.updated_at(), out->mutable_updated_at());
}

grpc::Status CustomerGrpcService::CreateCustomer(grpc::ServerContext* context,
                                                 const v1::CreateCustomerRequest* request,
                                                 v1::Customer* response) {
  if (Expired(context)) return kDeadlinePassed;
  absl::StatusOr<Customer> customer =
      commands_.CreateCustomer({.customer_id = request->customer_id(),
                                .name = request->name(),
                                .max_policies = request->max_policies(),
                                .request_id = request->request_id()});
  if (!customer.ok()) return ToGrpcStatus(customer.status());
  CustomerToProto(*customer, response);
  return grpc::Status::OK;
}

grpc::Status CustomerGrpcService::GetCustomer(grpc::ServerContext* context,
                                              const v1::GetCustomerRequest* request,
                                              v1::Customer* response) {
  if (Expired(context)) return kDeadlinePassed;
  absl::StatusOr<Customer> customer = commands_.GetCustomer(request->customer_id());
  if (!customer.ok()) return ToGrpcStatus(customer.status());
  CustomerToProto(*customer, response);
  return grpc::Status::OK;
}

}  // namespace quoteflow::workers
