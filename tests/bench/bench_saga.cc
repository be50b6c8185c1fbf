// (e) The whole saga, both modes, with all real processes: quote-api, one outbox-relay per schema,
// policy-, customer- and quote-worker, and in orchestration mode saga-orchestrator and the `saga`
// schema's relay. Each mode runs on its own fresh Postgres and broker (choreography first, then
// orchestration).
// Throughput: approvals flat out (16 streams, as the api benchmark's 16 clients); the time until
// every quote is final gives the sagas/s. In choreography with 1, then 2 instances of every worker
// (one consumer group per worker kind); in orchestration with one instance of each process.
// Latency: quotes created and approved at a steady rate, by default half of choreography's
// flat-out rate (--saga-rate sets it), the same rate in both modes. Approve -> ISSUED is the
// quote's final updated_at (set by quote-worker when it commits ISSUED) minus the approval's
// recorded time, both written by the services' clocks on this machine. Each mode first runs
// unmeasured load (ReachSteadyState, --saga-warmup), and sagas run before each measurement and are
// left out, so that neither the broker's JIT warm-up nor consumer group joins are counted. In
// orchestration mode the benchmark also prints when each saga step was recorded (saga.history),
// which shows where the time goes.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>
#include <pqxx/pqxx>

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

// Waits until no quote is APPROVED (every approved quote reached ISSUED or REJECTED). One
// connection for the whole wait: a new one per poll (20 a second) took a backend start-up each
// from the machine whose saga throughput it times.
absl::StatusOr<absl::Time> WaitAllFinal(BenchSystem& sys, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  try {
    pqxx::connection c(sys.database_url());
    c.prepare("open", "SELECT count(*) FROM quote.quotes WHERE status = 'APPROVED'");
    while (true) {
      int64_t open = 0;
      {
        pqxx::nontransaction tx(c);
        open = tx.exec_prepared1("open")[0].as<int64_t>();
      }
      if (open == 0) return absl::Now();
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(open, " quotes still APPROVED"));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("waiting for the sagas to finish: ", e.what()));
  }
}

// Sagas run before a latency measurement, so that it starts with every consumer group joined and
// assigned (a consumer group's first join takes seconds, which is start-up, not saga latency).
constexpr int kWarmUpSagas = 20;

// Approves kWarmUpSagas quotes, waits until they are final and records the ids of every quote so
// far in public.bench_warmup, which the next measurement leaves out.
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
  return sys
      .Sql(
          "DROP TABLE IF EXISTS public.bench_warmup;"
          " CREATE TABLE public.bench_warmup AS SELECT quote_id FROM quote.quotes")
      .status();
}

// The measured sagas: WarmUp()'s quotes left out (prefix it with the table's alias).
constexpr char kMeasured[] = "quote_id NOT IN (SELECT quote_id FROM public.bench_warmup)";

// Where the measured sagas' approve -> ISSUED time went, hop by hop, from the transaction times
// the database recorded: approve -> policy created (policy-worker), -> counted on the customer
// (customer-worker), -> ISSUED (quote-worker). Each hop is a relay, Kafka and one worker
// transaction (in orchestration, also the orchestrator's round trips). One figure line.
absl::Status PrintSagaHops(BenchSystem& sys, const std::string& label_suffix) {
  absl::StatusOr<std::vector<std::string>> hops = sys.Sql(absl::StrCat(
      "SELECT format('%s p50 %s p99 %s', hop, round(p50::numeric, 1), round(p99::numeric, 1))"
      " FROM (SELECT h.n, h.hop,"
      "         percentile_cont(0.5) WITHIN GROUP (ORDER BY h.secs) * 1000 AS p50,"
      "         percentile_cont(0.99) WITHIN GROUP (ORDER BY h.secs) * 1000 AS p99"
      "       FROM (SELECT hop.*"
      "             FROM quote.requests r JOIN quote.quotes q USING (quote_id)"
      "               JOIN policy.policies p USING (quote_id)"
      "               JOIN customer.policy_counts c USING (quote_id),"
      "             LATERAL (VALUES"
      "               (1, 'approve->policy', extract(epoch from p.created_at - r.updated_at)),"
      "               (2, 'policy->counted', extract(epoch from c.updated_at - p.created_at)),"
      "               (3, 'counted->ISSUED', extract(epoch from q.updated_at - c.updated_at)))"
      "               AS hop(n, hop, secs)"
      "             WHERE r.operation = 'approve' AND q.status = 'ISSUED'"
      "               AND q.", kMeasured, ") h"
      "       GROUP BY h.n, h.hop) s"
      " ORDER BY n"));
  if (!hops.ok()) return hops.status();
  Figure(absl::StrCat("approve -> ISSUED by hop (ms)", label_suffix), absl::StrJoin(*hops, "; "));
  return absl::OkStatus();
}

