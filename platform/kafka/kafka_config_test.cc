#include "platform/kafka/kafka_config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace quoteflow::kafka {
namespace {

using ::testing::TempDir;

std::map<std::string, std::string> AsMap(const std::vector<KafkaProperty>& props) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : props) m[k] = v;
  return m;
}

// Returns the value of `key` in a built conf, or "<unset>".
std::string ConfValue(rd_kafka_conf_t* conf, const char* key) {
  char buf[1024];
  size_t size = sizeof(buf);
  if (rd_kafka_conf_get(conf, key, buf, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return buf;
}

TEST(ParseKafkaPropertiesTest, PairsListsAndWhitespace) {
  auto props = ParseKafkaProperties(" linger.ms = 10 , debug=broker,topic,msg,,client.id=a=b ");
  ASSERT_TRUE(props.ok()) << props.status();
  ASSERT_EQ(props->size(), 3u);
  EXPECT_EQ((*props)[0], KafkaProperty("linger.ms", "10"));
  EXPECT_EQ((*props)[1], KafkaProperty("debug", "broker,topic,msg"));
  EXPECT_EQ((*props)[2], KafkaProperty("client.id", "a=b"));
  EXPECT_TRUE(ParseKafkaProperties("")->empty());
}

TEST(ParseKafkaPropertiesTest, Errors) {
  EXPECT_TRUE(absl::IsInvalidArgument(ParseKafkaProperties("linger.ms").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseKafkaProperties("=5").status()));
}

TEST(ParseKafkaPropertiesFileTest, EventHubsConnectionString) {
  const std::string file =
      "# Event Hubs profile\n"
      "\n"
      "security.protocol = SASL_SSL\n"
      "sasl.mechanisms=PLAIN\n"
      "sasl.username=$ConnectionString\n"
      "sasl.password=Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
      "SharedAccessKey=abc=,d\n"
      "   # indented comment\n";
  auto props = ParseKafkaPropertiesFile(file);
  ASSERT_TRUE(props.ok()) << props.status();
  auto m = AsMap(*props);
  EXPECT_EQ(props->size(), 4u);
  EXPECT_EQ(m["security.protocol"], "SASL_SSL");
  EXPECT_EQ(m["sasl.username"], "$ConnectionString");
  EXPECT_EQ(
      m["sasl.password"],
      "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc=,d");
}

TEST(ParseKafkaPropertiesFileTest, BadLineNamesLineNotValue) {
  auto props = ParseKafkaPropertiesFile("a=b\nsecretstuffwithoutequals\n");
  ASSERT_TRUE(absl::IsInvalidArgument(props.status()));
  EXPECT_TRUE(absl::StrContains(props.status().message(), "line 2"));
  EXPECT_FALSE(absl::StrContains(props.status().message(), "secretstuff"));
}

TEST(IsSecretKafkaPropertyTest, Names) {
  EXPECT_TRUE(IsSecretKafkaProperty("sasl.password"));
  EXPECT_TRUE(IsSecretKafkaProperty("ssl.key.password"));
  EXPECT_TRUE(IsSecretKafkaProperty("sasl.oauthbearer.client.secret"));
  EXPECT_FALSE(IsSecretKafkaProperty("sasl.username"));
  EXPECT_FALSE(IsSecretKafkaProperty("linger.ms"));
}

TEST(KafkaSettingsTest, ProducerDefaultsAndForcedValues) {
  KafkaSettings s("127.0.0.1:9092", {{"linger.ms", "20"}, {"compression.type", "zstd"}});
  auto props = s.EffectiveProperties(KafkaRole::kProducer);
  ASSERT_TRUE(props.ok()) << props.status();
  auto m = AsMap(*props);
  EXPECT_EQ(m["bootstrap.servers"], "127.0.0.1:9092");
  EXPECT_EQ(m["enable.idempotence"], "true");
  EXPECT_EQ(m["acks"], "all");
  EXPECT_EQ(m["linger.ms"], "20");  // user override of a default
  EXPECT_EQ(m["compression.type"], "zstd");
  EXPECT_EQ(m["allow.auto.create.topics"], "false");
  EXPECT_FALSE(m.contains("group.id"));

  auto conf = s.Build(KafkaRole::kProducer);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(ConfValue(conf->get(), "enable.idempotence"), "true");
  EXPECT_EQ(ConfValue(conf->get(), "linger.ms"), "20");
  EXPECT_EQ(ConfValue(conf->get(), "acks"), "-1");
}

// Azure Event Hubs' Standard tier: the producer may run without idempotence (the relay keeps
// per-key order itself); acks=all stays forced.
TEST(KafkaSettingsTest, ProducerMaySwitchIdempotenceOffExplicitly) {
  KafkaSettings s("h:1", {{"enable.idempotence", "false"}});
  auto props = s.EffectiveProperties(KafkaRole::kProducer);
  ASSERT_TRUE(props.ok()) << props.status();
  auto m = AsMap(*props);
  EXPECT_EQ(m["enable.idempotence"], "false");
  EXPECT_EQ(m["acks"], "all");
  EXPECT_TRUE(s.Build(KafkaRole::kProducer).ok());
  EXPECT_TRUE(KafkaSettings("h:1", {{"compression.type", "none"}}).Build(KafkaRole::kProducer).ok());
}

TEST(KafkaSettingsTest, ProducerAcceptsExplicitSafeValues) {
  for (const char* acks : {"all", "-1", "ALL"}) {
    KafkaSettings s("h:1", {{"acks", acks}, {"enable.idempotence", "true"}});
    EXPECT_TRUE(s.Build(KafkaRole::kProducer).ok()) << acks;
  }
}

TEST(KafkaSettingsTest, ConsumerDefaultsAndForcedValues) {
  KafkaSettings s("h:1", {{"group.id", "ignored"}, {"session.timeout.ms", "10000"}});
  auto props = s.EffectiveProperties(KafkaRole::kConsumer, "policy-worker");
  ASSERT_TRUE(props.ok()) << props.status();
  auto m = AsMap(*props);
  EXPECT_EQ(m["group.id"], "policy-worker");
  EXPECT_EQ(m["enable.auto.commit"], "false");
  EXPECT_EQ(m["fetch.wait.max.ms"], "100");
  EXPECT_EQ(m["auto.offset.reset"], "earliest");
  EXPECT_EQ(m["socket.connection.setup.timeout.ms"], "10000");
  EXPECT_EQ(m["reconnect.backoff.max.ms"], "2000");
  EXPECT_EQ(m["socket.timeout.ms"], "10000");
  EXPECT_EQ(m["session.timeout.ms"], "10000");
  EXPECT_FALSE(m.contains("enable.idempotence"));
  auto conf = s.Build(KafkaRole::kConsumer, "policy-worker");
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(ConfValue(conf->get(), "group.id"), "policy-worker");
  EXPECT_EQ(ConfValue(conf->get(), "enable.auto.commit"), "false");
}

struct Rejected {
  std::string name;
  KafkaRole role;
  std::vector<KafkaProperty> props;
  std::string bootstrap;
  std::string message_part;
};

class KafkaSettingsRejectTest : public ::testing::TestWithParam<Rejected> {};

TEST_P(KafkaSettingsRejectTest, InvalidArgumentWithReason) {
  const Rejected& r = GetParam();
  KafkaSettings s(r.bootstrap, r.props);
  auto conf = s.Build(r.role, "group");
  ASSERT_TRUE(absl::IsInvalidArgument(conf.status())) << conf.status();
  EXPECT_TRUE(absl::StrContains(conf.status().message(), r.message_part)) << conf.status();
  EXPECT_FALSE(s.Validate().ok());
}

INSTANTIATE_TEST_SUITE_P(
    All, KafkaSettingsRejectTest,
    ::testing::Values(
        Rejected{"gzip", KafkaRole::kProducer, {{"compression.type", "gzip"}}, "h:1", "#4956"},
        Rejected{"snappy_alias",
                 KafkaRole::kProducer,
                 {{"compression.codec", "snappy"}},
                 "h:1",
                 "compression.codec=snappy"},
        Rejected{"lz4", KafkaRole::kProducer, {{"compression.type", "LZ4"}}, "h:1", "zstd"},
        Rejected{"acks_1", KafkaRole::kProducer, {{"acks", "1"}}, "h:1", "acks=all"},
        Rejected{"acks_0_alias",
                 KafkaRole::kProducer,
                 {{"request.required.acks", "0"}},
                 "h:1",
                 "request.required.acks"},
        Rejected{"no_cert_check",
                 KafkaRole::kConsumer,
                 {{"enable.ssl.certificate.verification", "false"}},
                 "h:1",
                 "certificate"},
        Rejected{"no_hostname_check",
                 KafkaRole::kProducer,
                 {{"ssl.endpoint.identification.algorithm", "none"}},
                 "h:1",
                 "hostname"},
        Rejected{"empty_bootstrap", KafkaRole::kProducer, {}, "", "bootstrap"},
        Rejected{"blank_bootstrap_property",
                 KafkaRole::kConsumer,
                 {{"bootstrap.servers", " "}},
                 "",
                 "bootstrap"},
        Rejected{"auto_commit",
                 KafkaRole::kConsumer,
                 {{"enable.auto.commit", "true"}},
                 "h:1",
                 "enable.auto.commit"},
        Rejected{
            "unknown_property", KafkaRole::kProducer, {{"linger.msec", "5"}}, "h:1", "linger.msec"},
        Rejected{"bad_value", KafkaRole::kProducer, {{"linger.ms", "soon"}}, "h:1", "linger.ms"}),
    [](const ::testing::TestParamInfo<Rejected>& info) { return info.param.name; });

TEST(KafkaSettingsTest, ConsumerNeedsGroup) {
  KafkaSettings s("h:1", {});
  EXPECT_TRUE(absl::IsInvalidArgument(s.Build(KafkaRole::kConsumer, "").status()));
  EXPECT_TRUE(s.Validate().ok());
}

TEST(KafkaSettingsTest, BootstrapPropertyIsEnoughAndFlagWins) {
  KafkaSettings from_property("", {{"bootstrap.servers", "a:1"}});
  EXPECT_TRUE(from_property.Build(KafkaRole::kProducer).ok());
  KafkaSettings both("b:2", {{"bootstrap.servers", "a:1"}});
  EXPECT_EQ(AsMap(*both.EffectiveProperties(KafkaRole::kProducer))["bootstrap.servers"], "b:2");
}

TEST(KafkaSettingsTest, SecretsNeverPrinted) {
  KafkaSettings s("ns.servicebus.windows.net:9093",
                  {{"security.protocol", "SASL_SSL"},
                   {"sasl.mechanisms", "PLAIN"},
                   {"sasl.username", "$ConnectionString"},
                   {"ssl.key.password", "keypass"}},
                  "Endpoint=sb://ns/;SharedAccessKey=TOPSECRET");
  for (const std::string& text : {s.DescribeRedacted(), s.DescribeRedacted(KafkaRole::kProducer),
                                  s.DescribeRedacted(KafkaRole::kConsumer, "g")}) {
    EXPECT_FALSE(absl::StrContains(text, "TOPSECRET")) << text;
    EXPECT_FALSE(absl::StrContains(text, "keypass")) << text;
    EXPECT_TRUE(absl::StrContains(text, "sasl.password=***")) << text;
    EXPECT_TRUE(absl::StrContains(text, "sasl.username=$ConnectionString")) << text;
  }
  EXPECT_TRUE(
      absl::StrContains(s.DescribeRedacted(KafkaRole::kProducer), "enable.idempotence=true"));
  auto conf = s.Build(KafkaRole::kProducer);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(ConfValue(conf->get(), "sasl.username"), "$ConnectionString");
}

TEST(KafkaSettingsTest, DescribeRedactedShowsErrorForInvalid) {
  KafkaSettings s("", {});
  EXPECT_TRUE(absl::StrContains(s.DescribeRedacted(KafkaRole::kProducer), "bootstrap"));
}

class KafkaSettingsConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_PROPERTIES", "KAFKA_PROPERTIES_FILE",
                          "KAFKA_SASL_PASSWORD"}) {
      unsetenv(v);
    }
  }
  absl::StatusOr<KafkaSettings> FromArgs(std::vector<std::string> args) {
    Config config("test", "test");
    KafkaSettings::Declare(config);
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    auto parsed = config.Parse(static_cast<int>(argv.size()), argv.data());
    if (!parsed.ok()) return parsed.status();
    std::string described = config.Describe();
    EXPECT_FALSE(absl::StrContains(described, "hunter2")) << described;
    return KafkaSettings::FromConfig(config);
  }
};

