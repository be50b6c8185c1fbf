#include "tests/bench/load_generator.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "platform/observability/grpc_metrics.h"
#include "quoteflow/v1/quote.grpc.pb.h"

namespace quoteflow::bench {

std::string GrpcCodeName(int code) {
  return metrics::StatusCodeName(static_cast<grpc::StatusCode>(code));
}

namespace {

// State shared by every stream of one run.
struct Shared {
  const LoadOptions* options = nullptr;
  grpc::CompletionQueue cq;
  absl::Time start;
  absl::Time stop_issuing = absl::InfiniteFuture();
  std::atomic<int64_t> claimed{0};  // iterations started (count and id modes)
  std::atomic<int> active{0};       // streams not finished
  std::string run_id;               // makes request ids unique per run
};

// One stream: at most one call (or alarm) in flight; its completions are the only thing touching
// it, so it needs no lock even with several completion-queue threads.
class Stream {
 public:
  Stream(Shared* shared, int index, std::unique_ptr<v1::QuoteService::Stub> stub)
      : shared_(shared), index_(index), stub_(std::move(stub)) {
    const LoadOptions& o = *shared_->options;
    if (o.rate > 0) {
      interval_ = absl::Seconds(o.streams / o.rate);
      // Spread the streams over one interval so that they do not start in lockstep.
      next_ = shared_->start + interval_ * index_ / o.streams;
    } else {
      next_ = shared_->start;
    }
  }

  // Starts the next iteration, or finishes the stream.
  void Next() {
    const LoadOptions& o = *shared_->options;
    const absl::Time now = absl::Now();
    if (now >= shared_->stop_issuing) return Finish();
    int64_t n = 0;
    if (o.count > 0 || o.workload == Workload::kApproveExisting) {
      n = shared_->claimed.fetch_add(1);
      if (o.count > 0 && n >= o.count) return Finish();
      if (o.workload == Workload::kApproveExisting && n >= o.id_count) return Finish();
    }
    claimed_index_ = n;
    scheduled_ = o.rate > 0 ? next_ : now;
    if (o.rate > 0) next_ += interval_;
    if (scheduled_ > now) {
      op_ = Op::kAlarm;
      alarm_.Set(&shared_->cq, absl::ToChronoTime(scheduled_), this);
      return;
    }
    StartIteration();
  }

  // Called with each completion of this stream's tag.
  void OnEvent(bool ok) {
    switch (op_) {
      case Op::kAlarm:
        StartIteration();
        return;
      case Op::kCreate: {
        const absl::Time done = absl::Now();
        if (!ok || !status_.ok()) {
          Fail(ok ? status_.error_code() : grpc::StatusCode::CANCELLED, status_.error_message());
          return Next();
        }
        create_latency.Record(done - call_base_);
        ++created;
        StartApprove(create_resp_.quote_id(), done);
        return;
      }
      case Op::kApprove: {
        const absl::Time done = absl::Now();
        if (!ok || !status_.ok()) {
          Fail(ok ? status_.error_code() : grpc::StatusCode::CANCELLED, status_.error_message());
          return Next();
        }
        approve_latency.Record(done - call_base_);
        ++approved;
        if (shared_->options->on_approved)
          shared_->options->on_approved(approve_resp_.event_id(), done);
        return Next();
      }
      case Op::kNone:
        return;
    }
  }

  LatencyHistogram approve_latency;
  LatencyHistogram create_latency;
  int64_t approved = 0;
  int64_t created = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> errors;
  std::string first_error;

 private:
  enum class Op { kNone, kAlarm, kCreate, kApprove };

  void StartIteration() {
    const LoadOptions& o = *shared_->options;
    ++iteration_;
    if (o.workload == Workload::kApproveExisting) {
      StartApprove(absl::StrCat(o.id_prefix, claimed_index_), scheduled_);
      return;
    }
    op_ = Op::kCreate;
    call_base_ = scheduled_;
    NewContext();
    create_req_.set_customer_id(absl::StrCat("bench-cust-", index_ % 50));
    create_req_.set_premium(1000 + iteration_ % 1000);
    create_req_.set_request_id(absl::StrCat(shared_->run_id, "-c", index_, "-", iteration_));
    create_rpc_ = stub_->AsyncCreateQuote(ctx_.get(), create_req_, &shared_->cq);
    create_rpc_->Finish(&create_resp_, &status_, this);
  }

  void StartApprove(const std::string& quote_id, absl::Time base) {
    op_ = Op::kApprove;
    call_base_ = base;
    NewContext();
    approve_req_.set_quote_id(quote_id);
    approve_req_.set_request_id(absl::StrCat(shared_->run_id, "-a", index_, "-", iteration_));
    approve_rpc_ = stub_->AsyncApproveQuote(ctx_.get(), approve_req_, &shared_->cq);
    approve_rpc_->Finish(&approve_resp_, &status_, this);
  }

  void NewContext() {
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx_->set_deadline(absl::ToChronoTime(absl::Now() + shared_->options->call_timeout));
    status_ = grpc::Status();
  }

