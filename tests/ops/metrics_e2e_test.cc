// End to end: the whole system (SagaSystem: quote-api, three relays, three workers as real
// processes) with --metrics-address on every process. After five quotes are created and approved
// (three issued, two rejected by underwriting; and one bad request refused), each process's
// /metrics shows the counts that run produced, quote-worker the saga outcomes and their
// approve-to-final latency, every worker a lag series per assigned partition drained to 0,
// /healthz and /readyz answer, and `quotectl verify` finds the saga state consistent. Replayed
// events (inbox duplicates) do not count as outcomes again, and a record held by a locked quote
// shows as lag on its partition until it is applied. A malformed
// --metrics-address is refused at start (exit 2) and a taken port fails the start (exit 1). Last,
// tracing: with the relays stopped so that outbox rows stay visible, one saga's trace id is found
// on the quote's outbox row, then (one relay restarted at a time) on the policy and customer
// outbox rows it caused, and in the traceparent header of its records on the quotes, policies and
// customers topics.
#include <grpcpp/generic/generic_stub.h>
#include <librdkafka/rdkafka.h>

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "tests/ops/ops_test_util.h"
#include "tests/support/saga_fixture.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using ops_testing::HttpGet;
using ops_testing::HttpResponse;
using quoteflow::testing::Env;
using quoteflow::testing::SagaSystem;
using quoteflow::testing::WaitFor;

constexpr char kTopics[] =
    "quotes:4,policies:4,customers:4,quotes.dlq:1,policies.dlq:1,customers.dlq:1";
constexpr char kApprove[] = "/quoteflow.v1.QuoteService/ApproveQuote";
constexpr char kCreate[] = "/quoteflow.v1.QuoteService/CreateQuote";

// Every sample of metric `name` with labels: label set ("{a=\"x\"}") -> value.
std::map<std::string, double> LabeledSamples(const std::string& exposition,
                                             const std::string& name) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::ConsumePrefix(&line, name) || !absl::StartsWith(line, "{")) continue;
    const size_t end = line.find("} ");
    double v = 0;
    if (end != absl::string_view::npos && absl::SimpleAtod(line.substr(end + 2), &v)) {
      out[std::string(line.substr(0, end + 1))] = v;
    }
  }
  return out;
}

// `topic` names the system's topic without this test process's prefix (Env().topic_prefix(): the
// run's tests share one Kafka), here and in ReadTopic() and Reproduce().
std::string PartitionSeries(const std::string& topic, int partition) {
  return absl::StrCat("{topic=\"", Env().topic_prefix(), topic, "\",partition=\"", partition,
                      "\"}");
}

// The value of the sample `series` (name plus label set exactly as exposed), if present.
std::optional<double> Sample(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return std::nullopt;
}

struct TopicRecord {
  std::string key;
  std::string value;
  std::string traceparent;  // header
};

