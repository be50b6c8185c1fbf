// outbox-relay: publishes one service's transactional outbox to Kafka (see relay.h).
// Exit status: 0 after SIGTERM/SIGINT and a clean shutdown; 2 for invalid configuration; 1 when the
// database is not migrated or the relay stopped on an error.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "outbox-relay/fail_point.h"
#include "outbox-relay/relay.h"
#include "outbox-relay/relay_config.h"
#include "outbox-relay/relay_metrics.h"
#include "platform/config/config.h"
#include "platform/kafka/kafka_config.h"
#include "platform/observability/log.h"
#include "platform/observability/metrics_server.h"
#include "platform/runtime/runtime.h"

namespace {

std::atomic<bool> stop_requested{false};

void OnSignal(int) { stop_requested.store(true); }

int Refuse(const absl::Status& s) {
  quoteflow::log::Error("invalid configuration, not starting", {{"error", std::string(s.message())}});
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace quoteflow;
  DisableMutexDeadlockDetection();
  log::Init("outbox-relay");
  std::signal(SIGPIPE, SIG_IGN);

  Config config("outbox-relay", "publishes a service's transactional outbox to Kafka");
  relay::DeclareRelayFlags(config);
  kafka::KafkaSettings::Declare(config);
  metrics::DeclareMetricsAddress(config, "");  // deploy/ and `make run` use port 9465 and up
  absl::StatusOr<std::vector<std::string>> positional = config.Parse(argc, argv);
  if (!positional.ok()) return Refuse(positional.status());
  if (!positional->empty()) {
    return Refuse(absl::InvalidArgumentError("outbox-relay takes no positional arguments"));
  }
  absl::StatusOr<relay::RelayOptions> options = relay::RelayOptionsFromConfig(config);
  if (!options.ok()) return Refuse(options.status());
  if (absl::Status s = metrics::ValidateMetricsAddress(config); !s.ok()) return Refuse(s);
  absl::StatusOr<kafka::KafkaSettings> kafka_settings = kafka::KafkaSettings::FromConfig(config);
  if (!kafka_settings.ok()) return Refuse(kafka_settings.status());
  {
    // A bounded message timeout (librdkafka's default is 300 s): a message that cannot be
    // delivered puts its row in backoff instead of staying in flight for minutes. Applied before
    // the operator's properties, so message.timeout.ms (or its alias delivery.timeout.ms) there
    // wins.
    std::vector<kafka::KafkaProperty> properties = {
        {"message.timeout.ms",
         std::to_string(absl::ToInt64Milliseconds(options->message_timeout))}};
    properties.insert(properties.end(), kafka_settings->properties().begin(),
                      kafka_settings->properties().end());
    kafka_settings =
        kafka::KafkaSettings(kafka_settings->bootstrap_servers(), std::move(properties),
                             config.Get(kafka::KafkaSettings::kSaslPasswordFlag));
  }
  if (absl::Status s = kafka_settings->Build(kafka::KafkaRole::kProducer).status(); !s.ok()) {
    return Refuse(s);
  }
  if (absl::Status s = relay::CheckOrderWithoutIdempotence(
          *options, *kafka_settings->EffectiveProperties(kafka::KafkaRole::kProducer));
      !s.ok()) {
    return Refuse(s);
  }
  absl::StatusOr<relay::FailPoints> fail_points = relay::FailPoints::FromEnvironment();
  if (!fail_points.ok()) return Refuse(fail_points.status());

  config.LogEffective();
  log::Info("effective producer configuration",
            {{"kafka", kafka_settings->DescribeRedacted(kafka::KafkaRole::kProducer)},
             {"relay_id", options->relay_id},
             {"topic_map", options->topic_map.ToString()}});
  if (!fail_points->empty()) log::Warn("fail points armed (tests only)");

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const kafka::KafkaSettings& settings = *kafka_settings;
  const absl::Duration liveness_timeout = options->liveness_timeout;
  relay::Relay relay(
      *std::move(options),
      [&settings]() -> absl::StatusOr<rd_kafka_conf_t*> {
        absl::StatusOr<kafka::ConfPtr> conf = settings.Build(kafka::KafkaRole::kProducer);
        if (!conf.ok()) return conf.status();
        return conf->release();
      },
      *std::move(fail_points));
  metrics::Registry registry;
  relay::RegisterRelayMetrics(registry, relay.stats());
  auto metrics_server = metrics::StartFromConfig(
      config, registry, [&relay] { return relay::RelayReadiness(relay.stats()); },
      [&relay, liveness_timeout] { return relay::RelayLiveness(relay.stats(), liveness_timeout); });
  if (!metrics_server.ok()) {
    log::Error("cannot serve metrics", {{"error", metrics_server.status().ToString()}});
    return 1;
  }
  absl::Status status = relay.Run(stop_requested);
  if (!status.ok()) {
    log::Error("outbox-relay stopped on an error", {{"error", status.ToString()}});
    return 1;
  }
  return 0;
}
