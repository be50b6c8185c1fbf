#include "outbox-relay/kafka_publisher.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {
namespace {

// One produced message waiting for its delivery report.
struct Pending {
  Delivery* delivery = nullptr;
  int* outstanding = nullptr;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  auto* p = static_cast<Pending*>(msg->_private);
  if (p == nullptr) return;
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    p->delivery->outcome = DeliveryOutcome::kDelivered;
    p->delivery->error.clear();
  } else {
    p->delivery->outcome = IsPermanentProduceError(msg->err) ? DeliveryOutcome::kPermanent
                                                              : DeliveryOutcome::kTransient;
    const char* persisted = "";
    if (rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED) {
      persisted = " (possibly persisted)";
    }
    p->delivery->error = absl::StrCat(rd_kafka_err2name(msg->err), ": ", rd_kafka_err2str(msg->err),
                                      persisted);
  }
  --*p->outstanding;
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

std::vector<Delivery> KafkaBatchPublisher::Publish(const std::vector<OutgoingMessage>& messages,
                                                   const std::atomic<bool>& stop,
                                                   absl::Duration shutdown_grace) {
  std::vector<Delivery> deliveries(messages.size());
  std::vector<Pending> pending(messages.size());
  int outstanding = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const OutgoingMessage& m = messages[i];
    const OutboxRow& r = *m.row;
    pending[i] = {&deliveries[i], &outstanding};
    rd_kafka_resp_err_t err;
    while (true) {
      ++outstanding;  // the report may come from rd_kafka_poll before producev returns
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
          RD_KAFKA_V_OPAQUE(&pending[i]), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      --outstanding;
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !stop.load()) {
        rd_kafka_poll(rk_, 10);
        continue;
      }
      break;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      deliveries[i].outcome =
          IsPermanentProduceError(err) ? DeliveryOutcome::kPermanent : DeliveryOutcome::kTransient;
      deliveries[i].error = absl::StrCat(rd_kafka_err2name(err), ": ", rd_kafka_err2str(err));
    }
  }
  absl::Time stop_deadline = absl::InfiniteFuture();
  absl::Time next_log = absl::Now() + absl::Seconds(10);
  bool purged = false;
  while (outstanding > 0) {
    // flush() rather than poll(): it also serves the delivery reports, and it makes librdkafka send
    // what is queued at once instead of waiting out linger.ms (the batch is already complete).
    rd_kafka_flush(rk_, 50);
    absl::Time now = absl::Now();
    if (stop.load() && stop_deadline == absl::InfiniteFuture()) stop_deadline = now + shutdown_grace;
    if (!purged && now >= stop_deadline) {
      log::Warn("shutdown: purging undelivered messages", {{"outstanding", outstanding}});
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      purged = true;
    }
    if (now >= next_log) {
      log::Warn("still waiting for delivery reports", {{"outstanding", outstanding}});
      next_log = now + absl::Seconds(10);
    }
  }
  return deliveries;
}

}  // namespace quoteflow::relay