// Creates and approves quotes through `address` at `rate` for `duration` (8 streams).
absl::StatusOr<LoadResult> RunPaced(const std::string& address, double rate,
                                    absl::Duration duration) {
  LoadOptions lo;
  lo.target = address;
  lo.streams = 8;
  lo.rate = rate;
  lo.duration = duration;
  return LoadGenerator(lo).Run();
}

// After WarmUp(), creates and approves quotes through `address` at `rate` for `duration`, waits
// until every approved quote is final, and prints "approve -> ISSUED<label_suffix>" from the
// database's timestamps (warm-up quotes left out). Returns the approve -> ISSUED latencies.
absl::StatusOr<LatencyHistogram> MeasureApproveToIssued(BenchSystem& sys,
                                                        const std::string& address, double rate,
                                                        absl::Duration duration,
                                                        const std::string& label_suffix) {
  if (absl::Status s = WarmUp(sys, address); !s.ok()) return s;
  absl::StatusOr<LoadResult> r = RunPaced(address, rate, duration);
  if (!r.ok()) return r.status();
  if (absl::StatusOr<absl::Time> s = WaitAllFinal(sys, absl::Minutes(2)); !s.ok())
    return s.status();
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
  if (absl::Status s = PrintSagaHops(sys, label_suffix); !s.ok()) return s;
  return saga;
}

// One flat-out run: how many approvals, how long they took, and how long until every quote was
// final.
struct FlatOut {
  int64_t approved = 0;
  double approve_secs = 0;
  double final_secs = 0;
  double sagas_per_s() const { return approved / std::max(1e-9, final_secs); }
};

// After WarmUp(), `backlog` approvals flat out, timed until every quote is final.
absl::StatusOr<FlatOut> RunFlatOut(BenchSystem& sys, const std::string& address,
                                   int64_t backlog) {
  if (absl::Status s = WarmUp(sys, address); !s.ok()) return s;
  LoadOptions fill;
  fill.target = address;
  fill.streams = 16;
  fill.count = backlog;
  const absl::Time start = absl::Now();
  absl::StatusOr<LoadResult> f = LoadGenerator(fill).Run();
  if (!f.ok()) return f.status();
  absl::StatusOr<absl::Time> done = WaitAllFinal(sys, absl::Minutes(5));
  if (!done.ok()) return done.status();
  return FlatOut{.approved = f->approved,
                 .approve_secs = f->seconds,
                 .final_secs = absl::ToDoubleSeconds(*done - start)};
}

// RunFlatOut, printed as figure `label`; returns the sagas/s.
absl::StatusOr<double> MeasureSagaThroughput(BenchSystem& sys, const std::string& address,
                                             int64_t backlog, const std::string& label) {
  absl::StatusOr<FlatOut> f = RunFlatOut(sys, address, backlog);
  if (!f.ok()) return f.status();
  Figure(label,
         absl::StrFormat("%.0f sagas/s (%d approvals flat out in %.2fs; all final after %.2fs)",
                         f->sagas_per_s(), f->approved, f->approve_secs, f->final_secs));
  return f->sagas_per_s();
}

// Orchestration only: when each step of saga.history was recorded (orchestrator's clock), from the
// approval, p50/p99 over the measured sagas, in the order of the medians; one figure line.
absl::Status PrintOrchestrationSteps(BenchSystem& sys) {
  absl::StatusOr<std::vector<std::string>> steps = sys.Sql(absl::StrCat(
      "SELECT format('%s:%s p50 %s p99 %s', step, outcome, round(p50::numeric, 1),"
      "              round(p99::numeric, 1))"
      " FROM (SELECT h.step, h.outcome,"
      "         percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,"
      "         percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99"
      "       FROM (SELECT h.step, h.outcome,"
      "               extract(epoch from (h.at - r.updated_at)) * 1000 AS ms"
      "             FROM saga.history h JOIN quote.requests r"
      "               ON r.quote_id = h.quote_id AND r.operation = 'approve'"
      "             WHERE h.", kMeasured, ") h"
      "       GROUP BY h.step, h.outcome) s"
      " ORDER BY p50"));
  if (!steps.ok()) return steps.status();
  Figure("orchestration steps after approve (ms)", absl::StrJoin(*steps, "; "));
  return absl::OkStatus();
}

