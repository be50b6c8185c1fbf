#include "platform/kafka/kafka_admin.h"

#include <librdkafka/rdkafka.h>

#include <memory>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "domain/status_macros.h"

namespace quoteflow::kafka {
namespace {

int Millis(absl::Duration d) {
  return static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

absl::StatusOr<HandlePtr> AdminHandle(const KafkaSettings& settings) {
  ASSIGN_OR_RETURN(ConfPtr conf, settings.Build(KafkaRole::kProducer));
  return NewKafkaHandle(RD_KAFKA_PRODUCER, std::move(conf));
}

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

absl::StatusOr<MetadataPtr> AllMetadata(rd_kafka_t* rk, absl::Duration timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, Millis(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("metadata request: ", rd_kafka_err2str(err)));
  }
  return MetadataPtr(md);
}

// Empty when every partition of every topic in `names` has a leader, else what is missing.
std::string MissingLeaders(const rd_kafka_metadata_t& md, const std::set<std::string>& names) {
  std::set<std::string> seen;
  for (int i = 0; i < md.topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md.topics[i];
    if (names.count(t.topic) == 0) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partition_cnt == 0) {
      return absl::StrCat("topic ", t.topic, ": ", rd_kafka_err2name(t.err));
    }
    for (int p = 0; p < t.partition_cnt; ++p) {
      if (t.partitions[p].leader < 0) return absl::StrCat(t.topic, "/", p, " has no leader");
    }
    seen.insert(t.topic);
  }
  for (const std::string& name : names) {
    if (seen.count(name) == 0) return absl::StrCat("topic ", name, " not in metadata");
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(absl::string_view spec) {
  std::vector<TopicSpec> topics;
  for (absl::string_view piece : absl::StrSplit(spec, ',')) {
    piece = absl::StripAsciiWhitespace(piece);
    if (piece.empty()) continue;
    const size_t colon = piece.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic '", piece, "': expected name:partitions"));
    }
    TopicSpec t;
    t.name = std::string(absl::StripAsciiWhitespace(piece.substr(0, colon)));
    if (t.name.empty()) return absl::InvalidArgumentError("topic with an empty name");
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(piece.substr(colon + 1)), &t.partitions) ||
        t.partitions < 1 || t.partitions > 10000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "partitions of topic ", t.name, ": expected an integer in [1, 10000]"));
    }
    topics.push_back(std::move(t));
  }
  return topics;
}

std::vector<TopicSpec> PrefixTopics(const std::vector<TopicSpec>& topics,
                                    absl::string_view prefix) {
  std::vector<TopicSpec> out;
  for (const TopicSpec& t : topics) out.push_back({absl::StrCat(prefix, t.name), t.partitions});
  return out;
}

absl::Status CreateTopics(const KafkaSettings& settings, const std::vector<TopicSpec>& topics,
                          const TopicOptions& options) {
  if (topics.empty()) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + options.timeout;
  ASSIGN_OR_RETURN(HandlePtr rk, AdminHandle(settings));

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  auto destroy_new_topics = [&new_topics] {
    rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
    new_topics.clear();
  };
  char err[512];
  for (const TopicSpec& t : topics) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(t.name.c_str(), t.partitions,
                              options.replication_factor > 0 ? options.replication_factor : -1,
                              err, sizeof(err));
    if (nt == nullptr) {
      destroy_new_topics();
      return absl::InvalidArgumentError(absl::StrCat("topic ", t.name, ": ", err));
    }
    for (const auto& [key, value] : options.configs) {
      rd_kafka_NewTopic_set_config(nt, key.c_str(), value.c_str());
    }
    new_topics.push_back(nt);
  }
  rd_kafka_AdminOptions_t* admin_options =
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(admin_options, Millis(options.timeout), err,
                                            sizeof(err));
  rd_kafka_AdminOptions_set_operation_timeout(admin_options, Millis(options.timeout), err,
                                              sizeof(err));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk.get());
  rd_kafka_CreateTopics(rk.get(), new_topics.data(), new_topics.size(), admin_options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, Millis(options.timeout + absl::Seconds(5)));
  destroy_new_topics();
  rd_kafka_AdminOptions_destroy(admin_options);
  rd_kafka_queue_destroy(queue);
  if (event == nullptr) return absl::UnavailableError("CreateTopics: no answer from the cluster");

  absl::Status status;
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(
        absl::StrCat("CreateTopics: ", rd_kafka_event_error_string(event)));
  } else {
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (size_t i = 0; i < count && status.ok(); ++i) {
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
      const std::string message =
          absl::StrCat("topic ", rd_kafka_topic_result_name(results[i]), ": ", rd_kafka_err2name(e),
                       " ", rd_kafka_topic_result_error_string(results[i]));
      status = e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                       e == RD_KAFKA_RESP_ERR_NOT_CONTROLLER
                   ? absl::UnavailableError(message)
                   : absl::InvalidArgumentError(message);
    }
  }
  rd_kafka_event_destroy(event);
  RETURN_IF_ERROR(status);

  std::set<std::string> names;
  for (const TopicSpec& t : topics) names.insert(t.name);
  std::string missing = "no metadata yet";
  while (absl::Now() < deadline) {
    absl::StatusOr<MetadataPtr> md = AllMetadata(rk.get(), absl::Seconds(5));
    if (md.ok()) {
      missing = MissingLeaders(**md, names);
      if (missing.empty()) return absl::OkStatus();
    } else {
      missing = std::string(md.status().message());
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat("topics created but not ready: ", missing));
}

absl::Status WaitForBrokers(const KafkaSettings& settings, int brokers, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  ASSIGN_OR_RETURN(HandlePtr rk, AdminHandle(settings));
  std::string last = "no metadata";
  while (true) {
    absl::StatusOr<MetadataPtr> md = AllMetadata(rk.get(), absl::Seconds(2));
    if (md.ok()) {
      if ((*md)->broker_cnt == brokers) return absl::OkStatus();
      last = absl::StrCat((*md)->broker_cnt, " brokers");
    } else {
      last = std::string(md.status().message());
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(
      absl::StrCat("waiting for ", brokers, " brokers in metadata: last saw ", last));
}

absl::StatusOr<std::vector<int32_t>> PartitionLeaders(const KafkaSettings& settings,
                                                      const std::string& topic,
                                                      absl::Duration timeout) {
  ASSIGN_OR_RETURN(HandlePtr rk, AdminHandle(settings));
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, rkt, &raw, Millis(timeout));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("metadata of ", topic, ": ", rd_kafka_err2str(err)));
  }
  MetadataPtr md(raw);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt == 0) break;
    std::vector<int32_t> leaders(t.partition_cnt, -1);
    for (int p = 0; p < t.partition_cnt; ++p) {
      const rd_kafka_metadata_partition_t& part = t.partitions[p];
      if (part.id >= 0 && part.id < t.partition_cnt) leaders[part.id] = part.leader;
    }
    return leaders;
  }
  return absl::NotFoundError(absl::StrCat("topic ", topic, " not found"));
}

}  // namespace quoteflow::kafka
