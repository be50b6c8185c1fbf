#include "outbox-relay/kafka_publisher.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "platform/kafka/kafka_config.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {
namespace {

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* t = static_cast<TrackedMessage*>(msg->_private);
  if (t == nullptr) return;
  if (kafka::IsConfirmedDelivery(msg)) {
    t->delivery.outcome = DeliveryOutcome::kDelivered;
    t->delivery.error.clear();
    t->delivery.partition = msg->partition;
    t->delivery.offset = msg->offset;
  } else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    t->delivery.outcome = DeliveryOutcome::kTransient;  // sent again
    t->delivery.error = kafka::kUnconfirmedDelivery;
  } else {
    t->delivery.outcome = IsPermanentProduceError(msg->err) ? DeliveryOutcome::kPermanent
                                                            : DeliveryOutcome::kTransient;
    const char* persisted = "";
    if (rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED) {
      persisted = " (possibly persisted)";
    }
    t->delivery.error =
        absl::StrCat(rd_kafka_err2name(msg->err), ": ", rd_kafka_err2str(msg->err), persisted);
  }
  t->done = true;
  t->completed->push_back(t->id);
  --*static_cast<int*>(opaque);
}

}  // namespace

bool IsPermanentProduceError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::unique_ptr<KafkaBatchPublisher>> KafkaBatchPublisher::Create(ConfFactory factory) {
  std::unique_ptr<KafkaBatchPublisher> p(new KafkaBatchPublisher(std::move(factory)));
  if (absl::Status s = p->Build(); !s.ok()) return s;
  return p;
}

KafkaBatchPublisher::~KafkaBatchPublisher() {
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

absl::Status KafkaBatchPublisher::Build() {
  absl::StatusOr<rd_kafka_conf_t*> conf = factory_();
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(*conf, &OnDelivery);
  rd_kafka_conf_set_opaque(*conf, &outstanding_);
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return absl::InternalError(absl::StrCat("creating the Kafka producer: ", errstr));
  }
  rk_ = rk;
  return absl::OkStatus();
}

absl::Status KafkaBatchPublisher::Recreate() {
  if (rk_ != nullptr) {
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk_, 1000);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
  return Build();
}

bool KafkaBatchPublisher::Fatal(std::string* reason) {
  char errstr[512];
  rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk_, errstr, sizeof(errstr));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  if (reason != nullptr) *reason = absl::StrCat(rd_kafka_err2name(err), ": ", errstr);
  return true;
}

void KafkaBatchPublisher::Flush(absl::Duration timeout) {
  rd_kafka_flush(rk_, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
}

void KafkaBatchPublisher::Produce(const OutgoingMessage& m, TrackedMessage* t,
                                  const std::atomic<bool>& stop) {
  const OutboxRow& r = *m.row;
  t->done = false;
  t->completed = &completed_;
  rd_kafka_resp_err_t err;
  while (true) {
    ++outstanding_;  // the report may be served by rd_kafka_poll before producev returns
    err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(r.aggregate_id.data(), r.aggregate_id.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.payload.data()), r.payload.size()),
        RD_KAFKA_V_HEADER("ce_specversion", "1.0", 3),
        RD_KAFKA_V_HEADER("ce_id", r.event_id.data(), r.event_id.size()),
        RD_KAFKA_V_HEADER("ce_type", r.event_type.data(), r.event_type.size()),
        RD_KAFKA_V_HEADER("ce_source", r.source.data(), r.source.size()),
        RD_KAFKA_V_HEADER("ce_time", r.occurred_at.data(), r.occurred_at.size()),
        RD_KAFKA_V_HEADER("content-type", "application/json", 16),
        RD_KAFKA_V_HEADER("traceparent", r.traceparent.data(), r.traceparent.size()),
        RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    --outstanding_;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !stop.load()) {
      rd_kafka_poll(rk_, 10);
      continue;
    }
    break;
  }
  t->delivery.outcome =
      IsPermanentProduceError(err) ? DeliveryOutcome::kPermanent : DeliveryOutcome::kTransient;
  t->delivery.error = absl::StrCat(rd_kafka_err2name(err), ": ", rd_kafka_err2str(err));
  t->done = true;
  completed_.push_back(t->id);
}

std::vector<int64_t> KafkaBatchPublisher::Poll(absl::Duration max) {
  const absl::Time deadline = absl::Now() + max;
  do {
    // flush() rather than poll(): it also serves the delivery reports, and it makes librdkafka
    // send what is queued at once instead of waiting out linger.ms.
    const absl::Duration left = deadline - absl::Now();
    rd_kafka_flush(rk_,
                   static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(left), 0, 50)));
    if (!completed_.empty() && outstanding_ == 0) break;
  } while (outstanding_ > 0 && absl::Now() < deadline);
  if (outstanding_ == 0) rd_kafka_poll(rk_, 0);
  std::vector<int64_t> out;
  out.swap(completed_);
  return out;
}

void KafkaBatchPublisher::Purge() {
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

}  // namespace quoteflow::relay
