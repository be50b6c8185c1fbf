// End to end, choreography mode: the operators' kit against the whole system (SagaSystem: every
// process with --metrics-address). It runs the commands of docs/runbook.md (each block tagged
// tested=choreography:<name>, read from the file itself) against faults it provokes, and checks
// that they confirm and resolve them:
//
//   1. a healthy run: verify, targets' health, outbox stats and shard owners, Kafka metadata,
//      lag, an aggregate's records and one record by offset, gRPC codes and latency;
//   2. two unpublishable outbox rows (larger than message.max.bytes): listed as parked, one
//      dropped, the other retried once shortened, and published;
//   3. that row's event (a QuoteRejected for a quote that does not exist) dead-lettered by
//      quote-worker: listed with quotectl and kcat; once the quote exists it shows as APPROVED too
//      long in psql and verify (exit 1); the record is redriven, the quote ends REJECTED, and
//      verify exits 0;
//   4. quotes replayed to a stopped policy-worker: every repeat absorbed by its inbox;
//   5. last, every binary's live /metrics names are written to
//      <QUOTEFLOW_SCRAPE_DIR>/choreography.txt for promql_names_test (the alert rules and the
//      dashboard must read only exported metrics), and every choreography block has run.
//
// The tests run in order and share one system (each builds on the state the previous one left).
// It runs on the ctest run's shared Kafka, on this process's own topics and consumer groups
// (Env().topic_prefix() / group_prefix(), which SagaSystem applies too): the runbook's TOPIC,
// DLQ_TOPIC and GROUP get the prefixed names.
#include <grpcpp/grpcpp.h>

#include <functional>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "domain/events.h"
#include "gtest/gtest.h"
#include "platform/postgres/outbox_writer.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/ops/ops_kit_fixture.h"
#include "tests/ops/ops_test_util.h"
#include "tests/support/saga_system.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using ops_testing::BlockResult;
using ops_testing::EnvVars;
using ops_testing::Sample;
using testing::Env;
using testing::WaitFor;

// The system's topics (created with this process's prefix, see main()).
constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1";

// `base` ("quotes", "quotes.dlq") as this process's system names it.
std::string Topic(const std::string& base) { return Env().topic_prefix() + base; }

constexpr char kGhost[] = "q-runbook-ghost";
constexpr char kDropped[] = "q-runbook-drop";
constexpr int kOversized = 2'000'000;  // > librdkafka's message.max.bytes (1,000,000)

class OpsKitE2eTest : public ops_testing::OpsKitTest {
 protected:
  static void SetUpTestSuite() {
    testing::SagaSystemOptions options;
    options.log_prefix = "ops-kit";
    for (const char* relay : {"relay-quote", "relay-policy", "relay-customer"}) {
      options.extra_args[relay].push_back("--stats-interval=1s");  // parked/backlog gauges
    }
    options.extra_args["relay-quote"].push_back("--max-attempts=2");  // park quickly
    // A SIGKILLed policy-worker leaves its group within seconds (the replay needs it gone).
    options.extra_args["policy-worker"].push_back(
        "--kafka-properties=session.timeout.ms=6000,heartbeat.interval.ms=500");
    StartSystem(options);
  }
  // Waits (up to `timeout`) until `series` of `process` satisfies `ok`.
  static absl::Status WaitForSample(const std::string& process, const std::string& series,
                                    const std::function<bool(double)>& ok,
                                    absl::Duration timeout = absl::Seconds(60)) {
    std::string body;
    absl::Status s = WaitFor(
        [&] {
          body = Metrics(process);
          std::optional<double> v = Sample(body, series);
          return v.has_value() && ok(*v);
        },
        timeout, absl::StrCat(process, " ", series));
    if (s.ok()) return s;
    return absl::Status(s.code(), absl::StrCat(s.message(), "\n", body));
  }

  // Runs block `name` until it exits 0 (e.g. a replay refused while a dead member is still in
  // the group), for up to `timeout`; returns the last output.
  static std::string RunBlockUntilOk(const std::string& name, const EnvVars& extra,
                                     absl::Duration timeout) {
    std::string output;
    absl::Status s = WaitFor(
        [&] {
          absl::StatusOr<BlockResult> r = runner_->Run(name, extra);
          output = r.ok() ? r->output : r.status().ToString();
          return r.ok() && r->exit_code == 0;
        },
        timeout, "runbook block " + name + " to exit 0");
    EXPECT_TRUE(s.ok()) << s << "\n" << output << "\n" << system_->Logs();
    return output;
  }

