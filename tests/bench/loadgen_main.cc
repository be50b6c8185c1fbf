// quoteflow-loadgen: drives quote-api with N concurrent streams of CreateQuote + ApproveQuote (or
// approvals of prefilled quotes), for a duration or a count, flat out or at a fixed rate; prints
// throughput, latency percentiles and errors by code, and writes a JSON result.
//
//   quoteflow-loadgen --target=127.0.0.1:50051 --streams=16 --duration=10s [--rate=2000]
//                     [--count=N] [--workload=create-approve|approve --id-prefix=P --id-count=N]
//                     [--channels=2] [--threads=1] [--json=result.json]
//
// Exit status: 0 when the run completed (call errors are reported, not fatal), 1 when the server
// could not be reached, 2 for bad flags.
#include <cstdio>
#include <fstream>

#include "platform/runtime/runtime.h"
#include "tests/bench/bench_flags.h"
#include "tests/bench/load_generator.h"

namespace {

int Usage(const std::string& error) {
  std::fprintf(stderr,
               "quoteflow-loadgen: %s\n"
               "usage: quoteflow-loadgen --target=HOST:PORT [--streams=16] [--duration=10s | "
               "--count=N] [--rate=PER_S] [--workload=create-approve|approve --id-prefix=P "
               "--id-count=N] [--channels=2] [--threads=1] [--timeout=10s] [--json=FILE]\n",
               error.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace quoteflow::bench;
  // Its gRPC client shares the cores with what it loads (platform/runtime/runtime.h).
  quoteflow::DisableMutexDeadlockDetection();
  absl::StatusOr<BenchFlags> flags = BenchFlags::Parse(argc, argv);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  LoadOptions o;
  o.target = flags->Get("target", o.target);
  auto streams = flags->GetInt("streams", o.streams);
  auto count = flags->GetInt("count", 0);
  auto duration = flags->GetDuration("duration", o.duration);
  auto rate = flags->GetDouble("rate", 0);
  auto id_count = flags->GetInt("id-count", 0);
  auto channels = flags->GetInt("channels", o.channels);
  auto threads = flags->GetInt("threads", o.threads);
  auto timeout = flags->GetDuration("timeout", o.call_timeout);
  for (const absl::Status& s :
       {streams.status(), count.status(), duration.status(), rate.status(), id_count.status(),
        channels.status(), threads.status(), timeout.status()}) {
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  o.streams = static_cast<int>(*streams);
  o.count = *count;
  o.duration = *duration;
  o.rate = *rate;
  o.id_count = *id_count;
  o.id_prefix = flags->Get("id-prefix", "");
  o.channels = static_cast<int>(*channels);
  o.threads = static_cast<int>(*threads);
  o.call_timeout = *timeout;
  const std::string workload = flags->Get("workload", "create-approve");
  if (workload == "approve") {
    o.workload = Workload::kApproveExisting;
  } else if (workload != "create-approve") {
    return Usage("--workload must be create-approve or approve");
  }
  absl::StatusOr<LoadResult> r = LoadGenerator(o).Run();
  if (!r.ok()) {
    if (absl::IsInvalidArgument(r.status())) return Usage(std::string(r.status().message()));
    std::fprintf(stderr, "quoteflow-loadgen: %s\n", r.status().ToString().c_str());
    return 1;
  }
  std::printf("%s", r->Report().c_str());
  if (std::string path = flags->Get("json", ""); !path.empty()) {
    std::ofstream out(path);
    out << r->ToJson(o) << "\n";
    if (!out) {
      std::fprintf(stderr, "quoteflow-loadgen: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}
