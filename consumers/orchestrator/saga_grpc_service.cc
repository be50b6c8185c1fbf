#include "consumers/orchestrator/saga_grpc_service.h"

#include "api/grpc_status.h"
#include "consumers/common/proto_time.h"

namespace quoteflow::workers {

void SagaToProto(const SagaView& view, v1::Saga* out) {
  const Saga& s = view.saga;
  out->set_quote_id(s.quote_id);
  out->set_customer_id(s.customer_id);
  out->set_policy_id(s.policy_id);
  out->set_state(SagaStateName(s.state));
  out->set_current_step(SagaStepName(s.step));
  out->set_attempt(s.attempt);
  if (s.deadline.has_value()) SetTimestamp(*s.deadline, out->mutable_deadline());
  out->set_failure_reason(s.failure_reason);
  out->set_stuck_reason(s.stuck_reason);
  out->set_version(s.version);
  SetTimestamp(s.created_at, out->mutable_created_at());
  SetTimestamp(s.updated_at, out->mutable_updated_at());
  for (const SagaHistoryEntry& h : view.history) {
    v1::SagaStepRecord* r = out->add_history();
    SetTimestamp(h.at, r->mutable_at());
    r->set_step(h.step);
    r->set_attempt(h.attempt);
    r->set_outcome(h.outcome);
    r->set_detail(h.detail);
  }
}

grpc::Status SagaGrpcService::GetSaga(grpc::ServerContext*, const v1::GetSagaRequest* request,
                                      v1::Saga* response) {
  if (reader_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, kChoreographyGetSagaMessage);
  }
  if (request->quote_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("quote_id: required"));
  }
  absl::StatusOr<SagaView> view = reader_->Get(request->quote_id());
  if (!view.ok()) return ToGrpcStatus(view.status());
  SagaToProto(*view, response);
  return grpc::Status::OK;
}

}  // namespace quoteflow::workers