  static absl::Status WaitForQuoteStatus(const std::string& quote_id, const std::string& want) {
    return WaitFor([&] { return QuoteStatus(quote_id) == want; }, absl::Seconds(60),
                   absl::StrCat("quote ", quote_id, " ", want));
  }
  static int64_t Count(const std::string& sql) {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  static std::vector<std::string>* issued_;
};

std::vector<std::string>* OpsKitE2eTest::issued_ = new std::vector<std::string>;

TEST_F(OpsKitE2eTest, HealthySystemPassesTheRunbooksChecks) {
  CreateCustomer("ops-alice", 5);
  issued_->push_back(CreateAndApprove("ops-alice", 1000));
  issued_->push_back(CreateAndApprove("ops-alice", 1001));
  const std::string rejected = CreateAndApprove("ops-alice", 2'000'000);  // above the limit
  for (const std::string& q : *issued_) {
    absl::Status s = WaitForQuoteStatus(q, "ISSUED");
    ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  }
  absl::Status s = WaitForQuoteStatus(rejected, "REJECTED");
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  {  // Two client errors for the gRPC checks: NOT_FOUND and INVALID_ARGUMENT.
    grpc::ClientContext get_ctx;
    v1::GetQuoteRequest get;
    get.set_quote_id("q-ops-does-not-exist");
    v1::Quote quote;
    EXPECT_EQ(system_->quotes().GetQuote(&get_ctx, get, &quote).error_code(),
              grpc::StatusCode::NOT_FOUND);
    grpc::ClientContext create_ctx;
    v1::CreateQuoteRequest bad;
    bad.set_customer_id("ops-alice");
    bad.set_premium(0);
    EXPECT_EQ(system_->quotes().CreateQuote(&create_ctx, bad, &quote).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  EXPECT_TRUE(absl::StrContains(RunBlock("verify"), "verify: 0 inconsistencies"));
  // Each /healthz answers 200 (and the relays / workers become ready).
  std::string out = RunBlock("targets");
  for (const auto& [name, _] : Processes()) {
    EXPECT_TRUE(absl::StrContains(
        out, absl::StrCat("http://127.0.0.1:", MetricsPort(name), " healthz=200")))
        << name << "\n"
        << out;
  }
  const EnvVars quote_outbox = {{"OUTBOX_SCHEMA", "quote"},
                                {"RELAY_METRICS_URL", Url("relay-quote")},
                                {"TOPIC", Topic("quotes")}};
  // The relay takes the shard leases one lease interval after another (one relay: all 64).
  absl::Status leased = WaitForSample("relay-quote", "quoteflow_outbox_shards_held",
                                      [](double v) { return v == 64; });
  EXPECT_TRUE(leased.ok()) << leased;
  out = RunBlock("outbox-stats", quote_outbox);
  EXPECT_TRUE(absl::StrContains(out, "quote.outbox backlog=")) << out;
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_outbox_shards_held 64")) << out;
  out = RunBlock("outbox-oldest-rows", quote_outbox);
  EXPECT_TRUE(absl::StrContains(out, "ops-kit-relay-quote")) << out;  // the shard owner
  out = RunBlock("relay-kafka", quote_outbox);
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_outbox_published_total")) << out;
  EXPECT_TRUE(absl::StrContains(out, "topic \"" + Topic("quotes") + "\"")) << out;  // kcat -L
  // The per-partition lag series appear with the first lag refresh after the assignment (every
  // second, once a partition's high watermark is known).
  const std::string lag_series =
      "quoteflow_consumer_partition_lag_messages{topic=\"" + Topic("quotes") + "\"";
  absl::Status listed =
      WaitFor([&] { return absl::StrContains(Metrics("quote-worker"), lag_series); },
              absl::Seconds(30), "quote-worker's lag series per partition");
  EXPECT_TRUE(listed.ok()) << listed << "\n" << Metrics("quote-worker");
  out = RunBlock("lag-metrics", {{"WORKER_METRICS_URL", Url("quote-worker")}});
  EXPECT_TRUE(absl::StrContains(out, lag_series)) << out;
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_consumer_waiting_on_record 0")) << out;
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_consumer_running 1")) << out;

  // One issued quote's records on "quotes" (key = quote id), then its first record by offset.
  const std::string q = issued_->front();
  out = RunBlock("aggregate-events", {{"TOPIC", Topic("quotes")}, {"AGGREGATE_ID", q}});
  std::vector<std::string> first = absl::StrSplit(out.substr(0, out.find('\n')), ' ');
  ASSERT_GE(first.size(), 3u) << out;
  EXPECT_EQ(first[2], q) << out;
  out = RunBlock("read-record",
                 {{"TOPIC", Topic("quotes")}, {"PARTITION", first[0]}, {"OFFSET", first[1]}});
  EXPECT_TRUE(absl::StrContains(
      out, absl::StrCat("partition ", first[0], " offset ", first[1], " key ", q)))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "ce_type")) << out;
  out = RunBlock("aggregate-outbox", {{"OUTBOX_SCHEMA", "quote"}, {"AGGREGATE_ID", q}});
  EXPECT_TRUE(absl::StrContains(out, "(0 rows)")) << out;  // published, nothing left
  RunBlock("pg-activity");
  out = RunBlock("grpc-codes", {{"GRPC_METRICS_URL", Url("quote-api")}});
  EXPECT_TRUE(absl::StrContains(
      out, "method=\"/quoteflow.v1.QuoteService/GetQuote\",code=\"NOT_FOUND\"} 1"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "code=\"INVALID_ARGUMENT\"")) << out;
  EXPECT_FALSE(absl::StrContains(out, "code=\"OK\"")) << out;
  out = RunBlock("grpc-latency", {{"GRPC_METRICS_URL", Url("quote-api")}});
  EXPECT_TRUE(absl::StrContains(out,
                                "quoteflow_grpc_server_handling_seconds_count{method=\"/"
                                "quoteflow.v1.QuoteService/ApproveQuote\"} 3"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_quote_write_batch_commands_total 3")) << out;
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_quote_write_queue 0")) << out;
  out = RunBlock("approved-quotes");
  EXPECT_TRUE(absl::StrContains(out, "(0 rows)")) << out;
}

TEST_F(OpsKitE2eTest, ParkedRowsAreListedDroppedAndRetried) {
  // Two QuoteRejected rows whose payload is larger than the producer accepts: the relay parks
  // them after --max-attempts=2.
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    for (const char* q : {kGhost, kDropped}) {
      InsertOutboxRow(
          tx, {.schema = "quote", .source = "/quoteflow/ops-kit-e2e"},
          DomainEvent{.event_id = absl::StrCat(q, "-rejected"),
                      .aggregate_id = q,
                      .quote_id = q,
                      .aggregate_version = 3,
                      .occurred_at = absl::Now(),
                      .payload = QuoteRejected{.customer_id = "ops-ghost",
                                               .reason = std::string(kOversized, 'x')}});
    }
    tx.commit();
  }
  auto seq_of = [](const std::string& q) {
    return Count(absl::StrCat("SELECT coalesce(max(seq), -1) FROM quote.outbox WHERE event_id = '",
                              q, "-rejected'"));
  };
  const int64_t ghost_seq = seq_of(kGhost), dropped_seq = seq_of(kDropped);
  ASSERT_GT(ghost_seq, 0);
  ASSERT_GT(dropped_seq, 0);
  absl::Status parked = WaitFor(
      [] {
        return Count(
                   "SELECT count(*) FROM quote.outbox WHERE parked_at IS NOT NULL AND "
                   "event_id LIKE 'q-runbook-%'") == 2;
      },
      absl::Seconds(60), "both rows parked");
  ASSERT_TRUE(parked.ok()) << parked << "\n" << system_->Logs();
  // The gauge the alert reads (QuoteflowOutboxParkedRows) sees them.
  absl::Status gauge =
      WaitForSample("relay-quote", "quoteflow_outbox_parked_rows", [](double v) { return v == 2; });
  EXPECT_TRUE(gauge.ok()) << gauge;

  const EnvVars outbox = {{"OUTBOX_SCHEMA", "quote"}};
  std::string out = RunBlock("parked-list", outbox);
  EXPECT_TRUE(
      absl::StrContains(out, absl::StrCat("\n", ghost_seq, "\tQuoteRejected\tquote/", kGhost)))
      << out;
  EXPECT_TRUE(
      absl::StrContains(out, absl::StrCat("\n", dropped_seq, "\tQuoteRejected\tquote/", kDropped)))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "MSG_SIZE_TOO_LARGE")) << out;
  EXPECT_TRUE(absl::StrContains(out, "2 parked row(s) in quote.outbox")) << out;

