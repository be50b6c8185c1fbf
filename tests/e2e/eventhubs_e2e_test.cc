// The Azure Event Hubs profile against a real broker: the whole system (SagaSystem: relays and
// workers) runs with deploy/kubernetes/eventhubs/eventhubs.properties as shipped — SASL_SSL,
// PLAIN, user "$ConnectionString", no compression, no idempotent producer — against the test
// Kafka's Event Hubs-shaped listener (tests/support/test_environment.h: Env().sasl_ssl(), a
// connection string as the password); only the bootstrap address and the CA differ (the CA given
// as KAFKA_PROPERTIES, the password as KAFKA_SASL_PASSWORD). Sagas complete both ways. Then two
// independent clients read the topics the relays wrote, over the same listener: kcat (Debian's,
// librdkafka) and kafkajs (npm, pure JavaScript): keys, JSON values and CloudEvents headers intact.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "platform/events/event_codec.h"
#include "platform/process/child_process.h"
#include "tests/support/saga_fixture.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using ::quoteflow::testing::Env;
using ::quoteflow::testing::SagaSystem;
using ::quoteflow::testing::WaitFor;

// The headers every record carries: the CloudEvents Kafka binding plus traceparent.
const char* const kHeaders[] = {"ce_specversion", "ce_id",        "ce_type",    "ce_source",
                                "ce_time",        "content-type", "traceparent"};

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path == nullptr ? "/usr/bin:/bin" : path, ':')) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs a command to completion; its stdout, or a gtest failure with its stderr.
std::string RunCapture(const std::string& path, const std::vector<std::string>& args,
                       const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const std::string err_path = ::testing::TempDir() + "eventhubs-e2e-client.err";
  std::remove(err_path.c_str());
  absl::StatusOr<std::unique_ptr<process::ChildProcess>> child = process::ChildProcess::Start(
      {.path = path, .args = args, .env = env, .capture_stdout = true, .stderr_path = err_path});
  EXPECT_TRUE(child.ok()) << path << ": " << child.status();
  if (!child.ok()) return "";
  std::string out;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (true) {
    absl::StatusOr<std::string> line = (*child)->ReadLine(deadline);
    if (!line.ok()) break;
    absl::StrAppend(&out, *line, "\n");
  }
  absl::StatusOr<int> code = (*child)->Wait(deadline);
  EXPECT_TRUE(code.ok() && *code == 0)
      << path << " failed (" << (code.ok() ? std::to_string(*code) : code.status().ToString())
      << "): " << testing::FileTail(err_path);
  return out;
}

// One record as a client printed it: a JSON object {key, value (or payload), headers}.
struct ClientRecord {
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

std::vector<ClientRecord> ParseJsonLines(const std::string& text, const char* value_field) {
  std::vector<ClientRecord> records;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct object;
    auto parsed = google::protobuf::util::JsonStringToMessage(std::string(line), &object);
    EXPECT_TRUE(parsed.ok()) << line;
    if (!parsed.ok()) continue;
    ClientRecord r;
    const auto& fields = object.fields();
    if (fields.contains("key")) r.key = fields.at("key").string_value();
    if (fields.contains(value_field)) r.value = fields.at(value_field).string_value();
    if (fields.contains("headers")) {
      const google::protobuf::Value& headers = fields.at("headers");
      if (headers.has_struct_value()) {
        for (const auto& [name, value] : headers.struct_value().fields()) {
          r.headers[name] = value.string_value();
        }
      } else {  // kcat -J: a flat [name, value, name, value, ...] list
        const auto& list = headers.list_value().values();
        for (int i = 0; i + 1 < list.size(); i += 2) {
          r.headers[list[i].string_value()] = list[i + 1].string_value();
        }
      }
    }
    records.push_back(std::move(r));
  }
  return records;
}

// Every record decodes as our event envelope, is keyed by its aggregate id and carries the
// CloudEvents headers matching the envelope.
void ExpectIntactEvents(const std::vector<ClientRecord>& records, const std::string& client) {
  ASSERT_FALSE(records.empty()) << client;
  for (const ClientRecord& r : records) {
    absl::StatusOr<DomainEvent> event = DecodeEnvelope(r.value);
    ASSERT_TRUE(event.ok()) << client << ": " << event.status() << "\n" << r.value;
    EXPECT_EQ(r.key, event->aggregate_id) << client;
    for (const char* header : kHeaders) {
      EXPECT_TRUE(r.headers.contains(header)) << client << ": no " << header << " on " << r.key;
    }
    if (!r.headers.contains("ce_id")) continue;
    EXPECT_EQ(r.headers.at("ce_id"), event->event_id) << client;
    EXPECT_EQ(r.headers.at("ce_specversion"), "1.0") << client;
    EXPECT_EQ(r.headers.at("content-type"), "application/json") << client;
  }
}

