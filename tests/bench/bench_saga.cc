// (e) The whole saga, both modes, with all real processes: quote-api, one outbox-relay per schema,
// policy-, customer- and quote-worker, and in orchestration mode saga-orchestrator and the `saga`
// schema's relay. Latency: quotes created and approved at a steady rate; approve -> ISSUED is the
// quote's final updated_at (set by quote-worker when it commits ISSUED) minus the approval's
// recorded time, both written by the services' clocks on this machine; a few sagas run first and
// are left out, so that consumer group joins at start-up are not counted. Each mode runs on its
// own fresh Postgres and broker (choreography first, then orchestration) at the same rate and
// duration.
// Throughput: approvals flat out; the time until every quote is final gives the sagas/s. In
// choreography with 1, then 2 instances of every worker (one consumer group per worker kind); in
// orchestration with one instance of each process. In orchestration mode the benchmark also prints
// when each saga step was recorded (saga.history), which shows where the time goes.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "tests/bench/benchmarks.h"
#include "tests/bench/load_generator.h"

namespace quoteflow::bench {
namespace {

// Choreography's event topics, then the orchestration's command and reply topics
// (consumers/orchestrator/saga_topics.h); both modes' brokers get all of them.
constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1,"
    "policy-commands:4,customer-commands:4,quote-commands:4,saga-replies:4,"
    "policy-commands.dlq:1,customer-commands.dlq:1,quote-commands.dlq:1,saga-replies.dlq:1";
constexpr int kCustomers = 50;  // the load generator's customer ids: bench-cust-0..49

enum class SagaMode { kChoreography, kOrchestration };

// The value of the services' --saga-mode.
const char* ModeName(SagaMode mode) {
  return mode == SagaMode::kOrchestration ? "orchestration" : "choreography";
}

// Starts `instances` of policy-, customer- and quote-worker in `mode` (on their default topics of
// that mode), named <kind>-worker-<tag>-<i>, and waits until their gRPC servers serve.
absl::Status StartWorkers(BenchSystem& sys, SagaMode mode, int instances, const std::string& tag,
                          std::vector<std::string>* names, std::string* customer_address) {
  const std::vector<std::string> common = {"--database-url=" + sys.database_url(),
                                           "--kafka-bootstrap-servers=" + sys.bootstrap_servers(),
                                           absl::StrCat("--saga-mode=", ModeName(mode))};
  for (int i = 0; i < instances; ++i) {
    struct W {
      std::string kind;
      std::string path;
      std::vector<std::string> args;
    };
    const int policy_port = process::FreeTcpPort();
    const int customer_port = process::FreeTcpPort();
    std::vector<W> workers = {
        {"policy",
         sys.binaries().policy_worker,
         {absl::StrCat("--grpc-address=127.0.0.1:", policy_port), "--underwriting-limit=1000000"}},
        {"customer",
         sys.binaries().customer_worker,
         {absl::StrCat("--grpc-address=127.0.0.1:", customer_port),
          "--default-max-policies=1000000"}},
        {"quote", sys.binaries().quote_worker, {}}};
    for (W& w : workers) {
      std::vector<std::string> args = common;
      args.insert(args.end(), w.args.begin(), w.args.end());
      const std::string name = absl::StrCat(w.kind, "-worker-", tag, "-", i);
      if (absl::Status s = sys.Spawn(name, w.path, args); !s.ok()) return s;
      names->push_back(name);
    }
    if (i == 0) *customer_address = absl::StrCat("127.0.0.1:", customer_port);
    for (int port : {policy_port, customer_port}) {
      if (absl::Status s = sys.WaitServing(absl::StrCat("127.0.0.1:", port)); !s.ok()) {
        return absl::UnavailableError(absl::StrCat(s.message(), "\n", sys.LogTail(names->front())));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status StopAll(BenchSystem& sys, std::vector<std::string>* names) {
  absl::Status first;
  for (const std::string& n : *names) {
    absl::Status s = sys.StopChild(n);
    if (!s.ok() && first.ok())
      first = absl::InternalError(absl::StrCat(s.message(), "\n", sys.LogTail(n)));
  }
  names->clear();
  return first;
}

absl::Status CreateCustomers(const std::string& address) {
  auto stub = v1::CustomerService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  for (int c = 0; c < kCustomers; ++c) {
    v1::CreateCustomerRequest req;
    req.set_customer_id(absl::StrCat("bench-cust-", c));
    req.set_name(absl::StrCat("Bench customer ", c));
    req.set_max_policies(1000000);
    v1::Customer out;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status s = stub->CreateCustomer(&ctx, req, &out);
    if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      return absl::InternalError(absl::StrCat("CreateCustomer: ", s.error_message()));
    }
  }
  return absl::OkStatus();
}

// Starts the whole system in `mode` on a fresh Postgres and broker: quote-api, a relay per outbox
// schema (and `saga`'s, with saga-orchestrator, in orchestration mode), one instance of every
// worker (names appended to `workers`, tag "a"), and the load generator's customers. Returns
// quote-api's address; `customer_address` is the first customer-worker's.
absl::StatusOr<std::string> StartSagaSystem(BenchSystem& sys, const BenchContext& ctx,
                                            SagaMode mode, std::vector<std::string>* workers,
                                            std::string* customer_address) {
  if (absl::Status s = sys.StartPostgres(ctx.durable); !s.ok()) return s;
  if (absl::Status s = sys.StartBroker(kTopics); !s.ok()) return s;
  absl::StatusOr<std::string> address = sys.StartQuoteApi();
  if (!address.ok()) return address.status();
  std::vector<std::string> schemas = {"quote", "policy", "customer"};
  if (mode == SagaMode::kOrchestration) schemas.push_back("saga");
  for (const std::string& schema : schemas) {
    if (absl::Status s = sys.Spawn(
            absl::StrCat("relay-", schema), sys.binaries().outbox_relay,
            {"--database-url=" + sys.database_url(), absl::StrCat("--outbox-schema=", schema),
             "--kafka-bootstrap-servers=" + sys.bootstrap_servers()});
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = StartWorkers(sys, mode, 1, "a", workers, customer_address); !s.ok()) {
    return s;
  }
  if (mode == SagaMode::kOrchestration) {
    const std::string saga_address = absl::StrCat("127.0.0.1:", process::FreeTcpPort());
    if (absl::Status s = sys.Spawn("saga-orchestrator", sys.binaries().saga_orchestrator,
                                   {"--database-url=" + sys.database_url(),
                                    "--kafka-bootstrap-servers=" + sys.bootstrap_servers(),
                                    "--saga-mode=orchestration", "--grpc-address=" + saga_address});
        !s.ok()) {
      return s;
    }
    workers->push_back("saga-orchestrator");
    if (absl::Status s = sys.WaitServing(saga_address); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat(s.message(), "\n", sys.LogTail("saga-orchestrator")));
    }
  }
  if (absl::Status s = CreateCustomers(*customer_address); !s.ok()) return s;
  return address;
}

// Waits until no quote is APPROVED (every approved quote reached ISSUED or REJECTED).
absl::StatusOr<absl::Time> WaitAllFinal(BenchSystem& sys, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<int64_t> open =
        sys.SqlInt("SELECT count(*) FROM quote.quotes WHERE status = 'APPROVED'");
    if (!open.ok()) return open.status();
    if (*open == 0) return absl::Now();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(*open, " quotes still APPROVED"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// Sagas run before a latency measurement, so that it starts with every consumer group joined and
// assigned (a consumer group's first join takes seconds, which is start-up, not saga latency).
constexpr int kWarmUpSagas = 20;

// Approves kWarmUpSagas quotes, waits until they are final and records their ids in
// public.bench_warmup, which the measurement leaves out.
absl::Status WarmUp(BenchSystem& sys, const std::string& address) {
  LoadOptions warm;
  warm.target = address;
  warm.streams = 4;
  warm.count = kWarmUpSagas;
  absl::StatusOr<LoadResult> w = LoadGenerator(warm).Run();
  if (!w.ok()) return w.status();
  if (w->approved == 0) {
    return absl::UnavailableError(absl::StrCat("warm-up approved nothing: ", w->first_error));
  }
  if (absl::StatusOr<absl::Time> s = WaitAllFinal(sys, absl::Minutes(2)); !s.ok()) {
    return s.status();
  }
  return sys.Sql("CREATE TABLE public.bench_warmup AS SELECT quote_id FROM quote.quotes").status();
}

// After WarmUp(), creates and approves quotes through `address` at `rate` for `duration`, waits
// until every approved quote is final, and prints "approve -> ISSUED<label_suffix>" from the
// database's timestamps (warm-up quotes left out). Returns the approve -> ISSUED latencies.
absl::StatusOr<LatencyHistogram> MeasureApproveToIssued(BenchSystem& sys,
                                                        const std::string& address, double rate,
                                                        absl::Duration duration,
                                                        const std::string& label_suffix) {
  if (absl::Status s = WarmUp(sys, address); !s.ok()) return s;
  LoadOptions lo;
  lo.target = address;
  lo.streams = 8;
  lo.rate = rate;
  lo.duration = duration;
  absl::StatusOr<LoadResult> r = LoadGenerator(lo).Run();
  if (!r.ok()) return r.status();
  if (absl::StatusOr<absl::Time> s = WaitAllFinal(sys, absl::Minutes(2)); !s.ok())
    return s.status();
  constexpr char kMeasured[] = "quote_id NOT IN (SELECT quote_id FROM public.bench_warmup)";
  absl::StatusOr<std::vector<std::string>> us = sys.Sql(
      absl::StrCat("SELECT (extract(epoch from (q.updated_at - r.updated_at)) * 1000000)::bigint"
                   " FROM quote.requests r JOIN quote.quotes q USING (quote_id)"
                   " WHERE r.operation = 'approve' AND q.status = 'ISSUED' AND q.",
                   kMeasured));
  if (!us.ok()) return us.status();
  LatencyHistogram saga;
  for (const std::string& v : *us) saga.RecordNanos(std::stoll(v) * 1000);
  absl::StatusOr<int64_t> rejected = sys.SqlInt(
      absl::StrCat("SELECT count(*) FROM quote.quotes WHERE status = 'REJECTED' AND ", kMeasured));
  if (!rejected.ok()) return rejected.status();
  Figure(absl::StrCat("approve -> ISSUED", label_suffix),
         absl::StrFormat("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d issued, "
                         "%d rejected, at %.0f approvals/s, %d failed calls; after %d warm-up "
                         "sagas)",
                         saga.PercentileMs(0.5), saga.PercentileMs(0.99), saga.MaxMs(),
                         saga.count(), *rejected, r->approve_per_s, r->failed, kWarmUpSagas));
  return saga;
}

// `backlog` approvals flat out; sagas/s = approvals / time until every quote is final. Prints it
// as figure `label`.
absl::StatusOr<double> MeasureSagaThroughput(BenchSystem& sys, const std::string& address,
                                             int64_t backlog, const std::string& label) {
  LoadOptions fill;
  fill.target = address;
  fill.streams = 16;
  fill.count = backlog;
  const absl::Time start = absl::Now();
  absl::StatusOr<LoadResult> f = LoadGenerator(fill).Run();
  if (!f.ok()) return f.status();
  absl::StatusOr<absl::Time> done = WaitAllFinal(sys, absl::Minutes(5));
  if (!done.ok()) return done.status();
  const double secs = absl::ToDoubleSeconds(*done - start);
  const double rate = f->approved / secs;
  Figure(label,
         absl::StrFormat("%.0f sagas/s (%d approvals flat out in %.2fs; all final after %.2fs)",
                         rate, f->approved, f->seconds, secs));
  return rate;
}

// Orchestration only: when each step of saga.history was recorded (orchestrator's clock), from the
// approval, p50/p99 over the measured sagas, in the order of the medians; one figure line.
absl::Status PrintOrchestrationSteps(BenchSystem& sys) {
  absl::StatusOr<std::vector<std::string>> steps = sys.Sql(
      "SELECT format('%s:%s p50 %s p99 %s', step, outcome, round(p50::numeric, 1),"
      "              round(p99::numeric, 1))"
      " FROM (SELECT h.step, h.outcome,"
      "         percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,"
      "         percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99"
      "       FROM (SELECT h.step, h.outcome,"
      "               extract(epoch from (h.at - r.updated_at)) * 1000 AS ms"
      "             FROM saga.history h JOIN quote.requests r"
      "               ON r.quote_id = h.quote_id AND r.operation = 'approve'"
      "             WHERE h.quote_id NOT IN (SELECT quote_id FROM public.bench_warmup)) h"
      "       GROUP BY h.step, h.outcome) s"
      " ORDER BY p50");
  if (!steps.ok()) return steps.status();
  Figure("orchestration steps after approve (ms)", absl::StrJoin(*steps, "; "));
  return absl::OkStatus();
}

// Choreography: approve -> ISSUED at `rate` for `duration` into `latency`, then the consumer
// scaling with `backlog` approvals flat out, sagas/s into `rates` (1 and 2 instances). Its own
// Postgres, broker and processes stop when it returns.
absl::Status RunChoreography(const BenchContext& ctx, double rate, absl::Duration duration,
                             int64_t backlog, LatencyHistogram* latency, double rates[2]) {
  BenchSystem sys(ctx.binaries, ctx.work_dir);
  std::vector<std::string> workers;
  std::string customers;
  absl::StatusOr<std::string> address =
      StartSagaSystem(sys, ctx, SagaMode::kChoreography, &workers, &customers);
  if (!address.ok()) return address.status();

  // Latency at a steady rate.
  absl::StatusOr<LatencyHistogram> saga = MeasureApproveToIssued(sys, *address, rate, duration, "");
  if (!saga.ok()) return saga.status();
  *latency = *std::move(saga);

  // Consumer scaling: K approvals flat out while the workers run; sagas/s = K / (time until
  // every quote is final). Then a second instance of every worker joins the same consumer
  // groups (a running group rebalances; stopping and restarting members makes the broker's
  // group coordinator stall for tens of seconds) and the same load runs again.
  for (int instances : {1, 2}) {
    if (instances == 2) {
      if (absl::Status s = StartWorkers(sys, SagaMode::kChoreography, 1, "b", &workers, &customers);
          !s.ok()) {
        return s;
      }
      // Let the groups rebalance onto both instances: a few sagas must complete first.
      LoadOptions warm;
      warm.target = *address;
      warm.streams = 4;
      warm.count = 40;
      if (absl::StatusOr<LoadResult> w = LoadGenerator(warm).Run(); !w.ok()) return w.status();
      // Generous: a group coordinator has been seen to stall for ~130 s here (on the mock broker).
      if (absl::StatusOr<absl::Time> s = WaitAllFinal(sys, absl::Minutes(5)); !s.ok()) {
        return s.status();
      }
    }
    absl::StatusOr<double> r = MeasureSagaThroughput(
        sys, *address, backlog, absl::StrCat(instances, " instance(s) per worker"));
    if (!r.ok()) return r.status();
    rates[instances - 1] = *r;
  }
  (void)StopAll(sys, &workers);
  return absl::OkStatus();
}

// Orchestration: approve -> ISSUED at `rate` for `duration` into `latency`, on a fresh Postgres and
// broker (logs in <work_dir>/orchestration), when each saga step was recorded, and the saga
// throughput with `backlog` approvals flat out (one instance of every process).
absl::Status RunOrchestration(const BenchContext& ctx, double rate, absl::Duration duration,
                              int64_t backlog, LatencyHistogram* latency) {
  const std::string orchestration_dir = ctx.work_dir + "/orchestration";
  std::error_code ec;
  std::filesystem::create_directories(orchestration_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(orchestration_dir, ": ", ec.message()));
  BenchSystem sys(ctx.binaries, orchestration_dir);
  std::vector<std::string> workers;
  std::string customers;
  absl::StatusOr<std::string> address =
      StartSagaSystem(sys, ctx, SagaMode::kOrchestration, &workers, &customers);
  if (!address.ok()) return address.status();
  absl::StatusOr<LatencyHistogram> saga =
      MeasureApproveToIssued(sys, *address, rate, duration, " (orchestration)");
  if (!saga.ok()) return saga.status();
  *latency = *std::move(saga);
  if (absl::Status s = PrintOrchestrationSteps(sys); !s.ok()) return s;
  // Throughput with one instance of everything, as choreography's first scaling step measures it.
  if (absl::StatusOr<double> r =
          MeasureSagaThroughput(sys, *address, backlog, "orchestration, 1 instance of each");
      !r.ok()) {
    return r.status();
  }
  (void)StopAll(sys, &workers);
  if (latency->count() == 0) return absl::InternalError("orchestration mode issued no quote");
  return absl::OkStatus();
}

}  // namespace

absl::Status RunSagaBenchmark(const BenchContext& ctx) {
  auto rate = ctx.flags->GetDouble("saga-rate", ctx.tiny ? 20 : 100);
  auto duration =
      ctx.flags->GetDuration("saga-duration", ctx.tiny ? absl::Seconds(2) : absl::Seconds(15));
  auto backlog = ctx.flags->GetInt("saga-backlog", ctx.tiny ? 100 : 3000);
  if (!rate.ok()) return rate.status();
  if (!duration.ok()) return duration.status();
  if (!backlog.ok()) return backlog.status();
  const std::string modes = ctx.flags->Get("saga-modes", "both");
  if (modes != "both" && modes != "choreography" && modes != "orchestration") {
    return absl::InvalidArgumentError(
        absl::StrCat("--saga-modes: '", modes, "' is not both, choreography or orchestration"));
  }
  const bool choreography = modes != "orchestration";
  const bool orchestration = modes != "choreography";
  Heading(absl::StrCat("saga: approve -> ISSUED by ",
                       choreography && orchestration ? "choreography and by orchestration"
                       : choreography                ? "choreography"
                                                     : "orchestration",
                       choreography ? ", and workers with 1 vs 2 instances" : ""));
  LatencyHistogram by_choreography, by_orchestration;
  double rates[2] = {0, 0};
  if (choreography) {
    if (absl::Status s = RunChoreography(ctx, *rate, *duration, *backlog, &by_choreography, rates);
        !s.ok()) {
      return s;
    }
  }
  if (orchestration) {
    if (absl::Status s = RunOrchestration(ctx, *rate, *duration, *backlog, &by_orchestration);
        !s.ok()) {
      return s;
    }
  }
  Figure("machine", MachineLoad());
  if (choreography) {
    Ratio("saga_approve_to_issued_p99_ms", by_choreography.PercentileMs(0.99), "none(report)");
  }
  if (orchestration) {
    Ratio("saga_orchestration_approve_to_issued_p99_ms", by_orchestration.PercentileMs(0.99),
          "none(report)");
  }
  if (choreography) {
    Ratio("consumer_scale_2_vs_1", rates[1] / std::max(1e-9, rates[0]), ">=1.0");
  }
  return absl::OkStatus();
}

}  // namespace quoteflow::bench