  EnvVars dropped = outbox;
  dropped.emplace_back("SEQ", absl::StrCat(dropped_seq));
  out = RunBlock("parked-row", dropped);
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat(kDropped, "-rejected"))) << out;
  EXPECT_TRUE(absl::StrContains(out, "(1 row)")) << out;
  RunBlock("parked-drop", dropped);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM quote.outbox WHERE seq = ", dropped_seq)), 0);

  // The cause fixed (here: the event shortened), the row is retried and published.
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE quote.outbox SET payload = replace(payload, repeat('x', $2), 'shortened') "
        "WHERE seq = $1",
        ghost_seq, kOversized);
    tx.commit();
  }
  EnvVars ghost = outbox;
  ghost.emplace_back("SEQ", absl::StrCat(ghost_seq));
  RunBlock("parked-retry", ghost);
  absl::Status published = WaitFor(
      [&] {
        return Count(absl::StrCat("SELECT count(*) FROM quote.outbox WHERE seq = ", ghost_seq)) ==
               0;
      },
      absl::Seconds(60), "the retried row published");
  EXPECT_TRUE(published.ok()) << published << "\n" << system_->Logs();
  gauge =
      WaitForSample("relay-quote", "quoteflow_outbox_parked_rows", [](double v) { return v == 0; });
  EXPECT_TRUE(gauge.ok()) << gauge;
}