class EventHubsE2eTest : public testing::SagaSystemFixture {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<testing::QuoteflowEnvironment::SaslSsl> sasl = Env().sasl_ssl();
    if (!sasl.ok()) {
      start_error_ = new std::string(sasl.status().ToString());
      return;
    }
    sasl_ = new testing::QuoteflowEnvironment::SaslSsl(*sasl);
    prefix_ = new std::string(Env().topic_prefix() + "eh-");
    std::string topics;
    for (const char* t : {"quotes", "policies", "customers"}) {
      absl::StrAppend(&topics, *prefix_, t, ":4,", *prefix_, t, ".dlq:1,");
    }
    if (absl::Status s = Env().CreateTopics(topics); !s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    testing::SagaSystemOptions options;
    options.bootstrap_servers = sasl_->bootstrap_servers;
    options.topic_prefix = *prefix_;
    options.group_prefix = *prefix_;
    options.log_prefix = "eventhubs-e2e";
    options.default_max_policies = 1;
    options.extra_env = {{"KAFKA_PROPERTIES_FILE", QUOTEFLOW_EVENTHUBS_PROPERTIES},
                         {"KAFKA_PROPERTIES", "ssl.ca.location=" + sasl_->ca_file},
                         {"KAFKA_SASL_PASSWORD", sasl_->password}};
    StartSystem(std::move(options));
  }
  static void TearDownTestSuite() {
    StopSystem();
    delete sasl_;
    delete prefix_;
  }

  static testing::QuoteflowEnvironment::SaslSsl* sasl_;
  static std::string* prefix_;
};

testing::QuoteflowEnvironment::SaslSsl* EventHubsE2eTest::sasl_ = nullptr;
std::string* EventHubsE2eTest::prefix_ = nullptr;

TEST_F(EventHubsE2eTest, SagasCompleteWithTheShippedProfileAndIndependentClientsReadTheTopics) {
  SagaSystem& system = *system_;
  CreateCustomer("eh-alice", 1);
  // The first quote is issued; the second exceeds alice's one policy and is compensated.
  std::vector<std::string> ids;
  for (int64_t premium : {1200, 900}) {
    const std::string id = CreateAndApprove("eh-alice", premium);
    ASSERT_FALSE(id.empty());
    ids.push_back(id);
    v1::QuoteStatus status = v1::QUOTE_STATUS_UNSPECIFIED;
    absl::Status settled = WaitFor(
        [&] {
          status = GetQuote(id).status();
          return status == v1::QUOTE_STATUS_ISSUED || status == v1::QUOTE_STATUS_REJECTED;
        },
        absl::Seconds(90), "the saga to end");
    ASSERT_TRUE(settled.ok()) << settled << "\n" << system.Logs();
    EXPECT_EQ(status, premium == 1200 ? v1::QUOTE_STATUS_ISSUED : v1::QUOTE_STATUS_REJECTED);
  }
  // The relays ran without the idempotent producer, as the profile says.
  for (const std::string& name : system.Names()) {
    const std::string log = testing::FileTail(system.LogPath(name), 1 << 22);
    if (absl::StartsWith(name, "relay-")) {
      EXPECT_TRUE(absl::StrContains(log, "idempotent producer off")) << name << ":\n" << log;
    }
    EXPECT_FALSE(absl::StrContains(log, sasl_->password)) << name << " logged the password";
  }

  // kcat over the same listener (its configuration in a file: no password in argv).
  const std::string quotes_topic = *prefix_ + "quotes";
  const std::string kcat_conf = ::testing::TempDir() + "eventhubs-e2e-kcat.conf";
  {
    std::ofstream out(kcat_conf);
    out << "security.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\nsasl.username=$ConnectionString\n"
        << "sasl.password=" << sasl_->password << "\nssl.ca.location=" << sasl_->ca_file << "\n";
  }
  const std::string kcat_out = RunCapture("/usr/bin/kcat", {"-C", "-b", sasl_->bootstrap_servers,
                                                            "-F", kcat_conf, "-t", quotes_topic,
                                                            "-J", "-e", "-q"});
  std::vector<ClientRecord> kcat_records = ParseJsonLines(kcat_out, "payload");
  ExpectIntactEvents(kcat_records, "kcat");
  std::set<std::string> kcat_keys;
  for (const ClientRecord& r : kcat_records) kcat_keys.insert(r.key);
  for (const std::string& id : ids) EXPECT_TRUE(kcat_keys.contains(id)) << id << " not read by kcat";

  // kafkajs, with the record count kcat saw (the password in a file: none in argv).
  const std::string password_file = ::testing::TempDir() + "eventhubs-e2e-password";
  {
    std::ofstream out(password_file);
    out << sasl_->password << "\n";
  }
  const std::string node_modules = std::string(QUOTEFLOW_CACHE_DIR) + "/node/node_modules";
  ASSERT_EQ(access((node_modules + "/kafkajs").c_str(), F_OK), 0)
      << "kafkajs is not installed in " << node_modules << ": run scripts/install-deps.sh";
  const std::string node = FindOnPath("node");
  ASSERT_FALSE(node.empty()) << "no node on PATH: run scripts/install-deps.sh";
  const std::string js_out =
      RunCapture(node,
                 {QUOTEFLOW_KAFKAJS_READ, sasl_->bootstrap_servers, quotes_topic,
                  std::to_string(kcat_records.size()), "$ConnectionString", password_file,
                  sasl_->ca_file},
                 {{"NODE_PATH", node_modules}});
  std::vector<ClientRecord> js_records = ParseJsonLines(js_out, "value");
  ExpectIntactEvents(js_records, "kafkajs");
  EXPECT_EQ(js_records.size(), kcat_records.size());
  std::printf("[figures] eventhubs profile: %zu sagas settled; %zu records on %s read by kcat and "
              "kafkajs with their headers\n",
              ids.size(), kcat_records.size(), quotes_topic.c_str());

}

}  // namespace
}  // namespace quoteflow