  void Fail(grpc::StatusCode code, const std::string& message) {
    ++failed;
    ++errors[GrpcCodeName(code)];
    if (first_error.empty()) first_error = absl::StrCat(GrpcCodeName(code), ": ", message);
  }

  void Finish() {
    op_ = Op::kNone;
    if (shared_->active.fetch_sub(1) == 1) shared_->cq.Shutdown();
  }

  Shared* shared_;
  int index_;
  std::unique_ptr<v1::QuoteService::Stub> stub_;
  Op op_ = Op::kNone;
  absl::Duration interval_;
  absl::Time next_;
  absl::Time scheduled_;
  absl::Time call_base_;
  int64_t claimed_index_ = 0;
  int64_t iteration_ = 0;
  grpc::Alarm alarm_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::Status status_;
  v1::CreateQuoteRequest create_req_;
  v1::Quote create_resp_;
  v1::ApproveQuoteRequest approve_req_;
  v1::ApproveQuoteResponse approve_resp_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Quote>> create_rpc_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ApproveQuoteResponse>> approve_rpc_;
};

}  // namespace

absl::StatusOr<LoadResult> LoadGenerator::Run() {
  const LoadOptions& o = options_;
  if (o.streams < 1 || o.channels < 1 || o.threads < 1) {
    return absl::InvalidArgumentError("streams, channels and threads must be at least 1");
  }
  if (o.count <= 0 && o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("give a count or a positive duration");
  }
  if (o.workload == Workload::kApproveExisting && o.id_count <= 0) {
    return absl::InvalidArgumentError("the approve workload needs id_count > 0 prefilled quotes");
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::min(o.channels, o.streams); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("quoteflow.bench.channel", i);  // distinct args: one connection per channel
    channels.push_back(
        grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
    if (!channels.back()->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", o.target));
    }
  }

  Shared shared;
  shared.options = &options_;
  shared.run_id = absl::StrFormat("lg%x-%x", getpid(), absl::ToUnixMicros(absl::Now()));
  shared.start = absl::Now() + absl::Milliseconds(5);
  if (o.count <= 0) shared.stop_issuing = shared.start + o.duration;
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < o.streams; ++i) {
    streams.push_back(std::make_unique<Stream>(
        &shared, i, v1::QuoteService::NewStub(channels[i % channels.size()])));
  }
  shared.active = o.streams;
  for (auto& s : streams) s->Next();

  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&shared] {
      void* tag = nullptr;
      bool ok = false;
      while (shared.cq.Next(&tag, &ok)) static_cast<Stream*>(tag)->OnEvent(ok);
    });
  }
  for (auto& t : threads) t.join();
  const absl::Time end = absl::Now();

  LoadResult r;
  r.seconds = absl::ToDoubleSeconds(end - shared.start);
  for (const auto& s : streams) {
    r.approved += s->approved;
    r.created += s->created;
    r.failed += s->failed;
    r.approve_latency.Merge(s->approve_latency);
    r.create_latency.Merge(s->create_latency);
    for (const auto& [code, n] : s->errors) r.errors[code] += n;
    if (r.first_error.empty()) r.first_error = s->first_error;
  }
  r.approve_per_s = r.seconds > 0 ? static_cast<double>(r.approved) / r.seconds : 0;
  return r;
}

std::string LoadResult::Report() const {
  std::string out =
      absl::StrFormat("approved %d in %.2fs: %.0f approvals/s (created %d, failed %d)\n", approved,
                      seconds, approve_per_s, created, failed);
  absl::StrAppend(&out, "  ApproveQuote latency ", approve_latency.Summary(), "\n");
  if (create_latency.count() > 0) {
    absl::StrAppend(&out, "  CreateQuote  latency ", create_latency.Summary(), "\n");
  }
  if (!errors.empty()) {
    std::vector<std::string> parts;
    for (const auto& [code, n] : errors) parts.push_back(absl::StrCat(code, "=", n));
    absl::StrAppend(&out, "  errors: ", absl::StrJoin(parts, " "), " (first: ", first_error, ")\n");
  }
  return out;
}

std::string LoadResult::ToJson(const LoadOptions& o) const {
  std::vector<std::string> errs;
  for (const auto& [code, n] : errors) errs.push_back(absl::StrFormat("\"%s\":%d", code, n));
  return absl::StrFormat(
      "{\"target\":\"%s\",\"streams\":%d,\"rate\":%.1f,\"workload\":\"%s\",\"seconds\":%.3f,"
      "\"approved\":%d,\"created\":%d,\"failed\":%d,\"approve_per_s\":%.1f,"
      "\"approve_latency\":%s,\"create_latency\":%s,\"errors\":{%s}}",
      o.target, o.streams, o.rate,
      o.workload == Workload::kApproveExisting ? "approve" : "create-approve", seconds, approved,
      created, failed, approve_per_s, approve_latency.ToJson(), create_latency.ToJson(),
      absl::StrJoin(errs, ","));
}

}  // namespace quoteflow::bench
