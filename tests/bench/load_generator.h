// LoadGenerator drives quote-api (quoteflow.v1.QuoteService) with the asynchronous gRPC client API:
// N concurrent streams, each with at most one call in flight, polled from one CompletionQueue by a
// few threads. A stream either loops CreateQuote + ApproveQuote (the product's command path), or
// approves quotes that already exist (ids PREFIX0 .. PREFIX<count-1>, each approved once; the API
// benchmark prefills them so that it times ApproveQuote alone). It runs for a duration or a number
// of approvals, flat out or at a fixed overall rate (streams pace themselves with grpc::Alarm;
// latencies are then measured from each call's scheduled start, so queueing is not hidden).
// Results: throughput, create/approve latency percentiles, errors by gRPC code, and a JSON form.
//
// Thread-safety: Run() may be called once per object, from one thread; `on_approved` is called
// from the completion-queue threads (concurrently) and must be thread-safe.
#ifndef QUOTEFLOW_TESTS_BENCH_LOAD_GENERATOR_H_
#define QUOTEFLOW_TESTS_BENCH_LOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/bench/latency_histogram.h"

namespace quoteflow::bench {

enum class Workload {
  kCreateApprove,    // each iteration: CreateQuote, then ApproveQuote of that quote
  kApproveExisting,  // each iteration: ApproveQuote of the next prefilled quote id
};

struct LoadOptions {
  std::string target = "127.0.0.1:50051";
  int streams = 16;
  // Stop after this many approvals (0: run for `duration`).
  int64_t count = 0;
  absl::Duration duration = absl::Seconds(10);
  // Approvals per second over all streams; 0: flat out.
  double rate = 0;
  Workload workload = Workload::kCreateApprove;
  // kApproveExisting: quote ids are absl::StrCat(id_prefix, i) for i in [0, id_count).
  std::string id_prefix;
  int64_t id_count = 0;
  // HTTP/2 connections the streams are spread over.
  int channels = 2;
  // Threads polling the completion queue.
  int threads = 1;
  absl::Duration call_timeout = absl::Seconds(10);
  // Called after every successful ApproveQuote with its event id and completion time.
  std::function<void(const std::string& event_id, absl::Time done)> on_approved;
};

struct LoadResult {
  double seconds = 0;
  int64_t approved = 0;
  int64_t created = 0;
  int64_t failed = 0;
  double approve_per_s = 0;
  LatencyHistogram approve_latency;
  LatencyHistogram create_latency;
  std::map<std::string, int64_t> errors;  // gRPC code name -> count
  std::string first_error;

  // Human-readable report (several lines).
  std::string Report() const;
  // One JSON object with the options that matter and every figure.
  std::string ToJson(const LoadOptions& options) const;
};

class LoadGenerator {
 public:
  explicit LoadGenerator(LoadOptions options) : options_(std::move(options)) {}

  // Runs the load. INVALID_ARGUMENT for inconsistent options; UNAVAILABLE when the server could
  // not be reached at all (the channel did not connect within 10 s). Call errors are counted in
  // the result, not returned.
  absl::StatusOr<LoadResult> Run();

 private:
  LoadOptions options_;
};

// Name of a grpc::StatusCode value ("UNAVAILABLE", ...).
std::string GrpcCodeName(int code);

}  // namespace quoteflow::bench

#endif  // QUOTEFLOW_TESTS_BENCH_LOAD_GENERATOR_H_
