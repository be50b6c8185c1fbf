// (f) Debezium side by side with outbox-relay, in one run on the same Postgres (wal_level=logical)
// and the same broker. Three publishers of quote.outbox take turns, one at a time:
//   ours:      the outbox-relay binary (woken by the writers' doorbell, as quote-api rings it);
//   connect:   Kafka Connect standalone (ConnectStandalone) running Debezium 3.6.1.Final's Postgres
//              connector (pgoutput) with the Outbox Event Router SMT;
//   embedded:  debezium-embedded with the same connector and SMT, forwarding through a
//              KafkaProducer with enable.idempotence=true, acks=all (tests/bench/peers).
// Each is measured with the same writer load: (1) drain: N rows inserted as fast as Postgres takes
// them (one connection, --peer-batch rows per transaction), timed from the first insert until the
// last event was consumed from Kafka; (2) a paced rate (--peer-rate rows/s, one row per
// transaction): commit -> consumed p50/p99 (commit = the writer's COMMIT returned; consumed = a
// consumer with fetch.wait.max.ms=1 assigned every partition received it). Events are matched by
// the eventID inside the record value, which all three publish unchanged (the payload column).
// The Debezium peers are tuned for latency as the relay is: poll.interval.ms=--debezium-poll-ms.
// Before its measured phases each publisher runs the same load unmeasured (--peer-warmup, below).
// Their jars come from scripts/install-deps.sh (tests/bench/peers/build.sh) in --debezium-dir.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "platform/kafka/kafka_config.h"
#include "platform/postgres/outbox_doorbell.h"
#include "tests/bench/benchmarks.h"

namespace quoteflow::bench {
namespace {

constexpr int kPartitions = 12;
constexpr char kOurTopic[] = "quotes";
constexpr char kConnectTopic[] = "dbz-connect.quote";
constexpr char kEmbeddedTopic[] = "dbz-embedded.quote";

// Consumes the given topics from the beginning and notes when each event (by the eventID in the
// value, "ev-<run>-<n>") first arrived, and how many of each run arrived.
class EventArrivals {
 public:
  absl::Status Start(const std::string& bootstrap, const std::vector<std::string>& topics) {
    absl::StatusOr<kafka::HandlePtr> rk =
        ConsumerFromBeginning(bootstrap, "quoteflow-bench-debezium", topics, kPartitions);
    if (!rk.ok()) return rk.status();
    rk_ = *std::move(rk);
    thread_ = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  ~EventArrivals() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (rk_ != nullptr) rd_kafka_consumer_close(rk_.get());
  }