TEST_F(OpsKitE2eTest, DeadLetteredRecordIsListedFixedAndRedriven) {
  // The retried QuoteRejected names a quote that does not exist: quote-worker dead-letters it.
  absl::Status dead = WaitForSample(
      "quote-worker", "quoteflow_consumer_dead_lettered_total", [](double v) { return v >= 1; },
      absl::Seconds(90));
  ASSERT_TRUE(dead.ok()) << dead << "\n" << system_->Logs();

  const EnvVars dlq = {{"DLQ_TOPIC", Topic("quotes.dlq")}};
  std::string out = RunBlock("dlq-list", dlq);
  std::string line;
  for (absl::string_view l : absl::StrSplit(out, '\n')) {
    if (absl::StrContains(l, kGhost) && absl::StrContains(l, "consumer=quote-worker")) {
      line = std::string(l);
    }
  }
  ASSERT_FALSE(line.empty()) << out;
  EXPECT_TRUE(absl::StrContains(line, absl::StrCat("quote ", kGhost, " not found"))) << line;
  // "<prefix>quotes.dlq[P]@O key=..."
  std::string partition, offset;
  {
    absl::string_view rest = line;
    ASSERT_TRUE(absl::ConsumePrefix(&rest, Topic("quotes.dlq") + "[")) << line;
    partition = std::string(rest.substr(0, rest.find(']')));
    rest.remove_prefix(rest.find("]@") + 2);
    offset = std::string(rest.substr(0, rest.find(' ')));
  }
  out = RunBlock("dlq-kcat", dlq);
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("key ", kGhost))) << out;
  EXPECT_TRUE(absl::StrContains(out, "dlq_reason")) << out;

  // The fix: the quote exists (APPROVED ten minutes ago). The runbook's checks now see a quote
  // APPROVED for too long.
  {
    pqxx::connection c(Env().database_url());
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO quote.quotes (quote_id, customer_id, premium, status, version, created_at,"
        " updated_at) VALUES ($1, 'ops-ghost', 100, 'APPROVED', 2, now() - interval '11 minutes',"
        " now() - interval '10 minutes')",
        std::string(kGhost));
    tx.commit();
  }
  out = RunBlock("approved-quotes");
  EXPECT_TRUE(absl::StrContains(out, kGhost)) << out;
  out = RunBlock("verify", {}, /*want=*/1);
  EXPECT_TRUE(absl::StrContains(out, kGhost)) << out;
  EXPECT_TRUE(absl::StrContains(out, "verify: 1 inconsistencies")) << out;

  EnvVars one = dlq;
  one.emplace_back("DLQ_PARTITION", partition);
  one.emplace_back("DLQ_OFFSET", offset);
  out = RunBlock("dlq-redrive-one", one);
  EXPECT_TRUE(absl::StrContains(
      out, absl::StrCat("redriven ", Topic("quotes.dlq"), "[", partition, "]@", offset)))
      << out;
  absl::Status rejected = WaitForQuoteStatus(kGhost, "REJECTED");
  ASSERT_TRUE(rejected.ok()) << rejected << "\n" << system_->Logs();

  // Redriving everything again is harmless: the applied event is an inbox duplicate.
  const double duplicates =
      Sample(Metrics("quote-worker"), "quoteflow_consumer_inbox_duplicates_total").value_or(-1);
  out = RunBlock("dlq-redrive-all", dlq);
  EXPECT_TRUE(absl::StrContains(out, "re-produced to their original topics")) << out;
  absl::Status absorbed = WaitForSample("quote-worker", "quoteflow_consumer_inbox_duplicates_total",
                                        [&](double v) { return v >= duplicates + 1; });
  EXPECT_TRUE(absorbed.ok()) << absorbed;
  EXPECT_EQ(QuoteStatus(kGhost), "REJECTED");
  EXPECT_TRUE(absl::StrContains(RunBlock("verify"), "verify: 0 inconsistencies"));
}

