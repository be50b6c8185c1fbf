#include "platform/messaging/kafka_admin_util.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace quoteflow::messaging::internal {
namespace {

int Millis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, 600000));
}

}  // namespace

absl::StatusOr<kafka::HandlePtr> NewAdminConsumer(
    const kafka::KafkaSettings& settings, const std::string& group_id,
    const std::function<void(rd_kafka_conf_t*)>& configure) {
  absl::StatusOr<kafka::ConfPtr> conf = settings.Build(kafka::KafkaRole::kConsumer, group_id);
  if (!conf.ok()) return conf.status();
  char errstr[512];
  if (rd_kafka_conf_set(conf->get(), "enable.auto.offset.store", "false", errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(errstr);
  }
  if (configure) configure(conf->get());
  absl::StatusOr<kafka::HandlePtr> rk = kafka::NewKafkaHandle(RD_KAFKA_CONSUMER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  rd_kafka_poll_set_consumer(rk->get());
  return rk;
}

absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic,
                                   absl::Duration timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("bad topic name '", topic, "'"));
  }
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, Millis(timeout));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("metadata for topic ", topic, ": ", rd_kafka_err2str(err)));
  }
  absl::StatusOr<int> result = absl::NotFoundError(absl::StrCat("topic ", topic, " not found"));
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0) {
      result = absl::NotFoundError(absl::StrCat("topic ", topic, " does not exist"));
    } else if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = absl::UnavailableError(
          absl::StrCat("metadata for topic ", topic, ": ", rd_kafka_err2str(t.err)));
    } else {
      result = t.partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return result;
}

absl::StatusOr<std::vector<Watermarks>> QueryWatermarks(rd_kafka_t* rk, const std::string& topic,
                                                        int partitions, absl::Duration timeout) {
  std::vector<Watermarks> out(static_cast<size_t>(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &out[p].low,
                                                               &out[p].high, Millis(timeout));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("watermarks of ", topic, "[", p, "]: ", rd_kafka_err2str(err)));
    }
  }
  return out;
}

absl::StatusOr<std::vector<kafka::MessagePtr>> ReadRanges(
    rd_kafka_t* rk, const std::string& topic, const std::map<int32_t, Watermarks>& ranges,
    absl::Time deadline) {
  kafka::TopicPartitionListPtr assignment(rd_kafka_topic_partition_list_new(1));
  std::map<int32_t, int64_t> next;  // partition -> next offset wanted
  for (const auto& [p, r] : ranges) {
    if (r.low >= r.high) continue;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = r.low;
    next[p] = r.low;
  }
  std::vector<kafka::MessagePtr> out;
  if (next.empty()) return out;
  rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_err2str(err)));
  }
  absl::Status status;
  while (!next.empty()) {
    if (absl::Now() >= deadline) {
      status = absl::DeadlineExceededError(absl::StrCat(
          "timed out reading ", topic, ": ", next.size(), " partition(s) not read to the end"));
      break;
    }
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk, 100);
    if (raw == nullptr) continue;
    kafka::MessagePtr m(raw);
    if (raw->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (raw->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = absl::UnavailableError(
          absl::StrCat("reading ", topic, ": ", rd_kafka_message_errstr(raw)));
      break;
    }
    auto it = next.find(raw->partition);
    if (it == next.end()) continue;
    const Watermarks& r = ranges.at(raw->partition);
    if (raw->offset < r.low || raw->offset >= r.high) continue;
    it->second = raw->offset + 1;
    if (it->second >= r.high) next.erase(it);
    out.push_back(std::move(m));
  }
  rd_kafka_assign(rk, nullptr);
  if (!status.ok()) return status;
  std::sort(out.begin(), out.end(), [](const kafka::MessagePtr& a, const kafka::MessagePtr& b) {
    return std::make_pair(a->partition, a->offset) < std::make_pair(b->partition, b->offset);
  });
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseFlags(
    const std::vector<std::string>& args, const std::set<std::string>& allowed,
    const std::set<std::string>& bare_flags) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!absl::StartsWith(a, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "'"));
    }
    std::string name = a.substr(2);
    std::string value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (bare_flags.count(name) > 0) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    if (allowed.count(name) == 0 && bare_flags.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
    }
    out[name] = value;
  }
  return out;
}

std::string MessageHeader(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return "";
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return "";
  }
  return std::string(static_cast<const char*>(value), size);
}

}  // namespace quoteflow::messaging::internal