  int64_t Count(const std::string& run) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = counts_.find(run);
    return it == counts_.end() ? 0 : it->second;
  }
  std::optional<absl::Time> Arrival(const std::string& id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = events_.find(id);
    if (it == events_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void Loop() {
    static constexpr absl::string_view kField = "\"eventID\":\"";
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 50);
      if (m == nullptr) continue;
      const absl::Time now = absl::Now();
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->payload != nullptr) {
        absl::string_view value(static_cast<const char*>(m->payload), m->len);
        size_t at = value.find(kField);
        if (at != absl::string_view::npos) {
          value.remove_prefix(at + kField.size());
          const std::string id(value.substr(0, value.find('"')));
          const size_t dash = id.rfind('-');
          if (id.size() > 3 && dash != std::string::npos && dash > 3) {
            std::lock_guard<std::mutex> l(mu_);
            if (events_.emplace(id, now).second) ++counts_[id.substr(3, dash - 3)];
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
  std::map<std::string, int64_t> counts_;
};

// The INSERT of rows ev-<run>-<from+1> .. ev-<run>-<from+n>, shaped like quote-api's (bench_relay's
// PrefillOutbox).
std::string InsertSql(const std::string& run, int64_t from, int64_t n) {
  return absl::StrCat(
      "INSERT INTO quote.outbox (event_id, event_type, aggregate_type, aggregate_id,"
      " aggregate_version, quote_id, topic, payload, source, traceparent, occurred_at)"
      " SELECT 'ev-",
      run, "-' || g, 'QuoteApproved', 'quote', 'q-", run, "-' || g, 2, 'q-", run,
      "-' || g, NULL, '{\"eventID\":\"ev-", run,
      "-' || g || '\",\"eventType\":\"QuoteApproved\",\"quoteID\":\"q-", run,
      "-' || g || '\",\"aggregateID\":\"q-", run,
      "-' || g || '\",\"aggregateVersion\":2,\"occurredAt\":\"2024-05-01T12:00:00.000000Z\","
      "\"data\":{\"customerId\":\"cust-456\",\"premium\":\"1200\"}}',"
      " '/quoteflow/quote-api', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',"
      " now() FROM generate_series(",
      from + 1, ", ", from + n, ") g");
}

// Inserts `n` rows of `run`, `batch` per transaction, ringing the writers' doorbell after each
// commit as quote-api does (PgOutboxDoorbell: a coalesced NOTIFY on the relay's channel from its
// own connection; the Debezium peers do not listen). With `rate` > 0 the transactions are paced at
// `rate` per second and each commit's time is noted in `committed` (event id -> time the COMMIT
// returned).
absl::Status WriteRows(const std::string& url, const std::string& run, int64_t n, int64_t batch,
                       double rate, std::vector<std::pair<std::string, absl::Time>>* committed) {
  try {
    pqxx::connection c(url);
    PgOutboxDoorbell doorbell({.database_url = url, .schema = "quote"});
    const absl::Time start = absl::Now();
    int64_t tx_index = 0;
    for (int64_t done = 0; done < n; done += batch, ++tx_index) {
      if (rate > 0) {
        const absl::Time due = start + absl::Seconds(tx_index / rate);
        if (due > absl::Now()) absl::SleepFor(due - absl::Now());
      }
      const int64_t k = std::min(batch, n - done);
      {
        pqxx::work tx(c);
        tx.exec0(InsertSql(run, done, k));
        tx.commit();
      }
      const absl::Time at = absl::Now();
      doorbell.Ring();
      if (committed != nullptr) {
        for (int64_t i = done + 1; i <= done + k; ++i) {
          committed->emplace_back(absl::StrCat("ev-", run, "-", i), at);
        }
      }
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("writer: ", e.what()));
  }
}

absl::Status WaitArrived(EventArrivals& arrivals, const std::string& run, int64_t n,
                         absl::Duration timeout, const std::string& who, BenchSystem& sys) {
  for (const absl::Time until = absl::Now() + timeout; arrivals.Count(run) < n;) {
    if (absl::Now() > until) {
      return absl::DeadlineExceededError(absl::StrCat(who, ": ", arrivals.Count(run), " of ", n,
                                                      " events of run ", run, " on Kafka\n",
                                                      sys.LogTail(who)));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::OkStatus();
}

struct PeerFigures {
  double drain_rows_per_s = 0;
  double drain_seconds = 0;
  double insert_seconds = 0;
  LatencyHistogram latency;
  int64_t missing = 0;
};

struct Sizes {
  int64_t rows = 0;
  int64_t batch = 0;
  double rate = 0;
  absl::Duration duration;
};

// Runs the two phases against whichever publisher is running now; `name` prefixes the run ids.
absl::StatusOr<PeerFigures> MeasurePublisher(BenchSystem& sys, EventArrivals& arrivals,
                                             const std::string& name, const Sizes& sizes) {
  PeerFigures f;
  const std::string drain_run = name + "drain";
  const absl::Time start = absl::Now();
  if (absl::Status s =
          WriteRows(sys.database_url(), drain_run, sizes.rows, sizes.batch, 0, nullptr);
      !s.ok()) {
    return s;
  }
  f.insert_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (absl::Status s = WaitArrived(arrivals, drain_run, sizes.rows, absl::Minutes(10), name, sys);
      !s.ok()) {
    return s;
  }
  f.drain_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  f.drain_rows_per_s = sizes.rows / std::max(1e-9, f.drain_seconds);

  const std::string paced_run = name + "paced";
  std::vector<std::pair<std::string, absl::Time>> committed;
  const int64_t n = std::max<int64_t>(1, sizes.rate * absl::ToDoubleSeconds(sizes.duration));
  if (absl::Status s = WriteRows(sys.database_url(), paced_run, n, 1, sizes.rate, &committed);
      !s.ok()) {
    return s;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (const auto& [id, at] : committed) {
    std::optional<absl::Time> arrived;
    while (!(arrived = arrivals.Arrival(id)).has_value() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (!arrived.has_value()) {
      ++f.missing;
      continue;
    }
    f.latency.Record(std::max(absl::ZeroDuration(), *arrived - at));
  }
  return f;
}

// The running publisher under the same load, unmeasured: `warm`'s drain, then its paced rate for
// its duration (none when zero). A fresh broker's JIT compiler takes about a minute of load to
// settle (docs/performance.md, "The broker's first minute"), as does a fresh JVM peer's: without
// this the publisher measured first would pay for the broker's and the JVM peers for their own,
// measured against publishers already past theirs.
absl::Status WarmUp(BenchSystem& sys, EventArrivals& arrivals, const std::string& name,
                    const Sizes& warm) {
  if (warm.duration <= absl::ZeroDuration()) return absl::OkStatus();
  return MeasurePublisher(sys, arrivals, name + "-warm-", warm).status();
}

// Inserts one warm-up row per second until one reaches Kafka: the peer streams from its slot.
absl::Status WaitStreaming(BenchSystem& sys, EventArrivals& arrivals, const std::string& name,
                           absl::Duration timeout) {
  const std::string run = name + "warmup";
  const absl::Time until = absl::Now() + timeout;
  for (int64_t i = 0; arrivals.Count(run) == 0; ++i) {
    if (absl::Now() > until) {
      return absl::DeadlineExceededError(absl::StrCat(name, " published nothing within ",
                                                      absl::FormatDuration(timeout), "\n",
                                                      sys.LogTail(name)));
    }
    if (absl::Status s = sys.Sql(InsertSql(run, i, 1)).status(); !s.ok()) return s;
    for (const absl::Time next = absl::Now() + absl::Seconds(1);
         absl::Now() < next && arrivals.Count(run) == 0;) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// The Debezium connector's settings shared by both ways of running it: our column names for the
// Outbox Event Router, routed by aggregate_type to "<prefix>.<aggregate_type>".
std::string ConnectorProperties(BenchSystem& sys, const std::string& prefix,
                                const std::string& slot, int64_t poll_ms) {
  return absl::StrCat(
      "connector.class=io.debezium.connector.postgresql.PostgresConnector\n"
      "tasks.max=1\n"
      "plugin.name=pgoutput\n"
      "database.hostname=127.0.0.1\n"
      "database.port=",
      sys.postgres()->port(),
      "\n"
      "database.user=quoteflow\n"
      "database.password=\n"
      "database.dbname=quoteflow\n"
      "topic.prefix=",
      prefix,
      "\n"
      "slot.name=",
      slot,
      "\n"
      "publication.name=dbz_outbox\n"
      "publication.autocreate.mode=filtered\n"
      "table.include.list=quote.outbox\n"
      "snapshot.mode=no_data\n"
      "tombstones.on.delete=false\n"
      "poll.interval.ms=",
      poll_ms,
      "\n"
      "transforms=outbox\n"
      "transforms.outbox.type=io.debezium.transforms.outbox.EventRouter\n"
      "transforms.outbox.table.field.event.id=event_id\n"
      "transforms.outbox.table.field.event.key=aggregate_id\n"
      "transforms.outbox.table.field.event.payload=payload\n"
      "transforms.outbox.route.by.field=aggregate_type\n"
      "transforms.outbox.route.topic.replacement=",
      prefix, ".${routedByValue}\n");
}

constexpr char kLog4j2[] =
    "status=error\n"
    "appender.err.type=Console\n"
    "appender.err.name=STDERR\n"
    "appender.err.target=SYSTEM_ERR\n"
    "appender.err.layout.type=PatternLayout\n"
    "appender.err.layout.pattern=%d{HH:mm:ss.SSS} %p %c{1} %m%n\n"
    "rootLogger.level=WARN\n"
    "rootLogger.appenderRef.err.ref=STDERR\n"
    "logger.dbz.name=io.debezium\n"
    "logger.dbz.level=INFO\n"
    // The effective settings of the peers' producers (and worker, connector), as outbox-relay
    // logs its own: "ProducerConfig values: ..." in connect.log and embedded.log.
    "logger.config.name=org.apache.kafka.common.config.AbstractConfig\n"
    "logger.config.level=INFO\n";

std::string DefaultDebeziumDir() {
  if (const char* d = std::getenv("QUOTEFLOW_CACHE_DIR"); d != nullptr && *d != '\0') {
    return absl::StrCat(d, "/debezium");
  }
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d != nullptr && *d != '\0') {
    return absl::StrCat(d, "/quoteflow/debezium");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home == nullptr ? "" : home, "/.cache/quoteflow/debezium");
}

absl::Status DropSlot(BenchSystem& sys, const std::string& slot) {
  // The slot turns inactive shortly after its walsender's client is gone.
  absl::Status last;
  for (const absl::Time until = absl::Now() + absl::Seconds(20); absl::Now() < until;) {
    last = sys.Sql(absl::StrCat("SELECT pg_drop_replication_slot(slot_name) FROM "
                                "pg_replication_slots WHERE slot_name = '",
                                slot, "'"))
               .status();
    if (last.ok()) return last;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return last;
}

// The phases run one after the other, so what else runs on the machine may differ between them:
// each line ends with the load average at its end.
std::string Line(const PeerFigures& f, int64_t rows) {
  return absl::StrFormat(
      "drain %d rows: %.0f rows/s (%.2f s to the last event on Kafka; inserts took %.2f s); "
      "commit -> consumed p50 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d, missing %d); %s",
      rows, f.drain_rows_per_s, f.drain_seconds, f.insert_seconds, f.latency.PercentileMs(0.5),
      f.latency.PercentileMs(0.99), f.latency.MaxMs(), f.latency.count(), f.missing, MachineLoad());
}

}  // namespace

absl::Status RunDebeziumBenchmark(const BenchContext& ctx) {
  auto rows = ctx.flags->GetInt("peer-rows", ctx.tiny ? 2000 : 100000);
  auto batch = ctx.flags->GetInt("peer-batch", 1000);
  auto rate = ctx.flags->GetDouble("peer-rate", ctx.tiny ? 50 : 200);
  auto duration =
      ctx.flags->GetDuration("peer-duration", ctx.tiny ? absl::Seconds(2) : absl::Seconds(15));
  auto poll_ms = ctx.flags->GetInt("debezium-poll-ms", 10);
  auto warmup =
      ctx.flags->GetDuration("peer-warmup", ctx.tiny ? absl::Seconds(1) : absl::Seconds(30));
  for (const absl::Status& s : {rows.status(), batch.status(), rate.status(), duration.status(),
                                poll_ms.status(), warmup.status()}) {
    if (!s.ok()) return s;
  }
  if (*rows < 1 || *batch < 1 || *rate <= 0 || *poll_ms < 1) {
    return absl::InvalidArgumentError(
        "--peer-rows, --peer-batch, --peer-rate and --debezium-poll-ms must be positive");
  }
  const std::string dir = ctx.flags->Get("debezium-dir", DefaultDebeziumDir());
  const std::string java = ctx.flags->Get("java", "/usr/bin/java");
  if (!std::ifstream(dir + "/peers.jar").good()) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, "/peers.jar is missing: run scripts/install-deps.sh (tests/bench/peers/build.sh)"));
  }
  const std::string classpath = absl::StrCat(dir, "/peers.jar:", dir, "/libs/*");
  const Sizes sizes{*rows, *batch, *rate, *duration};

  Heading(
      absl::StrFormat("debezium: outbox-relay vs Debezium 3.6.1 (Connect standalone, "
                      "embedded) on the same Postgres and broker: drain %d rows, then "
                      "commit -> consumed at %.0f rows/s",
                      *rows, *rate));
  // Each publisher's warm-up: a quarter of the drain's rows, then the paced rate.
  const Sizes warm{std::max<int64_t>(1, *rows / 4), *batch, *rate, *warmup};
  if (warm.duration > absl::ZeroDuration()) {
    Figure("warm-up of each publisher (not measured)",
           absl::StrFormat("drain %d rows, then %.0f rows/s for %s", warm.rows, warm.rate,
                           absl::FormatDuration(warm.duration)));
  }
  BenchSystem sys(ctx.binaries, ctx.work_dir);
  if (absl::Status s = sys.StartPostgres(
          ctx.durable,
          {{"wal_level", "logical"}, {"max_replication_slots", "8"}, {"max_wal_senders", "8"}});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = sys.StartBroker(
          absl::StrCat(kOurTopic, ":12,", kConnectTopic, ":12,", kEmbeddedTopic, ":12"));
      !s.ok()) {
    return s;
  }
  EventArrivals arrivals;
  if (absl::Status s =
          arrivals.Start(sys.bootstrap_servers(), {kOurTopic, kConnectTopic, kEmbeddedTopic});
      !s.ok()) {
    return s;
  }

  // outbox-relay.
  if (absl::Status s = sys.Spawn("ours", sys.binaries().outbox_relay,
                                 {"--database-url=" + sys.database_url(), "--outbox-schema=quote",
                                  "--kafka-bootstrap-servers=" + sys.bootstrap_servers()});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WaitStreaming(sys, arrivals, "ours", absl::Seconds(60)); !s.ok()) return s;
  if (absl::Status s = WarmUp(sys, arrivals, "ours", warm); !s.ok()) return s;
  absl::StatusOr<PeerFigures> ours = MeasurePublisher(sys, arrivals, "ours", sizes);
  if (!ours.ok()) return ours.status();
  if (absl::Status s = sys.StopChild("ours"); !s.ok()) return s;
  Figure("outbox-relay", Line(*ours, *rows));

  const std::string log4j = ctx.work_dir + "/log4j2.properties";
  if (absl::Status s = WriteFile(log4j, kLog4j2); !s.ok()) return s;
  const std::vector<std::string> jvm = {"-Xmx768m", "-Dlog4j2.configurationFile=" + log4j, "-cp",
                                        classpath};

  // Kafka Connect standalone.
  const std::string worker = ctx.work_dir + "/connect-worker.properties";
  const std::string connector = ctx.work_dir + "/connect-debezium.properties";
  if (absl::Status s = WriteFile(
          worker, absl::StrCat("bootstrap.servers=", sys.bootstrap_servers(),
                               "\nkey.converter=org.apache.kafka.connect.storage.StringConverter\n"
                               "value.converter=org.apache.kafka.connect.storage.StringConverter\n"
                               "offset.storage.file.filename=",
                               ctx.work_dir,
                               "/connect.offsets\n"
                               "offset.flush.interval.ms=1000\n"
                               "listeners=http://127.0.0.1:0\n"
                               "producer.enable.idempotence=true\n"
                               "producer.acks=all\n"
                               // Connect's own default is 1 in flight (for producers without
                               // idempotence); the idempotent producer keeps per-partition order
                               // with 5, as librdkafka's and the embedded peer's producers do.
                               "producer.max.in.flight.requests.per.connection=5\n"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFile(
          connector, "name=dbz-outbox-connect\n" +
                         ConnectorProperties(sys, "dbz-connect", "dbz_connect", *poll_ms));
      !s.ok()) {
    return s;
  }
  std::vector<std::string> args = jvm;
  args.insert(args.end(), {"org.apache.kafka.connect.cli.ConnectStandalone", worker, connector});
  if (absl::Status s = sys.Spawn("connect", java, args); !s.ok()) return s;
  if (absl::Status s = WaitStreaming(sys, arrivals, "connect", absl::Seconds(180)); !s.ok()) {
    return s;
  }
  if (absl::Status s = WarmUp(sys, arrivals, "connect", warm); !s.ok()) return s;
  absl::StatusOr<PeerFigures> connect = MeasurePublisher(sys, arrivals, "connect", sizes);
  if (!connect.ok()) return connect.status();
  // A JVM exits 143 on SIGTERM once its shutdown hooks ran: not an error here.
  (void)sys.StopChild("connect");
  if (absl::Status s = DropSlot(sys, "dbz_connect"); !s.ok()) return s;
  Figure("Debezium, Kafka Connect standalone", Line(*connect, *rows));

  // The embedded engine.
  const std::string engine = ctx.work_dir + "/embedded.properties";
  if (absl::Status s = WriteFile(
          engine, absl::StrCat("name=dbz-outbox-embedded\n",
                               ConnectorProperties(sys, "dbz-embedded", "dbz_embedded", *poll_ms),
                               "offset.storage=org.apache.kafka.connect.storage."
                               "FileOffsetBackingStore\n"
                               "offset.storage.file.filename=",
                               ctx.work_dir,
                               "/embedded.offsets\n"
                               "offset.flush.interval.ms=1000\n"
                               "producer.bootstrap.servers=",
                               sys.bootstrap_servers(), "\n"));
      !s.ok()) {
    return s;
  }
  args = jvm;
  args.insert(args.end(), {"dev.quoteflow.peers.DebeziumEmbeddedPeer", engine});
  if (absl::Status s = sys.Spawn("embedded", java, args); !s.ok()) return s;
  if (absl::Status s = WaitStreaming(sys, arrivals, "embedded", absl::Seconds(180)); !s.ok()) {
    return s;
  }
  if (absl::Status s = WarmUp(sys, arrivals, "embedded", warm); !s.ok()) return s;
  absl::StatusOr<PeerFigures> embedded = MeasurePublisher(sys, arrivals, "embedded", sizes);
  if (!embedded.ok()) return embedded.status();
  (void)sys.StopChild("embedded");
  if (absl::Status s = DropSlot(sys, "dbz_embedded"); !s.ok()) return s;
  Figure("Debezium, embedded engine", Line(*embedded, *rows));

  // The paced phase's latency of each publisher, for plot_bench.py's latency-cdf-vs-debezium.png.
  Cdf("peer:outbox-relay", ours->latency);
  Cdf("peer:debezium-connect", connect->latency);
  Cdf("peer:debezium-embedded", embedded->latency);
  auto ratio = [](double a, double b) { return a / std::max(1e-9, b); };
  Ratio("debezium_drain_ours_vs_connect", ratio(ours->drain_rows_per_s, connect->drain_rows_per_s),
        ">=1.0");
  Ratio("debezium_drain_ours_vs_embedded",
        ratio(ours->drain_rows_per_s, embedded->drain_rows_per_s), ">=1.0");
  Ratio("debezium_latency_p99_ours_vs_connect",
        ratio(ours->latency.PercentileMs(0.99), connect->latency.PercentileMs(0.99)), "<=0.5");
  Ratio("debezium_latency_p99_ours_vs_embedded",
        ratio(ours->latency.PercentileMs(0.99), embedded->latency.PercentileMs(0.99)), "<=0.5");
  return absl::OkStatus();
}

}  // namespace quoteflow::bench