// The figures of one mode.
struct SagaFigures {
  double flat_out = 0;       // sagas/s, one instance of every process
  double flat_out_2 = 0;     // sagas/s, two instances of every worker (choreography only)
  double latency_rate = 0;   // approvals/s of the latency phase
  LatencyHistogram latency;  // approve -> ISSUED at latency_rate
};

// The latency phase's rate: --saga-rate, else half of `flat_out`.
absl::StatusOr<double> LatencyRate(const BenchContext& ctx, double flat_out) {
  absl::StatusOr<double> rate = ctx.flags->GetDouble("saga-rate", 0);
  if (!rate.ok()) return rate.status();
  return *rate > 0 ? *rate : std::max(1.0, flat_out / 2);
}

// Brings a mode's fresh system to its steady state before anything is measured: `backlog`
// approvals flat out, then approvals at `rate` (0: LatencyRate of that flat-out run) for
// --saga-warmup, none of them measured. A fresh broker's JIT compiler works through about the
// first minute of load on the same two cores (its compiler threads took 12 s of CPU in the first
// 55 s of a saga run, then 0.4 s per 6 s): approve -> ISSUED at 160/s had p99 100-116 ms measured
// in that minute and 43-83 ms after it, and a broker in service is past it.
absl::Status ReachSteadyState(const BenchContext& ctx, BenchSystem& sys,
                              const std::string& address, int64_t backlog, double rate) {
  absl::StatusOr<absl::Duration> warmup = ctx.flags->GetDuration(
      "saga-warmup", ctx.tiny ? absl::ZeroDuration() : absl::Seconds(40));
  if (!warmup.ok()) return warmup.status();
  if (*warmup <= absl::ZeroDuration()) return absl::OkStatus();
  absl::StatusOr<FlatOut> flat = RunFlatOut(sys, address, backlog);
  if (!flat.ok()) return flat.status();
  if (rate <= 0) {
    absl::StatusOr<double> own = LatencyRate(ctx, flat->sagas_per_s());
    if (!own.ok()) return own.status();
    rate = *own;
  }
  absl::StatusOr<LoadResult> r = RunPaced(address, rate, *warmup);
  if (!r.ok()) return r.status();
  Figure("warm-up (not measured)",
         absl::StrFormat("%d approvals flat out, then %.0f approvals/s for %s", flat->approved,
                         r->approve_per_s, absl::FormatDuration(*warmup)));
  return WaitAllFinal(sys, absl::Minutes(2)).status();
}

// Choreography: ReachSteadyState, then `backlog` sagas flat out, approve -> ISSUED at the latency
// rate for `duration`, then the consumer scaling (a second instance of every worker, the same
// backlog again). Its own Postgres, broker and processes stop when it returns.
absl::Status RunChoreography(const BenchContext& ctx, absl::Duration duration, int64_t backlog,
                             SagaFigures* out) {
  BenchSystem sys(ctx.binaries, ctx.work_dir);
  std::vector<std::string> workers;
  std::string customers;
  absl::StatusOr<std::string> address =
      StartSagaSystem(sys, ctx, SagaMode::kChoreography, &workers, &customers);
  if (!address.ok()) return address.status();
  if (absl::Status s = ReachSteadyState(ctx, sys, *address, backlog, 0); !s.ok()) return s;
  absl::StatusOr<double> flat =
      MeasureSagaThroughput(sys, *address, backlog, "1 instance(s) per worker");
  if (!flat.ok()) return flat.status();
  out->flat_out = *flat;

  absl::StatusOr<double> rate = LatencyRate(ctx, out->flat_out);
  if (!rate.ok()) return rate.status();
  out->latency_rate = *rate;
  absl::StatusOr<LatencyHistogram> saga =
      MeasureApproveToIssued(sys, *address, *rate, duration, "");
  if (!saga.ok()) return saga.status();
  out->latency = *std::move(saga);

  // A second instance of every worker joins the same consumer groups (a running group
  // rebalances; stopping and restarting members makes the broker's group coordinator stall for
  // tens of seconds); the warm-up of the measurement lets the groups settle on both.
  if (absl::Status s = StartWorkers(sys, SagaMode::kChoreography, 1, "b", &workers, &customers);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<double> flat_2 =
      MeasureSagaThroughput(sys, *address, backlog, "2 instance(s) per worker");
  if (!flat_2.ok()) return flat_2.status();
  out->flat_out_2 = *flat_2;
  (void)StopAll(sys, &workers);
  return absl::OkStatus();
}

// Orchestration on a fresh Postgres and broker (logs in <work_dir>/orchestration), one instance of
// every process: ReachSteadyState, then `backlog` sagas flat out, then approve -> ISSUED at `rate`
// (choreography's; 0 when it did not run: the latency rate of orchestration's own flat out) for
// `duration`, and when each saga step was recorded.
absl::Status RunOrchestration(const BenchContext& ctx, double rate, absl::Duration duration,
                              int64_t backlog, SagaFigures* out) {
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
  if (absl::Status s = ReachSteadyState(ctx, sys, *address, backlog, rate); !s.ok()) return s;
  absl::StatusOr<double> flat =
      MeasureSagaThroughput(sys, *address, backlog, "orchestration, 1 instance of each");
  if (!flat.ok()) return flat.status();
  out->flat_out = *flat;
  if (rate <= 0) {
    absl::StatusOr<double> own = LatencyRate(ctx, out->flat_out);
    if (!own.ok()) return own.status();
    rate = *own;
  }
  out->latency_rate = rate;
  absl::StatusOr<LatencyHistogram> saga =
      MeasureApproveToIssued(sys, *address, rate, duration, " (orchestration)");
  if (!saga.ok()) return saga.status();
  out->latency = *std::move(saga);
  if (absl::Status s = PrintOrchestrationSteps(sys); !s.ok()) return s;
  (void)StopAll(sys, &workers);
  if (out->latency.count() == 0) return absl::InternalError("orchestration mode issued no quote");
  return absl::OkStatus();
}

}  // namespace

