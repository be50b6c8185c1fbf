// quoteflow-bench: runs quoteflow's benchmarks against the limits of PostgreSQL and Kafka on this
// machine, measured in the same run (docs/performance.md).
//
//   quoteflow-bench all|api|relay|latency|relay-scale|saga|debezium [--size=tiny|full] [flags]
//
// Each benchmark prints its figures and ends with `RATIO <name> <value> target=<target>` lines.
// --size=tiny shrinks every size to a seconds-long smoke run (for CI: it proves the benchmark
// runs, its times mean nothing). --durable=false turns fsync off. --keep keeps the work directory
// (logs of every process). Exit status: 0 when every benchmark ran (targets met or not), 1 when
// one could not run, 2 for bad flags.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "platform/runtime/runtime.h"
#include "tests/bench/benchmarks.h"

namespace {

using namespace quoteflow::bench;

struct Entry {
  const char* name;
  absl::Status (*run)(const BenchContext&);
};
constexpr Entry kBenchmarks[] = {
    {"api", RunApiBenchmark},         {"relay", RunRelayBenchmark},
    {"latency", RunLatencyBenchmark}, {"relay-scale", RunRelayScaleBenchmark},
    {"saga", RunSagaBenchmark},       {"debezium", RunDebeziumBenchmark},
};

int Usage(const std::string& error) {
  std::fprintf(
      stderr,
      "quoteflow-bench: %s\nusage: quoteflow-bench all|api|relay|latency|relay-scale|saga|debezium"
      " [--size=tiny|full] [--durable=true] [--keep] [benchmark flags]\n",
      error.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Its load generator shares the cores with what it measures (platform/runtime/runtime.h).
  quoteflow::DisableMutexDeadlockDetection();
  absl::StatusOr<BenchFlags> flags = BenchFlags::Parse(argc, argv);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  if (flags->positional().size() != 1) return Usage("name one benchmark, or all");
  const std::string which = flags->positional()[0];
  const std::string size = flags->Get("size", "full");
  if (size != "tiny" && size != "full") return Usage("--size must be tiny or full");
  auto durable = flags->GetBool("durable", true);
  auto keep = flags->GetBool("keep", false);
  if (!durable.ok()) return Usage(std::string(durable.status().message()));
  if (!keep.ok()) return Usage(std::string(keep.status().message()));

  BenchResults results;
  BenchContext ctx;
  ctx.flags = &*flags;
  ctx.results = &results;
  ctx.tiny = size == "tiny";
  ctx.durable = *durable;
  ctx.binaries.quote_api = flags->Get("quote-api", QUOTEFLOW_QUOTE_API_BIN);
  ctx.binaries.outbox_relay = flags->Get("outbox-relay", QUOTEFLOW_RELAY_BIN);
  ctx.binaries.policy_worker = flags->Get("policy-worker", QUOTEFLOW_POLICY_WORKER_BIN);
  ctx.binaries.customer_worker = flags->Get("customer-worker", QUOTEFLOW_CUSTOMER_WORKER_BIN);
  ctx.binaries.quote_worker = flags->Get("quote-worker", QUOTEFLOW_QUOTE_WORKER_BIN);
  ctx.binaries.saga_orchestrator = flags->Get("saga-orchestrator", QUOTEFLOW_SAGA_ORCHESTRATOR_BIN);
  ctx.binaries.pgbench = flags->Get("pgbench", ctx.binaries.pgbench);

  bool any = false;
  int failures = 0;
  for (const Entry& e : kBenchmarks) {
    if (which != "all" && which != e.name) continue;
    any = true;
    char tmpl[] = "/tmp/quoteflow-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    ctx.work_dir = tmpl;
    const absl::Time start = absl::Now();
    absl::Status s = e.run(ctx);
    std::printf("  (%s took %.1fs)\n", e.name, absl::ToDoubleSeconds(absl::Now() - start));
    if (!s.ok()) {
      ++failures;
      std::printf("BENCH-ERROR %s: %s\n  logs kept in %s\n", e.name, s.ToString().c_str(),
                  ctx.work_dir.c_str());
    } else if (!*keep) {
      std::error_code ec;
      std::filesystem::remove_all(ctx.work_dir, ec);
    } else {
      std::printf("  logs in %s\n", ctx.work_dir.c_str());
    }
    std::fflush(stdout);
  }
  if (!any) return Usage(absl::StrCat("no benchmark named '", which, "'"));
  return failures == 0 ? 0 : 1;
}