TEST_F(KafkaSettingsConfigTest, FlagsEnvAndFile) {
  std::string path = TempDir() + "/kafka_props_" + std::to_string(getpid());
  {
    std::ofstream f(path);
    f << "# profile\nsecurity.protocol=SASL_SSL\nlinger.ms=50\n";
  }
  setenv("KAFKA_BOOTSTRAP_SERVERS", "env:1", 1);
  setenv("KAFKA_SASL_PASSWORD", "hunter2", 1);
  auto s = FromArgs({"--kafka-properties-file=" + path, "--kafka-properties=linger.ms=7"});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->bootstrap_servers(), "env:1");
  auto m = AsMap(*s->EffectiveProperties(KafkaRole::kProducer));
  EXPECT_EQ(m["security.protocol"], "SASL_SSL");
  EXPECT_EQ(m["linger.ms"], "7");  // the flag wins over the file
  EXPECT_EQ(m["sasl.password"], "hunter2");
  EXPECT_FALSE(absl::StrContains(s->DescribeRedacted(), "hunter2"));
  std::remove(path.c_str());
}

// Found by tests/fuzz (config_parse) and security_e2e_test: the "effective configuration" line
// showed the value of a secret property given in --kafka-properties unless its key ended in
// "password", and then only up to its first space.
TEST_F(KafkaSettingsConfigTest, DescribeHidesSecretPropertiesOfTheFlag) {
  Config config("test", "test");
  KafkaSettings::Declare(config);
  const char* argv[] = {"test",
                        "--kafka-properties=sasl.oauthbearer.config=principal=hunter2,"
                        "ssl.key.password=two hunter3 words,debug=broker,topic,"
                        "sasl.oauthbearer.token.endpoint.url=https://u:hunter4@idp/token"};
  ASSERT_TRUE(config.Parse(2, const_cast<char**>(argv)).ok());
  const std::string described = config.Describe();
  EXPECT_TRUE(absl::StrContains(described,
                                "kafka-properties=sasl.oauthbearer.config=***,ssl.key.password=***,"
                                "debug=broker,topic,sasl.oauthbearer.token.endpoint.url="
                                "https://u:***@idp/token"))
      << described;
  EXPECT_FALSE(absl::StrContains(described, "hunter")) << described;
  auto s = KafkaSettings::FromConfig(config);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(absl::StrContains(s->DescribeRedacted(), "hunter")) << s->DescribeRedacted();
  EXPECT_EQ(RedactKafkaProperties("oops-no-equals,sasl.password=hunter5"),
            "(does not parse; not shown)");
}

TEST_F(KafkaSettingsConfigTest, MissingFileIsNotFound) {
  auto s = FromArgs({"--kafka-properties-file=/nonexistent/kafka.properties"});
  EXPECT_TRUE(absl::IsNotFound(s.status())) << s.status();
}

TEST_F(KafkaSettingsConfigTest, BadPropertiesNameTheFlag) {
  auto s = FromArgs({"--kafka-properties=oops"});
  ASSERT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_TRUE(absl::StrContains(s.status().message(), "--kafka-properties")) << s.status();
}

TEST(NewKafkaHandleTest, CreatesProducerWithoutConnecting) {
  KafkaSettings s("127.0.0.1:1", {});
  auto conf = s.Build(KafkaRole::kProducer);
  ASSERT_TRUE(conf.ok());
  auto rk = NewKafkaHandle(RD_KAFKA_PRODUCER, *std::move(conf));
  ASSERT_TRUE(rk.ok()) << rk.status();
  EXPECT_NE(rk->get(), nullptr);
}

}  // namespace
}  // namespace quoteflow::kafka