absl::Status RunSagaBenchmark(const BenchContext& ctx) {
  auto duration =
      ctx.flags->GetDuration("saga-duration", ctx.tiny ? absl::Seconds(2) : absl::Seconds(15));
  auto backlog = ctx.flags->GetInt("saga-backlog", ctx.tiny ? 100 : 3000);
  if (!duration.ok()) return duration.status();
  if (!backlog.ok()) return backlog.status();
  const std::string modes = ctx.flags->Get("saga-modes", "both");
  if (modes != "both" && modes != "choreography" && modes != "orchestration") {
    return absl::InvalidArgumentError(
        absl::StrCat("--saga-modes: '", modes, "' is not both, choreography or orchestration"));
  }
  const bool choreography = modes != "orchestration";
  const bool orchestration = modes != "choreography";
  Heading(absl::StrCat("saga: flat out and approve -> ISSUED by ",
                       choreography && orchestration ? "choreography and by orchestration"
                       : choreography                ? "choreography"
                                                     : "orchestration",
                       choreography ? ", and workers with 1 vs 2 instances" : ""));
  SagaFigures by_choreography, by_orchestration;
  if (choreography) {
    if (absl::Status s = RunChoreography(ctx, *duration, *backlog, &by_choreography); !s.ok()) {
      return s;
    }
  }
  if (orchestration) {
    // At choreography's latency rate, so that the two p99s compare.
    if (absl::Status s = RunOrchestration(ctx, by_choreography.latency_rate, *duration, *backlog,
                                          &by_orchestration);
        !s.ok()) {
      return s;
    }
  }
  Figure("machine", MachineLoad());
  const double api_tps = ctx.results->api_tps_at_16_clients;
  if (choreography && api_tps > 0) {
    Figure("api (same run, 16 clients, approvals only)", absl::StrFormat("%.0f tps", api_tps));
    Ratio("saga_choreography_flat_out_vs_api", by_choreography.flat_out / api_tps, ">=0.5");
  } else if (choreography) {
    Figure("saga_choreography_flat_out_vs_api", "not judged: the api benchmark did not run first");
  }
  if (choreography) {
    Ratio("saga_approve_to_issued_p99_ms", by_choreography.latency.PercentileMs(0.99), "<=100");
    Ratio("consumer_scale_2_vs_1",
          by_choreography.flat_out_2 / std::max(1e-9, by_choreography.flat_out), ">=1.0");
  }
  if (orchestration) {
    Ratio("saga_orchestration_approve_to_issued_p99_ms",
          by_orchestration.latency.PercentileMs(0.99), "none(report)");
  }
  if (choreography && orchestration) {
    Ratio("saga_orchestration_vs_choreography_flat_out",
          by_orchestration.flat_out / std::max(1e-9, by_choreography.flat_out), ">=0.5");
    Ratio("saga_orchestration_vs_choreography_p99",
          by_orchestration.latency.PercentileMs(0.99) /
              std::max(1e-9, by_choreography.latency.PercentileMs(0.99)),
          "<=2.0");
  }
  return absl::OkStatus();
}

}  // namespace quoteflow::bench
