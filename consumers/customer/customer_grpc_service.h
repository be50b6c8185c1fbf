// quoteflow.v1.CustomerService over gRPC: converts requests to CustomerCommands calls and domain
// customers to protos, nothing else. Thread-safe (sync API; calls may block on Postgres).
#ifndef QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_GRPC_SERVICE_H_
#define QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_GRPC_SERVICE_H_

#include "domain/customer_commands.h"
#include "quoteflow/v1/customer.grpc.pb.h"

namespace quoteflow::workers {

class CustomerGrpcService final : public v1::CustomerService::Service {
 public:
  explicit CustomerGrpcService(CustomerCommands& commands) : commands_(commands) {}
  grpc::Status CreateCustomer(grpc::ServerContext* context,
                              const v1::CreateCustomerRequest* request,
                              v1::Customer* response) override;
  grpc::Status GetCustomer(grpc::ServerContext* context, const v1::GetCustomerRequest* request,
                           v1::Customer* response) override;

 private:
  CustomerCommands& commands_;
};

void CustomerToProto(const Customer& customer, v1::Customer* out);

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_CUSTOMER_CUSTOMER_GRPC_SERVICE_H_
