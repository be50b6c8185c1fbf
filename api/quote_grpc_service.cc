#include "api/quote_grpc_service.h"

#include "absl/strings/str_cat.h"
#include "api/grpc_status.h"
#include "platform/observability/trace_context.h"

namespace quoteflow {
namespace {

v1::QuoteStatus ToProto(QuoteStatus s) {
  switch (s) {
    case QuoteStatus::kDraft:
      return v1::QUOTE_STATUS_DRAFT;
    case QuoteStatus::kApproved:
      return v1::QUOTE_STATUS_APPROVED;
    case QuoteStatus::kIssued:
      return v1::QUOTE_STATUS_ISSUED;
    case QuoteStatus::kRejected:
      return v1::QUOTE_STATUS_REJECTED;
  }
  return v1::QUOTE_STATUS_UNSPECIFIED;
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1'000'000);
  out->set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
}

// A call whose deadline already passed is not started: the client has given up on it.
bool Expired(const grpc::ServerContextBase* context) {
  return context->deadline() < std::chrono::system_clock::now();
}

const grpc::Status kDeadlinePassed(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "the call's deadline passed before it was started");

// The caller's W3C `traceparent` header, or "" (the event then starts a new trace).
std::string IncomingTraceparent(const grpc::ServerContextBase& context) {
  auto it = context.client_metadata().find("traceparent");
  return it == context.client_metadata().end() ? std::string()
                                               : std::string(it->second.data(), it->second.size());
}

}  // namespace

void QuoteToProto(const Quote& quote, v1::Quote* out) {
  out->set_quote_id(quote.quote_id());
  out->set_customer_id(quote.customer_id());
  out->set_premium(quote.premium());
  out->set_status(ToProto(quote.status()));
  out->set_version(quote.version());
  out->set_rejection_reason(quote.rejection_reason());
  SetTimestamp(quote.created_at(), out->mutable_created_at());
  SetTimestamp(quote.updated_at(), out->mutable_updated_at());
}

grpc::Status QuoteGrpcService::CreateQuote(grpc::ServerContext* context,
                                           const v1::CreateQuoteRequest* request,
                                           v1::Quote* response) {
  if (Expired(context)) return kDeadlinePassed;
  absl::StatusOr<Quote> quote = commands_.CreateQuote({.customer_id = request->customer_id(),
                                                       .premium = request->premium(),
                                                       .request_id = request->request_id()});
  if (!quote.ok()) return ToGrpcStatus(quote.status());
  QuoteToProto(*quote, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* QuoteGrpcService::ApproveQuote(grpc::CallbackServerContext* context,
                                                         const v1::ApproveQuoteRequest* request,
                                                         v1::ApproveQuoteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Approve(*context, *request, response, [reactor](grpc::Status s) { reactor->Finish(s); });
  return reactor;
}

void QuoteGrpcService::Approve(const grpc::ServerContextBase& context,
                               const v1::ApproveQuoteRequest& request,
                               v1::ApproveQuoteResponse* response,
                               std::function<void(grpc::Status)> finish) {
  if (Expired(&context)) {
    finish(kDeadlinePassed);
    return;
  }
  if (approvals_in_progress_.fetch_add(1, std::memory_order_relaxed) >= max_approvals_) {
    approvals_in_progress_.fetch_sub(1, std::memory_order_relaxed);
    finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("quote-api is overloaded: ", max_approvals_,
                     " ApproveQuote calls are in progress (--max-concurrent-calls); retry later")));
    return;
  }
  commands_.ApproveQuoteThen(
      {.quote_id = request.quote_id(),
       .request_id = request.request_id(),
       .expected_version = request.expected_version(),
       .traceparent = ChildTraceparent(IncomingTraceparent(context))},
      [this, response, finish = std::move(finish)](absl::StatusOr<ApproveQuoteResult> result) {
        approvals_in_progress_.fetch_sub(1, std::memory_order_relaxed);
        if (!result.ok()) {
          finish(ToGrpcStatus(result.status()));
          return;
        }
        QuoteToProto(result->quote, response->mutable_quote());
        response->set_event_id(result->event_id);
        finish(grpc::Status::OK);
      });
}

grpc::Status QuoteGrpcService::GetQuote(grpc::ServerContext* context,
                                        const v1::GetQuoteRequest* request, v1::Quote* response) {
  if (Expired(context)) return kDeadlinePassed;
  absl::StatusOr<Quote> quote = commands_.GetQuote(request->quote_id());
  if (!quote.ok()) return ToGrpcStatus(quote.status());
  QuoteToProto(*quote, response);
  return grpc::Status::OK;
}

}  // namespace quoteflow