TEST_F(OpsKitE2eTest, ReplayedTopicIsAbsorbedByTheInbox) {
  const int64_t policies = Count("SELECT count(*) FROM policy.policies");
  ASSERT_TRUE(system_->Kill("policy-worker").ok());
  const std::string group = Env().group_prefix() + "policy-worker";
  const EnvVars replay = {{"GROUP", group}, {"TOPIC", Topic("quotes")}};
  // Refused while the killed member is still in the group (until its session times out).
  std::string out = RunBlockUntilOk("replay-dry-run", replay, absl::Seconds(90));
  EXPECT_TRUE(absl::StrContains(out, "dry run: nothing committed")) << out;
  out = RunBlockUntilOk("replay", replay, absl::Seconds(90));
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat(Topic("quotes"), "[0] group ", group, ": ")))
      << out;
  EXPECT_FALSE(absl::StrContains(out, "dry run")) << out;
  absl::Status s = system_->Restart("policy-worker");
  ASSERT_TRUE(s.ok()) << s << "\n" << system_->Logs();
  // The three QuoteApproved it applied before come again and are absorbed by its inbox.
  absl::Status absorbed = WaitForSample(
      "policy-worker", "quoteflow_consumer_inbox_duplicates_total", [](double v) { return v >= 3; },
      absl::Seconds(90));
  EXPECT_TRUE(absorbed.ok()) << absorbed << "\n" << system_->Logs();
  out = RunBlock("inbox-duplicates", {{"WORKER_METRICS_URL", Url("policy-worker")}});
  EXPECT_TRUE(absl::StrContains(out, "quoteflow_consumer_inbox_duplicates_total ")) << out;
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies"), policies);
  EXPECT_TRUE(absl::StrContains(RunBlock("verify"), "verify: 0 inconsistencies"));
}

// Last: what every binary exports, from live scrapes, for promql_names_test.
TEST_F(OpsKitE2eTest, EveryBinarysMetricNamesAreScraped) {
  // The outcome counters are there (quote-worker commits each saga's end in choreography).
  EXPECT_TRUE(absl::StrContains(Metrics("quote-worker"), "quoteflow_saga_outcomes_total"));
  ScrapeMetricNames();
}

TEST_F(OpsKitE2eTest, EveryChoreographyBlockOfTheRunbookRan) { ExpectEveryBlockRan(); }

}  // namespace
}  // namespace quoteflow

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(&argc, argv, {.kafka_topics = quoteflow::kTopics});
  return RUN_ALL_TESTS();
}
