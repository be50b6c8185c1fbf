// quoteflow.v1.QuoteService over gRPC: converts requests to QuoteCommands calls and domain results
// to protos, nothing else. Thread-safe (sync API; each call runs on a gRPC worker thread and may
// block on Postgres).
#ifndef QUOTEFLOW_API_QUOTE_GRPC_SERVICE_H_
#define QUOTEFLOW_API_QUOTE_GRPC_SERVICE_H_

#include "domain/quote_commands.h"
#include "quoteflow/v1/quote.grpc.pb.h"

namespace quoteflow {

class QuoteGrpcService final : public v1::QuoteService::Service {
 public:
  explicit QuoteGrpcService(QuoteCommands& commands) : commands_(commands) {}

  grpc::Status CreateQuote(grpc::ServerContext* context, const v1::CreateQuoteRequest* request,
                           v1::Quote* response) override;
  grpc::Status ApproveQuote(grpc::ServerContext* context, const v1::ApproveQuoteRequest* request,
                            v1::ApproveQuoteResponse* response) override;
  grpc::Status GetQuote(grpc::ServerContext* context, const v1::GetQuoteRequest* request,
                        v1::Quote* response) override;

 private:
  QuoteCommands& commands_;
};

// Fills `out` from `quote`.
void QuoteToProto(const Quote& quote, v1::Quote* out);

}  // namespace quoteflow

#endif  // QUOTEFLOW_API_QUOTE_GRPC_SERVICE_H_