// The records of `topic` (4 partitions, read from the beginning) whose value mentions `quote_id`
// and, unless empty, whose ce_type header is `type`.
std::vector<TopicRecord> ReadTopic(const std::string& base_topic, const std::string& quote_id,
                                   const std::string& type = "") {
  const std::string topic = Env().topic_prefix() + base_topic;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", Env().bootstrap_servers().c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", "metrics-e2e-trace-reader", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  EXPECT_NE(rk, nullptr) << err;
  if (rk == nullptr) return {};
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(4);
  for (int p = 0; p < 4; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  std::vector<TopicRecord> records;
  std::set<int> at_eof;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (at_eof.size() < 4 && absl::Now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_eof.insert(m->partition);
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string value(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* headers = nullptr;
      auto header = [&](const char* name) {
        const void* v = nullptr;
        size_t n = 0;
        return headers != nullptr &&
                       rd_kafka_header_get_last(headers, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR
                   ? std::string(static_cast<const char*>(v), n)
                   : std::string();
      };
      rd_kafka_message_headers(m, &headers);
      if (absl::StrContains(value, quote_id) && (type.empty() || header("ce_type") == type)) {
        records.push_back(
            {m->key != nullptr ? std::string(static_cast<const char*>(m->key), m->key_len) : "",
             value, header("traceparent")});
      }
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_EQ(at_eof.size(), 4u) << "did not reach the end of " << topic;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return records;
}

// Produces `record` to `topic` again (a redelivery, as after an offset reset) and waits for its
// delivery.
void Reproduce(const std::string& base_topic, const TopicRecord& record) {
  const std::string topic = Env().topic_prefix() + base_topic;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", Env().bootstrap_servers().c_str(), err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  ASSERT_NE(rk, nullptr) << err;
  rd_kafka_resp_err_t e = rd_kafka_producev(
      rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  EXPECT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
  EXPECT_EQ(rd_kafka_flush(rk, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
}

class MetricsE2eTest : public testing::SagaSystemFixture {
 protected:
  static void SetUpTestSuite() {
    testing::SagaSystemOptions options;
    options.log_prefix = "metrics-e2e";
    for (const char* name : {"quote-api", "relay-quote", "relay-policy", "relay-customer",
                             "policy-worker", "customer-worker", "quote-worker"}) {
      const int port = process::FreeTcpPort();
      (*ports_)[name] = port;
      options.extra_args[name].push_back(absl::StrCat("--metrics-address=127.0.0.1:", port));
    }
    StartSystem(options);
  }
  static void TearDownTestSuite() { StopSystem(); }

  static std::string Metrics(const std::string& process) {
    std::optional<HttpResponse> r = HttpGet(ports_->at(process), "/metrics");
    EXPECT_TRUE(r.has_value() && r->status == 200) << process;
    return r.has_value() ? r->body : "";
  }
  // Waits until `series` of `process` is at least `min`; returns the last exposition.
  static std::string WaitForSample(const std::string& process, const std::string& series,
                                   double min) {
    std::string body;
    absl::Status s = WaitFor(
        [&] {
          body = Metrics(process);
          std::optional<double> v = Sample(body, series);
          return v.has_value() && *v >= min;
        },
        absl::Seconds(60), absl::StrCat(process, " ", series, " >= ", min));
    EXPECT_TRUE(s.ok()) << s << "\n" << body << "\n" << system_->Logs();
    return body;
  }
  // Waits (60 s) until quote-api answers GetQuote(quote_id) with status `want`.
  static absl::Status WaitForQuoteStatus(const std::string& quote_id, v1::QuoteStatus want) {
    return WaitFor(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          v1::GetQuoteRequest req;
          req.set_quote_id(quote_id);
          v1::Quote q;
          return system_->quotes().GetQuote(&ctx, req, &q).ok() && q.status() == want;
        },
        absl::Seconds(60), "quote " + quote_id + " " + v1::QuoteStatus_Name(want));
  }

  static std::map<std::string, int>* ports_;
};

std::map<std::string, int>* MetricsE2eTest::ports_ = new std::map<std::string, int>;

TEST_F(MetricsE2eTest, EveryProcessIsLiveAndReady) {
  for (const auto& [name, port] : *ports_) {
    std::optional<HttpResponse> live = HttpGet(port, "/healthz");
    ASSERT_TRUE(live.has_value()) << name;
    EXPECT_EQ(live->status, 200) << name;
    // A relay is ready once it holds shard leases, a worker once its consumer runs.
    absl::Status ready = WaitFor(
        [&] {
          std::optional<HttpResponse> r = HttpGet(port, "/readyz");
          return r.has_value() && r->status == 200;
        },
        absl::Seconds(60), name + " /readyz");
    EXPECT_TRUE(ready.ok()) << ready << "\n" << system_->Logs();
  }
}

TEST_F(MetricsE2eTest, MetricsShowTheCountsOfTheRun) {
  CreateCustomer("metrics-alice", 5);
  // Three quotes within the underwriting limit (issued) and two above it (rejected).
  constexpr int kIssued = 3, kRejected = 2;
  std::vector<std::string> ids;
  for (int i = 0; i < kIssued + kRejected; ++i) {
    ids.push_back(CreateAndApprove("metrics-alice", i < kIssued ? 1000 + i : 2'000'000 + i));
    ASSERT_FALSE(ids.back().empty());
  }
  {
    grpc::ClientContext ctx;
    v1::CreateQuoteRequest bad;
    bad.set_customer_id("metrics-alice");
    bad.set_premium(0);
    v1::Quote quote;
    EXPECT_EQ(system_->quotes().CreateQuote(&ctx, bad, &quote).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    // Bytes that are not an ApproveQuoteRequest: quote-api's own interceptor answers
    // INVALID_ARGUMENT, and the metrics record that final code, not gRPC's INTERNAL.
    grpc::GenericStub generic(SagaSystem::Channel(system_->quote_port()));
    grpc::ClientContext ctx;
    grpc::CompletionQueue cq;
    grpc::Slice garbage(std::string("\xff\xff\xff\xff"));
    grpc::ByteBuffer request(&garbage, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    auto call = generic.PrepareUnaryCall(&ctx, kApprove, request, &cq);
    call->StartCall();
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    const v1::QuoteStatus want =
        static_cast<int>(i) < kIssued ? v1::QUOTE_STATUS_ISSUED : v1::QUOTE_STATUS_REJECTED;
    absl::Status final_state = WaitForQuoteStatus(ids[i], want);
    ASSERT_TRUE(final_state.ok()) << final_state << "\n" << system_->Logs();
  }

  // quote-api: the interceptor counted each RPC before its status was sent.
  const std::string api = Metrics("quote-api");
  auto handled = [](const char* method, const char* code) {
    return absl::StrCat("quoteflow_grpc_server_handled_total{method=\"", method, "\",code=\"", code,
                        "\"}");
  };
  EXPECT_EQ(Sample(api, handled(kApprove, "OK")), 5) << api;
  EXPECT_EQ(Sample(api, handled(kCreate, "OK")), 5) << api;
  EXPECT_EQ(Sample(api, handled(kCreate, "INVALID_ARGUMENT")), 1) << api;
  EXPECT_EQ(Sample(api, handled(kApprove, "INVALID_ARGUMENT")), 1) << api;
  EXPECT_FALSE(absl::StrContains(api, "code=\"INTERNAL\"")) << api;
  EXPECT_TRUE(absl::StrContains(
      api,
      "quoteflow_grpc_server_handled_total{method=\"/quoteflow.v1.QuoteService/ApproveQuote\","
      "code=\"OK\"} 5\n"))
      << api;
  // The latency histogram has every ApproveQuote: 5 OK and the malformed one.
  EXPECT_EQ(Sample(api, absl::StrCat("quoteflow_grpc_server_handling_seconds_count{method=\"",
                                     kApprove, "\"}")),
            6)
      << api;
  EXPECT_EQ(Sample(api, absl::StrCat("quoteflow_grpc_server_handling_seconds_bucket{method=\"",
                                     kApprove, "\",le=\"+Inf\"}")),
            6)
      << api;
  EXPECT_EQ(
      Sample(api, absl::StrCat("quoteflow_grpc_server_started_total{method=\"", kCreate, "\"}")), 6)
      << api;

  // customer-worker's gRPC side.
  std::string customer = Metrics("customer-worker");
  EXPECT_EQ(Sample(customer, handled("/quoteflow.v1.CustomerService/CreateCustomer", "OK")), 1)
      << customer;

  // The relays published the saga's events; the workers applied them (a worker's counter moves
  // right after its commit, so wait for it rather than assume it).
  for (const char* relay : {"relay-quote", "relay-policy", "relay-customer"}) {
    std::string body = WaitForSample(relay, "quoteflow_outbox_published_total", 3);
    EXPECT_EQ(Sample(body, "quoteflow_outbox_shards_held"), 64) << relay << "\n" << body;
    EXPECT_TRUE(Sample(body, "quoteflow_outbox_parked_rows").has_value()) << body;
    EXPECT_TRUE(Sample(body, "quoteflow_outbox_oldest_unpublished_age_seconds").has_value())
        << body;
  }
  for (const char* worker : {"policy-worker", "customer-worker", "quote-worker"}) {
    std::string body = WaitForSample(worker, "quoteflow_consumer_handled_total", 3);
    EXPECT_EQ(Sample(body, "quoteflow_consumer_dead_lettered_total"), 0) << worker << body;
    EXPECT_EQ(Sample(body, "quoteflow_consumer_running"), 1) << worker << body;
    EXPECT_GE(Sample(body, "quoteflow_consumer_assigned_partitions").value_or(0), 1)
        << worker << body;
    EXPECT_TRUE(Sample(body, "quoteflow_consumer_lag_messages").has_value()) << body;
  }

  // quote-worker committed each saga's end: 3 issued, 2 rejected, each with its approve-to-final
  // latency (counted right after the commit, so wait for it, then check it is exact).
  const std::string issued = "quoteflow_saga_outcomes_total{outcome=\"issued\"}";
  const std::string rejected = "quoteflow_saga_outcomes_total{outcome=\"rejected\"}";
  WaitForSample("quote-worker", issued, kIssued);
  std::string quote_worker = WaitForSample("quote-worker", rejected, kRejected);
  EXPECT_EQ(Sample(quote_worker, issued), kIssued) << quote_worker;
  EXPECT_EQ(Sample(quote_worker, rejected), kRejected) << quote_worker;
  for (const auto& [outcome, n] : {std::pair<std::string, int>{"issued", kIssued},
                                   std::pair<std::string, int>{"rejected", kRejected}}) {
    const std::string labels = absl::StrCat("{outcome=\"", outcome, "\"}");
    EXPECT_EQ(Sample(quote_worker, "quoteflow_saga_approve_to_final_seconds_count" + labels), n)
        << quote_worker;
    EXPECT_EQ(Sample(quote_worker,
                     absl::StrCat("quoteflow_saga_approve_to_final_seconds_bucket{outcome=\"",
                                  outcome, "\",le=\"+Inf\"}")),
              n)
        << quote_worker;
    // Each end came after its approval and within this test's minute.
    const double sum =
        Sample(quote_worker, "quoteflow_saga_approve_to_final_seconds_sum" + labels).value_or(-1);
    EXPECT_GT(sum, 0) << quote_worker;
    EXPECT_LT(sum, 60.0 * n) << quote_worker;
  }
  // Only the process that commits the end exports the outcomes.
  for (const char* other : {"quote-api", "policy-worker", "customer-worker"}) {
    EXPECT_FALSE(absl::StrContains(Metrics(other), "quoteflow_saga_outcomes_total")) << other;
  }

  // Redelivered final events (the inbox absorbs them) are not counted again: one issued and one
  // rejected quote's last event produced once more.
  {
    const int64_t duplicates = static_cast<int64_t>(
        Sample(quote_worker, "quoteflow_consumer_inbox_duplicates_total").value_or(0));
    std::vector<TopicRecord> counted = ReadTopic("customers", ids[0], "CustomerPolicyCountUpdated");
    std::vector<TopicRecord> refused = ReadTopic("quotes", ids[kIssued], "QuoteRejected");
    ASSERT_EQ(counted.size(), 1u);
    ASSERT_EQ(refused.size(), 1u);
    Reproduce("customers", counted[0]);
    Reproduce("quotes", refused[0]);
    quote_worker = WaitForSample("quote-worker", "quoteflow_consumer_inbox_duplicates_total",
                                 static_cast<double>(duplicates + 2));
    EXPECT_EQ(Sample(quote_worker, issued), kIssued) << quote_worker;
    EXPECT_EQ(Sample(quote_worker, rejected), kRejected) << quote_worker;
    EXPECT_EQ(
        Sample(quote_worker, "quoteflow_saga_approve_to_final_seconds_count{outcome=\"issued\"}"),
        kIssued)
        << quote_worker;
  }

  // Lag per partition: every worker has one series per assigned partition, each drained to 0
  // (quote-worker consumes quotes and customers, 4 partitions each).
  for (const char* worker : {"policy-worker", "customer-worker", "quote-worker"}) {
    std::string body;
    absl::Status drained = WaitFor(
        [&] {
          body = Metrics(worker);
          std::map<std::string, double> lags =
              LabeledSamples(body, "quoteflow_consumer_partition_lag_messages");
          if (static_cast<double>(lags.size()) !=
              Sample(body, "quoteflow_consumer_assigned_partitions").value_or(-1)) {
            return false;
          }
          for (const auto& [labels, v] : lags) {
            if (v != 0) return false;
          }
          return !lags.empty() && Sample(body, "quoteflow_consumer_lag_messages") == 0;
        },
        absl::Seconds(30), absl::StrCat(worker, ": a lag series per partition, all 0"));
    EXPECT_TRUE(drained.ok()) << drained << "\n" << body;
  }
  {
    const std::map<std::string, double> lags =
        LabeledSamples(Metrics("quote-worker"), "quoteflow_consumer_partition_lag_messages");
    for (const char* topic : {"quotes", "customers"}) {
      for (int p = 0; p < 4; ++p) {
        EXPECT_EQ(lags.count(PartitionSeries(topic, p)), 1u) << topic << "[" << p << "]";
      }
    }
    EXPECT_EQ(lags.size(), 8u);
  }

  // A clean run leaves a consistent saga state: `quotectl verify` exits 0.
  auto verify =
      process::ChildProcess::Start({.path = QUOTEFLOW_QUOTECTL_BIN,
                                    .args = {"--database-url=" + Env().database_url(), "verify"},
                                    .capture_stdout = true});
  ASSERT_TRUE(verify.ok()) << verify.status();
  std::string out;
  while (true) {
    absl::StatusOr<std::string> line = (*verify)->ReadLine(absl::Now() + absl::Seconds(60));
    if (!line.ok()) break;
    absl::StrAppend(&out, *line, "\n");
  }
  absl::StatusOr<int> code = (*verify)->Wait(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "verify: 0 inconsistencies in 5 quotes, 3 policies")) << out;
}

// Runs `path` with `args` (environment: the test database and broker) until it exits; returns its
// exit code and its stderr.
std::pair<int, std::string> RunToExit(const std::string& path, std::vector<std::string> args) {
  const std::string log = ::testing::TempDir() + "metrics-e2e-config.log";
  std::remove(log.c_str());
  auto child =
      process::ChildProcess::Start({.path = path,
                                    .args = std::move(args),
                                    .env = {{"DATABASE_URL", Env().database_url()},
                                            {"KAFKA_BOOTSTRAP_SERVERS", Env().bootstrap_servers()},
                                            // The relay's; the others ignore it.
                                            {"OUTBOX_SCHEMA", "quote"}},
                                    .stderr_path = log});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {-1, ""};
  absl::StatusOr<int> code = (*child)->Wait(absl::Now() + absl::Seconds(60));
  EXPECT_TRUE(code.ok()) << code.status();
  return {code.ok() ? *code : -1, testing::FileTail(log, 4000)};
}

TEST_F(MetricsE2eTest, InvalidOrBusyMetricsAddressIsRefused) {
  for (const char* bin :
       {QUOTEFLOW_QUOTE_API_BIN, QUOTEFLOW_RELAY_BIN, QUOTEFLOW_POLICY_WORKER_BIN}) {
    auto [code, err] = RunToExit(bin, {"--metrics-address=localhost"});
    EXPECT_EQ(code, 2) << bin << "\n" << err;
    EXPECT_TRUE(absl::StrContains(err, "--metrics-address: 'localhost' has no port"))
        << bin << ": " << err;
  }
  // quote-api's metrics port is taken by the running quote-api: a second one cannot serve it.
  auto [code, err] =
      RunToExit(QUOTEFLOW_QUOTE_API_BIN,
                {absl::StrCat("--grpc-address=127.0.0.1:", process::FreeTcpPort()),
                 absl::StrCat("--metrics-address=127.0.0.1:", ports_->at("quote-api"))});
  EXPECT_EQ(code, 1) << err;
  EXPECT_TRUE(absl::StrContains(err, "cannot serve metrics")) << err;
}

// The trace id (second field) of a W3C traceparent "00-<trace id>-<span id>-<flags>".
std::string TraceId(const std::string& traceparent) {
  std::vector<std::string> parts = absl::StrSplit(traceparent, '-');
  return parts.size() == 4 && parts[1].size() == 32 ? parts[1] : "";
}

// The traceparent of `schema`.outbox's row for `quote_id` (and `event_type` unless empty), once
// there is one.
std::string WaitForOutboxTrace(const std::string& schema, const std::string& quote_id,
                               const std::string& event_type = "") {
  std::string trace;
  absl::Status s = WaitFor(
      [&] {
        pqxx::connection c(Env().database_url());
        pqxx::nontransaction tx(c);
        pqxx::result r = tx.exec_params(
            absl::StrCat(
                "SELECT traceparent FROM ", schema,
                ".outbox WHERE quote_id = $1 AND ($2 = '' OR event_type = $2) ORDER BY seq"),
            quote_id, event_type);
        if (r.empty()) return false;
        trace = r[0][0].as<std::string>();
        return true;
      },
      absl::Seconds(60), schema + ".outbox row of " + quote_id);
  EXPECT_TRUE(s.ok()) << s;
  return trace;
}

// The traceparent headers of the records of `topic` (4 partitions, read from the beginning)
// whose value mentions `quote_id` and, unless empty, whose ce_type is `type`.
std::vector<std::string> TopicTraces(const std::string& topic, const std::string& quote_id,
                                     const std::string& type = "") {
  std::vector<std::string> traces;
  for (const TopicRecord& r : ReadTopic(topic, quote_id, type)) traces.push_back(r.traceparent);
  return traces;
}

TEST_F(MetricsE2eTest, OneTraceIdLinksTheSagasOutboxRowsAndKafkaRecords) {
  // Stop the relays: rows stay in the outboxes until each relay is started again.
  for (const char* relay : {"relay-quote", "relay-policy", "relay-customer"}) {
    ASSERT_TRUE(system_->Kill(relay).ok()) << relay;
  }
  CreateCustomer("trace-bob", 2);
  const std::string quote_id = CreateAndApprove("trace-bob", 4200);
  ASSERT_FALSE(quote_id.empty());

  const std::string trace = TraceId(WaitForOutboxTrace("quote", quote_id, "QuoteApproved"));
  ASSERT_FALSE(trace.empty()) << "the quote's outbox row has no valid traceparent";

  ASSERT_TRUE(system_->Restart("relay-quote").ok()) << system_->Logs();
  EXPECT_EQ(TraceId(WaitForOutboxTrace("policy", quote_id)), trace) << "policy outbox row\n"
                                                                    << system_->Logs();

  ASSERT_TRUE(system_->Restart("relay-policy").ok()) << system_->Logs();
  EXPECT_EQ(TraceId(WaitForOutboxTrace("customer", quote_id)), trace) << "customer outbox row\n"
                                                                      << system_->Logs();

  ASSERT_TRUE(system_->Restart("relay-customer").ok()) << system_->Logs();
  absl::Status issued = WaitForQuoteStatus(quote_id, v1::QUOTE_STATUS_ISSUED);
  ASSERT_TRUE(issued.ok()) << issued << "\n" << system_->Logs();

  // The relays copied each row's traceparent into the record's header.
  for (const auto& [topic, type] : std::vector<std::pair<std::string, std::string>>{
           {"quotes", "QuoteApproved"}, {"policies", ""}, {"customers", ""}}) {
    std::vector<std::string> traces = TopicTraces(topic, quote_id, type);
    EXPECT_FALSE(traces.empty()) << "no record of " << quote_id << " on " << topic;
    for (const std::string& t : traces) EXPECT_EQ(TraceId(t), trace) << topic << ": " << t;
  }
}

// A record that cannot be applied yet (its quote row is locked, so quote-worker's transaction
// times out and is retried) shows as lag on its partition of "customers" on /metrics, and the lag
// goes back to 0 once the lock is released and the quote is ISSUED.
TEST_F(MetricsE2eTest, AHeldRecordIsLagOnItsPartitionUntilApplied) {
  CreateCustomer("lag-carol", 2);
  std::string quote_id;
  {
    grpc::ClientContext ctx;
    v1::CreateQuoteRequest create;
    create.set_customer_id("lag-carol");
    create.set_premium(3100);
    v1::Quote quote;
    ASSERT_TRUE(system_->quotes().CreateQuote(&ctx, create, &quote).ok());
    quote_id = quote.quote_id();
  }
  // The customer's event waits in its outbox until the quote row is locked.
  ASSERT_TRUE(system_->Kill("relay-customer").ok());
  {
    grpc::ClientContext ctx;
    v1::ApproveQuoteRequest approve;
    approve.set_quote_id(quote_id);
    v1::ApproveQuoteResponse approved;
    ASSERT_TRUE(system_->quotes().ApproveQuote(&ctx, approve, &approved).ok());
  }
  WaitForOutboxTrace("customer", quote_id, "CustomerPolicyCountUpdated");
  pqxx::connection lock_conn(Env().database_url());
  auto lock = std::make_unique<pqxx::work>(lock_conn);
  lock->exec_params("SELECT 1 FROM quote.quotes WHERE quote_id = $1 FOR UPDATE", quote_id);
  ASSERT_TRUE(system_->Restart("relay-customer").ok()) << system_->Logs();

  std::string body;
  std::string held;
  absl::Status lagging = WaitFor(
      [&] {
        body = Metrics("quote-worker");
        for (const auto& [labels, v] :
             LabeledSamples(body, "quoteflow_consumer_partition_lag_messages")) {
          if (absl::StartsWith(labels,
                               absl::StrCat("{topic=\"", Env().topic_prefix(), "customers\"")) &&
              v >= 1) {
            held = labels;
          }
        }
        return !held.empty() && Sample(body, "quoteflow_consumer_lag_messages") >= 1;
      },
      absl::Seconds(60), "quote-worker lagging on a customers partition");
  EXPECT_TRUE(lagging.ok()) << lagging << "\n" << body << "\n" << system_->Logs();
  EXPECT_EQ(Sample(body, "quoteflow_consumer_waiting_on_record"), 1) << body;
  lock->abort();
  lock.reset();

  absl::Status issued = WaitForQuoteStatus(quote_id, v1::QUOTE_STATUS_ISSUED);
  ASSERT_TRUE(issued.ok()) << issued << "\n" << system_->Logs();
  absl::Status drained = WaitFor(
      [&] {
        body = Metrics("quote-worker");
        std::map<std::string, double> lags =
            LabeledSamples(body, "quoteflow_consumer_partition_lag_messages");
        if (lags.size() != 8 || lags.count(held) == 0) return false;
        for (const auto& [labels, v] : lags) {
          if (v != 0) return false;
        }
        return true;
      },
      absl::Seconds(30), "quote-worker's lag back to 0 on every partition");
  EXPECT_TRUE(drained.ok()) << drained << "\n" << body;
}

}  // namespace
}  // namespace quoteflow

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(&argc, argv, {.kafka_topics = quoteflow::kTopics});
  return RUN_ALL_TESTS();
}
