// The chaos suite's load driver: `quotes` CreateQuote + ApproveQuote pairs over gRPC from
// `concurrency` client threads, each call retried with the SAME request id (so a retry after a
// lost reply is idempotent) until it succeeds or `give_up_after` passes. Every reply is counted by
// status code, and the client's ledger (which ApproveQuotes came back OK, with which event id) is
// returned for the ledger checker (ledger.h).
//
// Thread-safety: Run() blocks its caller and runs its own client threads; the stub must be
// thread-safe (gRPC stubs are). Progress counters may be read from any thread meanwhile.
#ifndef QUOTEFLOW_TESTS_CHAOS_LOAD_H_
#define QUOTEFLOW_TESTS_CHAOS_LOAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/chaos/ledger.h"

namespace quoteflow::chaos {

struct LoadOptions {
  std::string run_id;  // request ids are "<run_id>-<i>-create" / "<run_id>-<i>-approve"
  int quotes = 100;
  int concurrency = 16;
  std::function<std::string(int)> customer_of;  // input of quote i
  std::function<int64_t(int)> premium_of;
  // Deadline of one call.
  absl::Duration call_deadline = absl::Seconds(5);
  // An operation not acknowledged by then is given up (it stays unacknowledged in the ledger).
  absl::Duration give_up_after = absl::Seconds(120);
  // Each ApproveQuote is sent this many times at once (concurrent duplicates).
  int sends_per_approve = 1;
  // Retry pause after a failure: starts here, doubles up to max_backoff.
  absl::Duration min_backoff = absl::Milliseconds(20);
  absl::Duration max_backoff = absl::Milliseconds(500);
  // Each client starts at most one quote per `pace` (0: as fast as it can).
  absl::Duration pace;
  // When set and true, clients start no new quote (the load then ends early).
  const std::atomic<bool>* stop = nullptr;
};

struct LoadResult {
  std::vector<Approval> approvals;       // one per quote index
  std::map<std::string, int64_t> codes;  // every reply's status code name -> count
  int64_t calls = 0;
  int64_t given_up = 0;    // operations never acknowledged
  int64_t unexpected = 0;  // replies that are not retryable (INVALID_ARGUMENT, ...)
  absl::Duration elapsed;
  absl::Duration max_call;  // slowest single call
  // "calls=... ok=... UNAVAILABLE=... given-up=... elapsed=...".
  std::string ToString() const;
};

class LoadDriver {
 public:
  LoadDriver(v1::QuoteService::Stub& stub, LoadOptions options)
      : stub_(stub), options_(std::move(options)) {}

  LoadResult Run();

  // Operations acknowledged so far (both calls of a quote count once, when approved).
  int64_t approved() const { return approved_.load(); }
  // Successful ApproveQuote replies since the start (for "keeps succeeding" checks).
  int64_t ok_replies() const { return ok_replies_.load(); }

 private:
  v1::QuoteService::Stub& stub_;
  LoadOptions options_;
  std::atomic<int64_t> approved_{0};
  std::atomic<int64_t> ok_replies_{0};
};

}  // namespace quoteflow::chaos

#endif  // QUOTEFLOW_TESTS_CHAOS_LOAD_H_
