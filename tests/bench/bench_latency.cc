// (c) Latency from commit to Kafka: quote-api + outbox-relay + the broker; the load generator
// approves quotes at a steady 20% of the maximum rate measured in the same run, and a consumer
// (fetch.wait.max.ms=1, assigned every partition, no group) notes when each event arrives. The
// latency of an event is its arrival minus the moment its ApproveQuote returned OK (the commit had
// happened by then), so it includes the relay and Kafka's whole produce -> fetch path. Measured
// with the writers' doorbell (quote-api's default: a coalesced NOTIFY after commit) and, for
// reference, with 0002's NOTIFY trigger put back and no doorbell (the wake-up before issue 13), in
// alternating phases (--latency-rounds), then without any wake-up (--outbox-notify-interval=0:
// the relay finds rows by its --poll-interval), all at the same rate. The Kafka floor is the same
// produce -> consume path for a plain producer with the relay's settings (but linger.ms=0, as the
// relay's flush sends) at the same rate, in the same run.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "platform/kafka/kafka_config.h"
#include "tests/bench/benchmarks.h"
#include "tests/bench/load_generator.h"

namespace quoteflow::bench {
namespace {

constexpr int kPartitions = 12;

// Reads every partition of the given topics from the beginning and records arrival times: events
// by their ce_id header, floor messages by the send time in their value.
class ArrivalRecorder {
 public:
  absl::Status Start(const std::string& bootstrap, const std::vector<std::string>& topics) {
    absl::StatusOr<kafka::HandlePtr> rk =
        ConsumerFromBeginning(bootstrap, "quoteflow-bench-latency", topics, kPartitions);
    if (!rk.ok()) return rk.status();
    rk_ = *std::move(rk);
    thread_ = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  ~ArrivalRecorder() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (rk_ != nullptr) rd_kafka_consumer_close(rk_.get());
  }

  // Arrival time of the event with this id, if it arrived.
  std::optional<absl::Time> EventArrival(const std::string& id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = events_.find(id);
    if (it == events_.end()) return std::nullopt;
    return it->second;
  }
  LatencyHistogram TakeFloor() {
    std::lock_guard<std::mutex> l(mu_);
    LatencyHistogram h = std::move(floor_);
    floor_ = LatencyHistogram();
    return h;
  }

 private:
  void Loop() {
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 50);
      if (m == nullptr) continue;
      const absl::Time now = absl::Now();
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string topic = rd_kafka_topic_name(m->rkt);
        std::lock_guard<std::mutex> l(mu_);
        if (topic == "bench-floor") {
          int64_t sent_us = 0;
          if (absl::SimpleAtoi(absl::string_view(static_cast<const char*>(m->payload), m->len),
                               &sent_us)) {
            floor_.Record(now - absl::FromUnixMicros(sent_us));
          }
        } else {
          rd_kafka_headers_t* hdrs = nullptr;
          const void* value = nullptr;
          size_t size = 0;
          if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              rd_kafka_header_get_last(hdrs, "ce_id", &value, &size) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR) {
            events_.emplace(std::string(static_cast<const char*>(value), size), now);
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
  }

