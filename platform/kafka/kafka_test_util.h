// Test helpers for code that talks to a (mock) Kafka cluster: a producer whose Produce() waits for
// the delivery report, a consumer that collects messages until a deadline, and topic metadata.
// Header-only, for tests only. Thread-safety: one object per thread.
#ifndef QUOTEFLOW_PLATFORM_KAFKA_KAFKA_TEST_UTIL_H_
#define QUOTEFLOW_PLATFORM_KAFKA_KAFKA_TEST_UTIL_H_

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "domain/status_macros.h"
#include "platform/kafka/kafka_config.h"

namespace quoteflow::kafka::testing {

// Outcome of one delivery report.
struct Delivery {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  int32_t partition = -1;
  int64_t offset = -1;
};

inline void DeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  d->done = true;
  d->err = m->err;
  d->partition = m->partition;
  d->offset = m->offset;
}

class TestProducer {
 public:
  // Builds an idempotent producer from `settings` (plus `extra` properties).
  static absl::StatusOr<TestProducer> Create(const KafkaSettings& settings) {
    ASSIGN_OR_RETURN(ConfPtr conf, settings.Build(KafkaRole::kProducer));
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &DeliveryReport);
    ASSIGN_OR_RETURN(HandlePtr rk, NewKafkaHandle(RD_KAFKA_PRODUCER, std::move(conf)));
    return TestProducer(std::move(rk));
  }

  // Enqueues one message without waiting. `d` must outlive its delivery report.
  absl::Status Send(const std::string& topic, const std::string& key, const std::string& value,
                    Delivery* d) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (err) return absl::UnavailableError(absl::StrCat("producev: ", rd_kafka_err2name(err)));
    return absl::OkStatus();
  }

  // Serves delivery reports until all of `ds` are done or `deadline` passes (DEADLINE_EXCEEDED).
  absl::Status AwaitAll(const std::vector<Delivery*>& ds, absl::Time deadline) {
    while (true) {
      bool all = true;
      for (const Delivery* d : ds) all = all && d->done;
      if (all) return absl::OkStatus();
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("delivery reports missing");
      rd_kafka_poll(rk_.get(), 20);
    }
  }

  // Sends one message and waits for its report; returns the report (check `err`).
  absl::StatusOr<Delivery> Produce(const std::string& topic, const std::string& key,
                                   const std::string& value, absl::Time deadline) {
    Delivery d;
    RETURN_IF_ERROR(Send(topic, key, value, &d));
    RETURN_IF_ERROR(AwaitAll({&d}, deadline));
    return d;
  }

  // Polls for `d` until `until`; true when its report arrived (used to check that nothing is
  // delivered while a fault lasts).
  bool DeliveredBy(Delivery* d, absl::Time until) { return AwaitAll({d}, until).ok(); }

  // Partition count of `topic` from a fresh Metadata request naming it (which lets the broker
  // auto-create it when this producer's allow.auto.create.topics is true). NOT_FOUND if the
  // broker reports it unknown.
  absl::StatusOr<int> PartitionCount(const std::string& topic, absl::Duration timeout) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(
        rk_.get(), 0, rkt, &md, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    rd_kafka_topic_destroy(rkt);
    if (err) return absl::UnavailableError(absl::StrCat("metadata: ", rd_kafka_err2name(err)));
    absl::StatusOr<int> result = absl::NotFoundError(topic);
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = md->topics[0].partition_cnt;
    } else if (md->topic_cnt == 1) {
      result = absl::NotFoundError(absl::StrCat(topic, ": ", rd_kafka_err2name(md->topics[0].err)));
    }
    rd_kafka_metadata_destroy(md);
    return result;
  }

  rd_kafka_t* get() { return rk_.get(); }

 private:
  explicit TestProducer(HandlePtr rk) : rk_(std::move(rk)) {}
  HandlePtr rk_;
};

struct Consumed {
  std::string topic;
  int32_t partition;
  int64_t offset;
  std::string key;
  std::string value;
};

class TestConsumer {
 public:
  static absl::StatusOr<TestConsumer> Create(const KafkaSettings& settings,
                                             const std::string& group,
                                             const std::vector<std::string>& topics) {
    ASSIGN_OR_RETURN(ConfPtr conf, settings.Build(KafkaRole::kConsumer, group));
    ASSIGN_OR_RETURN(HandlePtr rk, NewKafkaHandle(RD_KAFKA_CONSUMER, std::move(conf)));
    rd_kafka_poll_set_consumer(rk.get());
    TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const std::string& t : topics) {
      rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk.get(), list.get())) {
      return absl::InvalidArgumentError(absl::StrCat("subscribe: ", rd_kafka_err2name(err)));
    }
    return TestConsumer(std::move(rk));
  }

  // Collects messages until `count` arrived or `deadline` passed (then DEADLINE_EXCEEDED with
  // how many arrived). Commits each one synchronously. Consumer errors other than partition EOF
  // are returned as UNAVAILABLE only if `fail_on_error`.
  absl::StatusOr<std::vector<Consumed>> Collect(size_t count, absl::Time deadline,
                                                bool fail_on_error = false) {
    std::vector<Consumed> out;
    while (out.size() < count) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("consumed ", out.size(), " of ", count, " messages"));
      }
      MessagePtr m(rd_kafka_consumer_poll(rk_.get(), 50));
      if (m == nullptr) continue;
      if (m->err) {
        last_error_ = m->err;
        if (fail_on_error && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          return absl::UnavailableError(rd_kafka_err2name(m->err));
        }
        continue;
      }
      Consumed c;
      c.topic = rd_kafka_topic_name(m->rkt);
      c.partition = m->partition;
      c.offset = m->offset;
      if (m->key) c.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) c.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_commit_message(rk_.get(), m.get(), /*async=*/0);
      out.push_back(std::move(c));
    }
    return out;
  }

  rd_kafka_resp_err_t last_error() const { return last_error_; }
  rd_kafka_t* get() { return rk_.get(); }

 private:
  explicit TestConsumer(HandlePtr rk) : rk_(std::move(rk)) {}
  HandlePtr rk_;
  rd_kafka_resp_err_t last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
};

}  // namespace quoteflow::kafka::testing

#endif  // QUOTEFLOW_PLATFORM_KAFKA_KAFKA_TEST_UTIL_H_
