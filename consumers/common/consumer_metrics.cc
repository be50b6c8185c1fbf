#include "consumers/common/consumer_metrics.h"

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace quoteflow::workers {

void RegisterConsumerMetrics(metrics::Registry& registry,
                             const messaging::InboxConsumerStats& stats) {
  auto counter = [&registry](const char* name, const char* help,
                             const std::atomic<int64_t>& value) {
    registry.AddCounterCallback(name, help, [&value] { return static_cast<double>(value.load()); });
  };
  auto gauge = [&registry](const char* name, const char* help, const auto& value) {
    registry.AddGaugeCallback(name, help, [&value] { return static_cast<double>(value.load()); });
  };
  counter("quoteflow_consumer_handled_total", "events applied", stats.handled);
  counter("quoteflow_consumer_inbox_duplicates_total", "events already in the inbox (skipped)",
          stats.duplicates);
  counter("quoteflow_consumer_skipped_total", "event types this worker does not handle",
          stats.skipped);
  counter("quoteflow_consumer_retries_total", "re-attempts of a record (transient or poison)",
          stats.retries);
  counter("quoteflow_consumer_transient_errors_total", "transient failures (retried)",
          stats.transient_errors);
  counter("quoteflow_consumer_poison_errors_total",
          "failed attempts of a record that cannot be decoded or applied", stats.poison_errors);
  counter("quoteflow_consumer_dead_lettered_total", "records delivered to a dead-letter topic",
          stats.dead_lettered);
  counter("quoteflow_consumer_version_gaps_total", "aggregate version gaps detected",
          stats.version_gaps);
  counter("quoteflow_consumer_stale_versions_total", "events older than the applied version",
          stats.stale_versions);
  counter("quoteflow_consumer_transactions_total", "committed transactions", stats.transactions);
  counter("quoteflow_consumer_offset_commits_total", "successful Kafka offset commits",
          stats.offset_commits);
  counter("quoteflow_consumer_rebalances_total", "partition assignments and revocations",
          stats.rebalances);
  gauge("quoteflow_consumer_assigned_partitions", "partitions currently assigned",
        stats.assigned_partitions);
  gauge("quoteflow_consumer_lag_messages",
        "messages behind the high watermark, summed over the assigned partitions", stats.lag);
  registry.AddGaugeFamilyCallback(
      "quoteflow_consumer_partition_lag_messages",
      "messages behind the high watermark not applied yet, per assigned partition",
      {"topic", "partition"}, [&stats] {
        std::vector<metrics::LabeledValue> samples;
        for (const messaging::PartitionLag& l : stats.PartitionLags()) {
          samples.push_back(
              {{l.topic, absl::StrCat(l.partition)}, static_cast<double>(l.messages)});
        }
        return samples;
      });
  gauge("quoteflow_consumer_running", "1 while the consumer is subscribed", stats.running);
  gauge("quoteflow_consumer_waiting_on_record",
        "1 while a record is being retried (its partitions paused)", stats.waiting_on_record);
}

absl::Status WorkerReadiness(const messaging::InboxConsumerStats& stats, HealthService* health) {
  if (!stats.running.load()) return absl::UnavailableError("the Kafka consumer is not running");
  if (health != nullptr) {
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    health->Check(nullptr, &request, &response);
    if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::UnavailableError("not serving (Postgres unreachable or shutting down)");
    }
  }
  return absl::OkStatus();
}

}  // namespace quoteflow::workers
