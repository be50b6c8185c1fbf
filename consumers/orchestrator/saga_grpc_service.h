// quoteflow.v1.SagaService over PgSagaReader: GetSaga returns a saga's state, current step and
// history. In choreography mode there is no saga to show: every call answers FAILED_PRECONDITION
// "saga orchestration is off; in choreography mode each service holds its own state" (the
// services' own APIs - QuoteService, PolicyService, CustomerService - show where a quote stands).
// Thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_GRPC_SERVICE_H_
#define QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_GRPC_SERVICE_H_

#include "consumers/orchestrator/pg_saga_store.h"
#include "quoteflow/v1/saga.grpc.pb.h"

namespace quoteflow::workers {

inline constexpr char kChoreographyGetSagaMessage[] =
    "saga orchestration is off; in choreography mode each service holds its own state";

void SagaToProto(const SagaView& view, v1::Saga* out);

class SagaGrpcService final : public v1::SagaService::Service {
 public:
  // `reader` nullptr: choreography mode.
  explicit SagaGrpcService(PgSagaReader* reader) : reader_(reader) {}
  // INVALID_ARGUMENT (empty quote_id), NOT_FOUND, FAILED_PRECONDITION (choreography),
  // UNAVAILABLE (database down).
  grpc::Status GetSaga(grpc::ServerContext* context, const v1::GetSagaRequest* request,
                       v1::Saga* response) override;

 private:
  PgSagaReader* reader_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_GRPC_SERVICE_H_
