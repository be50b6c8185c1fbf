// deploy/kubernetes/eventhubs/eventhubs.properties is accepted by the binaries' Kafka settings
// (the same KafkaSettings every binary builds from KAFKA_PROPERTIES_FILE): both roles build with
// SASL_SSL/PLAIN and no compression, and the connection string (the SASL password) never appears
// in the printed configuration. No broker is contacted.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "platform/config/config.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow {
namespace {

constexpr char kSecretKey[] = "c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M=";

TEST(EventHubsSettingsTest, PropertiesFileBuildsBothRolesAndRedactsThePassword) {
  Config config("test", "test");
  kafka::KafkaSettings::Declare(config);
  std::vector<std::string> args = {
      "test", "--kafka-bootstrap-servers=mynamespace.servicebus.windows.net:9093",
      std::string("--kafka-properties-file=") + QUOTEFLOW_EVENTHUBS_PROPERTIES,
      std::string("--kafka-sasl-password=Endpoint=sb://mynamespace.servicebus.windows.net/;"
                  "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=") +
          kSecretKey};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  ASSERT_TRUE(config.Parse(static_cast<int>(argv.size()), argv.data()).ok());

  absl::StatusOr<kafka::KafkaSettings> settings = kafka::KafkaSettings::FromConfig(config);
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_TRUE(settings->Validate().ok()) << settings->Validate();
  ASSERT_TRUE(settings->Build(kafka::KafkaRole::kProducer).ok());
  ASSERT_TRUE(settings->Build(kafka::KafkaRole::kConsumer, "policy-worker").ok());

  const std::string producer = settings->DescribeRedacted(kafka::KafkaRole::kProducer);
  for (const char* want :
       {"security.protocol=SASL_SSL", "sasl.mechanisms=PLAIN", "sasl.username=$ConnectionString",
        "compression.type=none", "enable.idempotence=false", "acks=all"}) {
    EXPECT_TRUE(absl::StrContains(producer, want)) << want << " not in " << producer;
  }
  // The profile keeps librdkafka's request timeout over the consumers' 10 s default.
  const std::string consumer =
      settings->DescribeRedacted(kafka::KafkaRole::kConsumer, "policy-worker");
  EXPECT_TRUE(absl::StrContains(consumer, "socket.timeout.ms=60000")) << consumer;
  for (const std::string& text :
       {producer, consumer, settings->DescribeRedacted(), config.Describe()}) {
    EXPECT_FALSE(absl::StrContains(text, kSecretKey)) << text;
  }
}

}  // namespace
}  // namespace quoteflow