  kafka::HandlePtr rk_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, absl::Time> events_;
  LatencyHistogram floor_;
};

// Commit -> arrival latencies of the approvals made at `rate` for `duration`.
absl::StatusOr<LatencyHistogram> MeasureAtRate(const std::string& address, double rate,
                                               absl::Duration duration, ArrivalRecorder& arrivals,
                                               int64_t* missing) {
  std::mutex mu;
  std::vector<std::pair<std::string, absl::Time>> committed;
  LoadOptions lo;
  lo.target = address;
  lo.streams = 8;
  lo.rate = rate;
  lo.duration = duration;
  lo.on_approved = [&](const std::string& event_id, absl::Time done) {
    std::lock_guard<std::mutex> l(mu);
    committed.emplace_back(event_id, done);
  };
  absl::StatusOr<LoadResult> r = LoadGenerator(lo).Run();
  if (!r.ok()) return r.status();
  LatencyHistogram h;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  *missing = 0;
  for (const auto& [id, done] : committed) {
    std::optional<absl::Time> at;
    while (!(at = arrivals.EventArrival(id)).has_value() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (!at.has_value()) {
      ++*missing;
      continue;
    }
    h.Record(std::max(absl::ZeroDuration(), *at - done));
  }
  return h;
}

// Sends plain messages (value = send time in µs) at `rate` for `duration` with the relay's
// producer settings, but without lingering: the relay sends each batch at once (it waits for the
// reports with rd_kafka_flush(), which does not wait out linger.ms), so a floor that waited 5 ms
// per message would sit above what the path can do.
absl::Status ProduceFloor(const std::string& bootstrap, double rate, absl::Duration duration) {
  kafka::KafkaSettings settings(bootstrap, {{"linger.ms", "0"}});
  absl::StatusOr<kafka::ConfPtr> conf = settings.Build(kafka::KafkaRole::kProducer);
  if (!conf.ok()) return conf.status();
  absl::StatusOr<kafka::HandlePtr> rk = kafka::NewKafkaHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) return rk.status();
  const absl::Time start = absl::Now();
  const absl::Duration interval = absl::Seconds(1.0 / rate);
  absl::Time next = start;
  for (int64_t i = 0; absl::Now() < start + duration; ++i) {
    while (absl::Now() < next) {
      rd_kafka_poll(rk->get(), 0);
      absl::SleepFor(std::min(next - absl::Now(), absl::Microseconds(200)));
    }
    next += interval;
    const std::string key = absl::StrCat("floor-", i);
    const std::string value = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    rd_kafka_producev(
        rk->get(), RD_KAFKA_V_TOPIC("bench-floor"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
  }
  rd_kafka_flush(rk->get(), 10000);
  return absl::OkStatus();
}

std::string Line(const LatencyHistogram& h) {
  return absl::StrFormat("p50 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)", h.PercentileMs(0.5),
                         h.PercentileMs(0.99), h.MaxMs(), h.count());
}

}  // namespace

absl::Status RunLatencyBenchmark(const BenchContext& ctx) {
  auto duration =
      ctx.flags->GetDuration("latency-duration", ctx.tiny ? absl::Seconds(2) : absl::Seconds(15));
  auto fraction = ctx.flags->GetDouble("latency-fraction", 0.2);
  auto rounds = ctx.flags->GetInt("latency-rounds", ctx.tiny ? 1 : 3);
  for (const absl::Status& s : {duration.status(), fraction.status(), rounds.status()}) {
    if (!s.ok()) return s;
  }
  Heading("latency: commit -> on Kafka at 20% of max rate: doorbell, none, NOTIFY trigger");
  BenchSystem sys(ctx.binaries, ctx.work_dir);
  if (absl::Status s = sys.StartPostgres(ctx.durable); !s.ok()) return s;
  if (absl::Status s = sys.StartBroker("quotes:12,bench-floor:12"); !s.ok()) return s;
  // Two quote-api processes: with the doorbell (the default), and without it
  // (--outbox-notify-interval=0), for the poll-only and trigger phases.
  absl::StatusOr<std::string> with_doorbell = sys.StartQuoteApi();
  if (!with_doorbell.ok()) return with_doorbell.status();
  absl::StatusOr<std::string> without =
      sys.StartQuoteApi({"--outbox-notify-interval=0"}, "quote-api-no-doorbell");
  if (!without.ok()) return without.status();
  if (absl::Status s = sys.Spawn("relay", sys.binaries().outbox_relay,
                                 {"--database-url=" + sys.database_url(), "--outbox-schema=quote",
                                  "--kafka-bootstrap-servers=" + sys.bootstrap_servers()});
      !s.ok()) {
    return s;
  }
  ArrivalRecorder arrivals;
  if (absl::Status s = arrivals.Start(sys.bootstrap_servers(), {"quotes", "bench-floor"});
      !s.ok()) {
    return s;
  }

  LoadOptions probe;
  probe.target = *with_doorbell;
  probe.streams = 16;
  probe.duration = ctx.tiny ? absl::Seconds(1) : absl::Seconds(5);
  absl::StatusOr<LoadResult> max = LoadGenerator(probe).Run();
  if (!max.ok()) return max.status();
  const double rate = std::max(1.0, max->approve_per_s * *fraction);
  Figure("max rate", absl::StrFormat("%.0f approvals/s (CreateQuote + ApproveQuote, 16 streams, "
                                     "relay running); measuring at %.0f/s",
                                     max->approve_per_s, rate));
  absl::SleepFor(absl::Seconds(2));  // let the relay drain the probe's backlog

  // The doorbell against 0002's trigger (the wake-up before issue 13: a NOTIFY inside every
  // writing transaction, quote-api without doorbell), in alternating phases of duration/rounds so
  // that both see the same machine (other processes' load moves within minutes).
  constexpr char kCreateTrigger[] =
      "CREATE FUNCTION quote.bench_outbox_notify() RETURNS trigger LANGUAGE plpgsql "
      "AS $t$ BEGIN PERFORM pg_notify('quote_outbox', ''); RETURN NULL; END $t$; "
      "CREATE TRIGGER bench_outbox_notify AFTER INSERT ON quote.outbox FOR EACH "
      "STATEMENT EXECUTE FUNCTION quote.bench_outbox_notify()";
  constexpr char kDropTrigger[] =
      "DROP TRIGGER bench_outbox_notify ON quote.outbox; DROP FUNCTION quote.bench_outbox_notify()";
  const absl::Duration phase = *duration / std::max<int64_t>(1, *rounds);
  LatencyHistogram doorbell, trigger;
  int64_t missing_doorbell = 0, missing_trigger = 0;
  for (int64_t r = 0; r < *rounds; ++r) {
    for (int i = 0; i < 2; ++i) {
      const bool with_trigger = (r % 2 == 0) == (i == 1);  // doorbell first in even rounds
      if (with_trigger) {
        if (absl::Status s = sys.Sql(kCreateTrigger).status(); !s.ok()) return s;
      }
      int64_t missing = 0;
      absl::StatusOr<LatencyHistogram> h =
          MeasureAtRate(with_trigger ? *without : *with_doorbell, rate, phase, arrivals, &missing);
      if (!h.ok()) return h.status();
      (with_trigger ? trigger : doorbell).Merge(*h);
      (with_trigger ? missing_trigger : missing_doorbell) += missing;
      if (with_trigger) {
        if (absl::Status s = sys.Sql(kDropTrigger).status(); !s.ok()) return s;
      }
    }
  }
  Figure("commit -> consumed, doorbell (NOTIFY after commit)",
         Line(doorbell) + absl::StrCat(", missing ", missing_doorbell));
  Figure("commit -> consumed, NOTIFY trigger (before issue 13, reference)",
         Line(trigger) + absl::StrCat(", missing ", missing_trigger));

  // No wake-up at all: the relay's fallback poll (--poll-interval, 1 s).
  int64_t missing = 0;
  absl::StatusOr<LatencyHistogram> off = MeasureAtRate(*without, rate, phase, arrivals, &missing);
  if (!off.ok()) return off.status();
  Figure("commit -> consumed, no wake-up (poll 1s)",
         Line(*off) + absl::StrCat(", missing ", missing));

  if (absl::Status s = ProduceFloor(sys.bootstrap_servers(), rate, *duration); !s.ok()) return s;
  absl::SleepFor(absl::Seconds(1));
  LatencyHistogram floor = arrivals.TakeFloor();
  Figure("Kafka floor: plain producer -> consumed", Line(floor));
  Figure("machine", MachineLoad());
  Cdf("outbox-relay(doorbell)", doorbell);
  Cdf("outbox-relay(trigger)", trigger);
  Cdf("kafka-floor", floor);
  Ratio("latency_p99_vs_kafka_floor",
        doorbell.PercentileMs(0.99) / std::max(1e-9, floor.PercentileMs(0.99)), "<=2.0");
  Ratio("latency_p99_notify_ms", doorbell.PercentileMs(0.99), "<=10");
  Ratio("latency_p99_doorbell_vs_trigger",
        doorbell.PercentileMs(0.99) / std::max(1e-9, trigger.PercentileMs(0.99)), "<=1.0");
  return absl::OkStatus();
}

}  // namespace quoteflow::bench
