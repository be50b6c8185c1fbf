// quoteflow.v1.QuoteService over gRPC: converts requests to QuoteCommands calls and domain results
// to protos, nothing else. Thread-safe. CreateQuote and GetQuote are sync (each call runs on a
// gRPC server thread and blocks on Postgres); ApproveQuote is a callback method: its call queues
// for the repository's next write batch and is answered by the writer, with no thread waiting.
#ifndef QUOTEFLOW_API_QUOTE_GRPC_SERVICE_H_
#define QUOTEFLOW_API_QUOTE_GRPC_SERVICE_H_

#include <atomic>
#include <functional>

#include "domain/quote_commands.h"
#include "quoteflow/v1/quote.grpc.pb.h"

namespace quoteflow {

class QuoteGrpcService final
    : public v1::QuoteService::WithCallbackMethod_ApproveQuote<v1::QuoteService::Service> {
 public:
  // Past `max_approvals` ApproveQuote calls in progress, more are refused with
  // RESOURCE_EXHAUSTED.
  QuoteGrpcService(QuoteCommands& commands, int max_approvals)
      : commands_(commands), max_approvals_(max_approvals) {}

  grpc::Status CreateQuote(grpc::ServerContext* context, const v1::CreateQuoteRequest* request,
                           v1::Quote* response) override;
  grpc::ServerUnaryReactor* ApproveQuote(grpc::CallbackServerContext* context,
                                         const v1::ApproveQuoteRequest* request,
                                         v1::ApproveQuoteResponse* response) override;
  // ApproveQuote's work, apart from gRPC's call object: `finish` gets the call's status once
  // `response` is filled, maybe on the repository's writer thread, maybe before Approve returns.
  void Approve(const grpc::ServerContextBase& context, const v1::ApproveQuoteRequest& request,
               v1::ApproveQuoteResponse* response, std::function<void(grpc::Status)> finish);
  grpc::Status GetQuote(grpc::ServerContext* context, const v1::GetQuoteRequest* request,
                        v1::Quote* response) override;

 private:
  QuoteCommands& commands_;
  const int max_approvals_;
  std::atomic<int> approvals_in_progress_{0};
};

// Fills `out` from `quote`.
void QuoteToProto(const Quote& quote, v1::Quote* out);

}  // namespace quoteflow

#endif  // QUOTEFLOW_API_QUOTE_GRPC_SERVICE_H_
