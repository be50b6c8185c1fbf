#include "platform/messaging/inbox_consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "platform/events/command_codec.h"
#include "platform/events/event_codec.h"
#include "platform/messaging/dlq_headers.h"
#include "platform/messaging/version_tracker.h"
#include "platform/observability/log.h"
#include "platform/postgres/pg_array.h"

namespace quoteflow::messaging {
namespace {

// rd_kafka_rebalance_protocol() is NULL while the consumer closes (and outside a group).
bool IsCooperative(rd_kafka_t* rk) {
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

constexpr int kPollSliceMs = 100;
constexpr int kCommittedQueryTimeoutMs = 1000;
constexpr size_t kMaxReasonBytes = 2000;

bool IsPoison(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

bool IsPlainIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string HeaderValue(rd_kafka_message_t* m, const char* name) {
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

absl::Duration Doubled(absl::Duration d, absl::Duration cap) { return std::min(d * 2, cap); }

using TopicPartition = std::pair<std::string, int32_t>;

std::string TpName(const TopicPartition& tp) { return absl::StrCat(tp.first, "[", tp.second, "]"); }

std::string DescribeList(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<std::string> names;
  for (int i = 0; i < parts->cnt; ++i) {
    names.push_back(TpName({parts->elems[i].topic, parts->elems[i].partition}));
  }
  return absl::StrJoin(names, ",");
}

struct DlqDelivery {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// DeadLetter() waits for each record's report before producing the next, so librdkafka never has
// a later request to ack one by ("implicit ack", kafka::IsConfirmedDelivery): err is the outcome.
void DlqDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<DlqDelivery*>(m->_private);
  if (d == nullptr) return;
  d->err = m->err;
  d->done = true;
}

}  // namespace

std::string InboxConsumerStats::ToJson() const {
  std::string out = "{";
  auto add = [&out](const char* k, int64_t v) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, "\"", k, "\":", v);
  };
  add("handled", handled.load());
  add("duplicates", duplicates.load());
  add("skipped", skipped.load());
  add("retries", retries.load());
  add("transient_errors", transient_errors.load());
  add("poison_errors", poison_errors.load());
  add("dead_lettered", dead_lettered.load());
  add("version_gaps", version_gaps.load());
  add("stale_versions", stale_versions.load());
  add("transactions", transactions.load());
  add("rebalances", rebalances.load());
  add("assigned_partitions", assigned_partitions.load());
  add("offset_commits", offset_commits.load());
  add("lag", lag.load());
  absl::StrAppend(&out, ",\"running\":", running.load() ? "true" : "false",
                  ",\"waiting_on_record\":", waiting_on_record.load() ? "true" : "false", "}");
  return out;
}

std::vector<PartitionLag> InboxConsumerStats::PartitionLags() const {
  absl::MutexLock lock(&mu_);
  return partition_lags_;
}

void InboxConsumerStats::SetPartitionLags(std::vector<PartitionLag> lags) {
  std::sort(lags.begin(), lags.end(), [](const PartitionLag& a, const PartitionLag& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  const int64_t total = TotalLag(lags);
  absl::MutexLock lock(&mu_);
  partition_lags_ = std::move(lags);
  lag = total;
}

// Everything one Run() needs: the librdkafka handles, the assignment, the records in memory.
class InboxConsumer::Session {
 public:
  explicit Session(InboxConsumer& owner)
      : owner_(owner),
        opt_(owner.options_),
        stats_(owner.stats_),
        tracker_(static_cast<size_t>(opt_.version_tracker_capacity)),
        inbox_statement_(absl::StrCat("quoteflow_inbox_insert_", opt_.schema)),
        // The batch's inbox rows in one statement, in batch order (applied_seq follows it);
        // RETURNING names the ids that were new.
        inbox_sql_(absl::StrCat("INSERT INTO ", opt_.schema,
                                ".inbox (consumer, event_id) SELECT $1, e FROM unnest($2::text[]) "
                                "WITH ORDINALITY AS u(e, n) ORDER BY n "
                                "ON CONFLICT DO NOTHING RETURNING event_id")) {}

  ~Session() {
    if (producer_ != nullptr) {
      rd_kafka_flush(producer_.get(), 1000);
    }
  }

  absl::Status Start() {
    absl::StatusOr<kafka::ConfPtr> conf =
        owner_.kafka_.Build(kafka::KafkaRole::kConsumer, owner_.group_id_);
    if (!conf.ok()) return conf.status();
    char errstr[512];
    if (rd_kafka_conf_set(conf->get(), "enable.auto.offset.store", "false", errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      return absl::InternalError(absl::StrCat("enable.auto.offset.store: ", errstr));
    }
    rd_kafka_conf_set_opaque(conf->get(), this);
    rd_kafka_conf_set_rebalance_cb(conf->get(), &Session::RebalanceCallback);
    rd_kafka_conf_set_offset_commit_cb(conf->get(), &Session::CommitCallback);
    absl::StatusOr<kafka::HandlePtr> rk =
        kafka::NewKafkaHandle(RD_KAFKA_CONSUMER, *std::move(conf));
    if (!rk.ok()) return absl::InternalError(rk.status().message());
    consumer_ = *std::move(rk);
    rd_kafka_poll_set_consumer(consumer_.get());

    kafka::TopicPartitionListPtr topics(
        rd_kafka_topic_partition_list_new(static_cast<int>(opt_.topics.size())));
    for (const std::string& t : opt_.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(absl::StrCat("subscribing to ", absl::StrJoin(opt_.topics, ","),
                                              ": ", rd_kafka_err2str(err)));
    }
    stats_.running = true;
    log::Info("inbox consumer started", {{"consumer", opt_.consumer},
                                         {"group", owner_.group_id_},
                                         {"topics", absl::StrJoin(opt_.topics, ",")},
                                         {"schema", opt_.schema},
                                         {"max_batch", opt_.max_batch}});
    next_commit_ = absl::Now() + opt_.commit_interval;
    next_stats_ = opt_.stats_interval > absl::ZeroDuration() ? absl::Now() + opt_.stats_interval
                                                             : absl::InfiniteFuture();
    next_lag_ = absl::Now() + absl::Seconds(1);
    return absl::OkStatus();
  }

  absl::Status Loop(const std::atomic<bool>& stop) {
    while (!stop.load()) {
      if (queue_.empty()) PollBatch();
      if (!Process(stop)) break;
      Housekeeping();
      char errstr[512];
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(consumer_.get(), errstr, sizeof(errstr));
      if (fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::InternalError(absl::StrCat("fatal Kafka consumer error: ", errstr));
      }
    }
    return absl::OkStatus();
  }

  void Close() {
    queue_.clear();
    if (paused_) Resume();
    CommitNow(/*sync=*/true, "shutdown");
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log::Warn("closing the Kafka consumer", {{"error", rd_kafka_err2str(err)}});
    }
    assigned_.clear();  // closed: no partition is ours any more, and its lag is not exported
    RefreshLag();
    stats_.running = false;
    stats_.assigned_partitions = 0;
    log::Info("inbox consumer stopped", {{"consumer", opt_.consumer}, {"stats", stats_.ToJson()}});
  }

 private:
  // One assigned partition (reset on each assignment).
  struct PartitionState {
    uint64_t epoch = 0;
    // The next offset to apply (partition_lag.h); -1 until known.
    int64_t next_offset = -1;
    bool fetched = false;  // a record of this assignment was polled
    // The group's committed offset, once asked (only while nothing was fetched).
    bool committed_known = false;
    int64_t committed = RD_KAFKA_OFFSET_INVALID;
  };

  // One fetched record, decoded.
  struct Record {
    kafka::MessagePtr msg;
    TopicPartition tp;
    int64_t offset = 0;
    uint64_t epoch = 0;          // assignment epoch of its partition when it was fetched
    absl::Status decode_status;  // not OK: poison
    bool wanted = false;
    InboundEvent event;
  };

  enum class Outcome { kDone, kStopped, kDropped };

  static void RebalanceCallback(rd_kafka_t*, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Session*>(opaque)->OnRebalance(err, parts);
  }

  static void CommitCallback(rd_kafka_t*, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    static_cast<Session*>(opaque)->OnCommitted(err, offsets);
  }

  void OnCommitted(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) {
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    bool partial = false;
    if (offsets != nullptr) {
      for (int i = 0; i < offsets->cnt; ++i) partial |= offsets->elems[i].err != 0;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && !partial) {
      ++stats_.offset_commits;
      return;
    }
    offsets_dirty_ = true;  // try again with the next commit
    log::Warn("offset commit failed; will retry",
              {{"consumer", opt_.consumer}, {"error", rd_kafka_err2str(err)}});
  }

  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    ++stats_.rebalances;
    rd_kafka_t* rk = consumer_.get();
    bool cooperative = IsCooperative(rk);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) {
        assigned_[{parts->elems[i].topic, parts->elems[i].partition}] =
            PartitionState{.epoch = ++epoch_counter_};
      }
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
          log::Error("incremental assign failed", {{"error", rd_kafka_error_string(e)}});
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, parts);
      }
      // librdkafka keeps a partition's pause flag across revoke and assign: one paused while a
      // record was retried, revoked, and assigned back would otherwise never be fetched again.
      if (paused_) {
        rd_kafka_pause_partitions(rk, parts);
      } else {
        rd_kafka_resume_partitions(rk, parts);
      }
      log::Info(
          "partitions assigned",
          {{"consumer", opt_.consumer}, {"partitions", DescribeList(parts)}, {"paused", paused_}});
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      if (!rd_kafka_assignment_lost(rk)) {
        CommitNow(/*sync=*/true, "revoke");
      } else {
        log::Warn("assignment lost; offsets not committed", {{"consumer", opt_.consumer}});
      }
      for (int i = 0; i < parts->cnt; ++i) {
        assigned_.erase({parts->elems[i].topic, parts->elems[i].partition});
      }
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
          log::Error("incremental unassign failed", {{"error", rd_kafka_error_string(e)}});
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, nullptr);
        assigned_.clear();
      }
      log::Info("partitions revoked",
                {{"consumer", opt_.consumer}, {"partitions", DescribeList(parts)}});
    } else {
      log::Error("rebalance error",
                 {{"consumer", opt_.consumer}, {"error", rd_kafka_err2str(err)}});
      rd_kafka_assign(rk, nullptr);
      assigned_.clear();
    }
    stats_.assigned_partitions = static_cast<int64_t>(assigned_.size());
  }

  bool Owns(const Record& r) const {
    auto it = assigned_.find(r.tp);
    return it != assigned_.end() && it->second.epoch == r.epoch;
  }

  // Polls one message (waiting up to `timeout_ms`) into queue_. False when none came.
  bool PollOne(int timeout_ms) {
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(consumer_.get(), timeout_ms);
    if (raw == nullptr) return false;
    kafka::MessagePtr msg(raw);
    if (raw->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (raw->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return true;
      absl::Time now = absl::Now();
      if (now >= next_error_log_) {
        log::Warn("Kafka consumer error",
                  {{"consumer", opt_.consumer},
                   {"topic", raw->rkt != nullptr ? rd_kafka_topic_name(raw->rkt) : ""},
                   {"error", rd_kafka_err2name(raw->err)},
                   {"message", rd_kafka_message_errstr(raw)}});
        next_error_log_ = now + absl::Seconds(10);
      }
      return true;
    }
    Record r;
    r.tp = {rd_kafka_topic_name(raw->rkt), raw->partition};
    r.offset = raw->offset;
    auto it = assigned_.find(r.tp);
    r.epoch = it == assigned_.end() ? 0 : it->second.epoch;
    if (it != assigned_.end() && !it->second.fetched) {
      // Where this assignment's consumption really starts (the committed offset may have been
      // out of range and reset).
      it->second.fetched = true;
      it->second.next_offset = r.offset;
    }
    absl::string_view value;
    if (raw->payload != nullptr) value = {static_cast<const char*>(raw->payload), raw->len};
    if (value.empty()) {
      r.decode_status = absl::InvalidArgumentError("empty record value");
    } else {
      absl::StatusOr<DomainEvent> ev = DecodeEnvelope(value);
      absl::StatusOr<SagaCommand> command = absl::InvalidArgumentError("not a command");
      if (!ev.ok()) command = DecodeCommandEnvelope(value);
      if (command.ok()) {
        // A command (saga orchestration): the inbox deduplicates it by its command id.
        r.event.event = DomainEvent{.event_id = command->command_id,
                                    .quote_id = command->quote_id,
                                    .occurred_at = command->issued_at};
        r.wanted = owner_.handler_.Wants(command->type());
        r.event.command = *std::move(command);
      } else if (!ev.ok()) {
        r.decode_status = ev.status();
      } else {
        r.event.event = *std::move(ev);
        r.wanted = owner_.handler_.Wants(r.event.event.type());
      }
    }
    r.event.topic = r.tp.first;
    r.event.partition = r.tp.second;
    r.event.offset = r.offset;
    r.event.traceparent = HeaderValue(raw, "traceparent");
    r.msg = std::move(msg);
    queue_.push_back(std::move(r));
    return true;
  }

  void PollBatch() {
    if (!PollOne(kPollSliceMs)) return;
    while (static_cast<int>(queue_.size()) < opt_.max_batch && PollOne(0)) {
    }
  }

  // Applies queue_ in order. False when `stop` interrupted it (the rest stays unapplied).
  bool Process(const std::atomic<bool>& stop) {
    while (!queue_.empty()) {
      if (stop.load()) return false;
      Record& front = queue_.front();
      if (!Owns(front)) {
        queue_.pop_front();
        continue;
      }
      if (!front.decode_status.ok()) {
        ++stats_.poison_errors;
        log::Warn("undecodable record", {{"consumer", opt_.consumer},
                                         {"topic", front.tp.first},
                                         {"partition", front.tp.second},
                                         {"offset", static_cast<long long>(front.offset)},
                                         {"error", front.decode_status.ToString()}});
        Outcome o =
            DeadLetter(front, absl::StrCat("decode: ", front.decode_status.ToString()), 1, stop);
        if (o == Outcome::kStopped) return false;
        if (o == Outcome::kDone) StoreOffset(front);
        queue_.pop_front();
        Resume();
        continue;
      }
      if (!front.wanted) {
        ++stats_.skipped;
        Observe(front, /*duplicate=*/false, /*skipped=*/true);
        StoreOffset(front);
        queue_.pop_front();
        continue;
      }
      size_t n = 1;
      if (one_by_one_ == 0) {
        while (n < queue_.size() && static_cast<int>(n) < opt_.max_batch) {
          const Record& r = queue_[n];
          if (!Owns(r) || !r.decode_status.ok() || !r.wanted) break;
          ++n;
        }
      }
      if (n > 1) {
        std::vector<Record*> batch;
        for (size_t i = 0; i < n; ++i) batch.push_back(&queue_[i]);
        std::vector<bool> dup;
        absl::Status s = Apply(batch, &dup);
        if (s.ok()) {
          for (size_t i = 0; i < n; ++i) Finish(queue_[i], dup[i]);
          queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
          continue;
        }
        log::Info("batch failed; applying its records one per transaction",
                  {{"consumer", opt_.consumer},
                   {"records", static_cast<long long>(n)},
                   {"error", s.ToString()}});
        one_by_one_ = n;
      }
      Outcome o = ApplyWithRetries(front, stop);
      if (o == Outcome::kStopped) return false;
      queue_.pop_front();
      if (one_by_one_ > 0) --one_by_one_;
    }
    return true;
  }

  // One transaction over `batch`: the inbox rows of all its records in one statement, then the
  // handler for each new event id, in order. `dup` receives, per record, whether its event id was
  // already in the inbox (or earlier in the batch).
  absl::Status Apply(const std::vector<Record*>& batch, std::vector<bool>* dup) {
    dup->assign(batch.size(), false);
    std::vector<std::string> ids;
    ids.reserve(batch.size());
    for (const Record* r : batch) ids.push_back(r->event.event.event_id);
    const std::string ids_literal = TextArrayLiteral(ids);
    AfterCommit after_commit;
    PendingOutboxRows outbox_rows;
    for (Record* r : batch) {
      r->event.after_commit = &after_commit;
      r->event.outbox_rows = &outbox_rows;
    }
    absl::Status s = owner_.pool_.Run(absl::Now() + opt_.acquire_timeout, "applying events",
                                      [&](pqxx::connection& conn) -> absl::Status {
                                        after_commit.Clear();
                                        outbox_rows.Clear();
                                        // Prepared (one per schema): pqxx registers it on the
                                        // connection, the server parses and plans it once.
                                        conn.prepare(inbox_statement_, inbox_sql_);
                                        pqxx::work tx(conn);
                                        std::set<std::string> inserted;
                                        for (const pqxx::row& row :
                                             tx.exec_prepared(inbox_statement_, opt_.consumer,
                                                              ids_literal)) {
                                          inserted.insert(row[0].as<std::string>());
                                        }
                                        std::vector<const InboundEvent*> fresh;
                                        fresh.reserve(batch.size());
                                        for (size_t i = 0; i < batch.size(); ++i) {
                                          // A second copy of an id in the batch is a duplicate.
                                          auto it = inserted.find(ids[i]);
                                          if (it == inserted.end()) {
                                            (*dup)[i] = true;
                                            continue;
                                          }
                                          inserted.erase(it);
                                          fresh.push_back(&batch[i]->event);
                                        }
                                        if (!fresh.empty()) {
                                          absl::Status hs = owner_.handler_.HandleBatch(tx, fresh);
                                          if (!hs.ok()) return hs;
                                          outbox_rows.Flush(tx);
                                        }
                                        tx.commit();
                                        return absl::OkStatus();
                                      });
    for (Record* r : batch) {
      r->event.after_commit = nullptr;
      r->event.outbox_rows = nullptr;
    }
    if (s.ok()) {
      ++stats_.transactions;
      after_commit.Run();
    }
    return s;
  }

  Outcome ApplyWithRetries(Record& r, const std::atomic<bool>& stop) {
    int poison_attempts = 0;
    int transient_attempts = 0;
    absl::Duration backoff = opt_.min_backoff;
    while (true) {
      if (!Owns(r)) {
        Resume();
        return Outcome::kDropped;
      }
      std::vector<bool> dup;
      absl::Status s = Apply({&r}, &dup);
      if (s.ok()) {
        if (transient_attempts > 0) {
          log::Info("record applied after retries",
                    {{"consumer", opt_.consumer},
                     {"event_id", r.event.event.event_id},
                     {"attempts", transient_attempts + poison_attempts + 1}});
        }
        Finish(r, dup[0]);
        Resume();
        return Outcome::kDone;
      }
      absl::Duration delay;
      if (IsPoison(s)) {
        ++stats_.poison_errors;
        ++poison_attempts;
        log::Warn("handler rejected event", {{"consumer", opt_.consumer},
                                             {"event_id", r.event.event.event_id},
                                             {"event_type", r.event.event.type()},
                                             {"topic", r.tp.first},
                                             {"partition", r.tp.second},
                                             {"offset", static_cast<long long>(r.offset)},
                                             {"attempt", poison_attempts},
                                             {"error", s.ToString()}});
        if (poison_attempts >= opt_.max_poison_attempts) {
          Outcome o = DeadLetter(r, absl::StrCat("handler: ", s.ToString()),
                                 poison_attempts + transient_attempts, stop);
          // Not observed for gap detection: it was not applied, so the aggregate's next
          // version shows up as a gap, and a later redrive of it as a stale version.
          if (o == Outcome::kDone) StoreOffset(r);
          Resume();
          return o;
        }
        delay = opt_.min_backoff;
        for (int i = 1; i < poison_attempts; ++i) delay = Doubled(delay, opt_.max_backoff);
      } else {
        ++stats_.transient_errors;
        ++transient_attempts;
        if (transient_attempts == 1 || transient_attempts % 10 == 0) {
          log::Warn("transient error; retrying the same record",
                    {{"consumer", opt_.consumer},
                     {"event_id", r.event.event.event_id},
                     {"topic", r.tp.first},
                     {"partition", r.tp.second},
                     {"offset", static_cast<long long>(r.offset)},
                     {"attempt", transient_attempts},
                     {"backoff_ms", static_cast<long long>(absl::ToInt64Milliseconds(backoff))},
                     {"error", s.ToString()}});
        }
        delay = backoff;
        backoff = Doubled(backoff, opt_.max_backoff);
      }
      ++stats_.retries;
      if (!WaitHolding(absl::Now() + delay, stop, nullptr)) return Outcome::kStopped;
    }
  }

  // Waits until `deadline` (or until `done` returns true) while holding a record: every assigned
  // partition is paused, and the consumer keeps polling (group membership, rebalances); whatever
  // it still returns is queued behind. False when `stop` was set.
  bool WaitHolding(absl::Time deadline, const std::atomic<bool>& stop,
                   const std::function<bool()>& done) {
    Pause();
    while (true) {
      if (done && done()) return true;
      if (stop.load()) return false;
      absl::Time now = absl::Now();
      if (now >= deadline) return true;
      int slice = static_cast<int>(
          std::min<int64_t>(kPollSliceMs, absl::ToInt64Milliseconds(deadline - now) + 1));
      if (producer_ != nullptr) rd_kafka_poll(producer_.get(), 0);
      if (done) slice = std::min(slice, 10);
      PollOne(slice);
      Housekeeping();
    }
  }

  void Pause() {
    if (paused_) return;
    rd_kafka_topic_partition_list_t* parts = nullptr;
    if (rd_kafka_assignment(consumer_.get(), &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      kafka::TopicPartitionListPtr owned(parts);
      rd_kafka_pause_partitions(consumer_.get(), parts);
    }
    paused_ = true;
    stats_.waiting_on_record = true;
  }

  void Resume() {
    if (!paused_) return;
    rd_kafka_topic_partition_list_t* parts = nullptr;
    if (rd_kafka_assignment(consumer_.get(), &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      kafka::TopicPartitionListPtr owned(parts);
      rd_kafka_resume_partitions(consumer_.get(), parts);
    }
    paused_ = false;
    stats_.waiting_on_record = false;
  }

  // A size refusal, by librdkafka (message.max.bytes) or by the broker (the topic's
  // max.message.bytes): retrying the same copy can never succeed.
  static bool IsTooLarge(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
  }

  // Enqueues the dead-letter copy of `r` (trimmed: key only, dlq_* headers only) with its
  // delivery report pointing at `d`. librdkafka's error when it refused to enqueue it.
  rd_kafka_resp_err_t ProduceDeadLetter(Record& r, const std::string& dlq_topic,
                                        const std::string& reason, int attempts, bool trimmed,
                                        DlqDelivery* d) {
    rd_kafka_message_t* m = r.msg.get();
    rd_kafka_headers_t* original = nullptr;
    rd_kafka_headers_t* hdrs =
        !trimmed && rd_kafka_message_headers(m, &original) == RD_KAFKA_RESP_ERR_NO_ERROR
            ? rd_kafka_headers_copy(original)
            : rd_kafka_headers_new(10);
    std::vector<std::pair<const char*, std::string>> extra = {
        {kDlqReasonHeader, reason},
        {kDlqConsumerHeader, opt_.consumer},
        {kDlqOriginalTopicHeader, r.tp.first},
        {kDlqOriginalPartitionHeader, absl::StrCat(r.tp.second)},
        {kDlqOriginalOffsetHeader, absl::StrCat(r.offset)},
        {kDlqAttemptsHeader, absl::StrCat(attempts)},
        {kDlqFailedAtHeader, FormatRfc3339(absl::Now())},
    };
    if (trimmed) {
      extra.push_back({kDlqTrimmedHeader, "true"});
      extra.push_back({kDlqOriginalBytesHeader, absl::StrCat(m->len)});
    }
    for (const auto& [k, v] : extra) rd_kafka_header_add(hdrs, k, -1, v.data(), v.size());
    constexpr size_t kMaxTrimmedKeyBytes = 4096;
    const size_t key_len = trimmed ? std::min(m->key_len, kMaxTrimmedKeyBytes) : m->key_len;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(dlq_topic.c_str()), RD_KAFKA_V_KEY(m->key, key_len),
        RD_KAFKA_V_VALUE(trimmed ? nullptr : m->payload, trimmed ? 0 : m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(hdrs);
    return err;
  }

  absl::Status EnsureProducer() {
    if (producer_ != nullptr) return absl::OkStatus();
    absl::StatusOr<kafka::ConfPtr> conf = owner_.kafka_.Build(kafka::KafkaRole::kProducer);
    if (!conf.ok()) return conf.status();
    char errstr[512];
    std::string timeout = absl::StrCat(absl::ToInt64Milliseconds(opt_.dlq_delivery_timeout));
    if (rd_kafka_conf_set(conf->get(), "message.timeout.ms", timeout.c_str(), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("message.timeout.ms: ", errstr));
    }
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &DlqDeliveryReport);
    absl::StatusOr<kafka::HandlePtr> rk =
        kafka::NewKafkaHandle(RD_KAFKA_PRODUCER, *std::move(conf));
    if (!rk.ok()) return rk.status();
    producer_ = *std::move(rk);
    return absl::OkStatus();
  }

  // Produces `r` to its dead-letter topic and waits for the delivery report; retries (with
  // backoff, forever) until it is delivered. A copy the producer or the topic refuses for its size
  // is sent again at once as a trimmed copy (dlq_headers.h), so that an oversized poison record
  // cannot hold its partitions back; a producer in a fatal state is recreated. kStopped when
  // `stop` interrupted it.
  Outcome DeadLetter(Record& r, std::string reason, int attempts, const std::atomic<bool>& stop) {
    if (reason.size() > kMaxReasonBytes) reason.resize(kMaxReasonBytes);
    const std::string dlq_topic = r.tp.first + opt_.dlq_suffix;
    absl::Duration backoff = opt_.min_backoff;
    bool trimmed = false;
    for (int round = 1;; ++round) {
      absl::Status ps = EnsureProducer();
      rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
      DlqDelivery d;
      if (ps.ok()) {
        err = ProduceDeadLetter(r, dlq_topic, reason, attempts, trimmed, &d);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          bool waited = WaitHolding(absl::InfiniteFuture(), stop, [&d] { return d.done; });
          if (!waited) {
            // Stopping: withdraw the message so that the report (which points at `d`) arrives now.
            rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            absl::Time give_up = absl::Now() + absl::Seconds(5);
            while (!d.done && absl::Now() < give_up) rd_kafka_poll(producer_.get(), 10);
            if (!d.done) {
              // Never leave the report pointing at a dead stack frame.
              producer_.reset();
            }
            if (d.done && d.err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            return Outcome::kStopped;
          }
          err = d.err;
        }
      }
      if (ps.ok() && err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      std::string why = ps.ok() ? absl::StrCat(rd_kafka_err2name(err), ": ", rd_kafka_err2str(err))
                                : ps.ToString();
      if (ps.ok() && !trimmed && IsTooLarge(err)) {
        log::Warn("dead-letter copy too large; sending a trimmed copy",
                  {{"consumer", opt_.consumer},
                   {"dlq_topic", dlq_topic},
                   {"bytes", static_cast<long long>(r.msg->len)},
                   {"error", why}});
        trimmed = true;
        absl::StrAppend(&reason, " [trimmed copy: the original (", r.msg->len,
                        " bytes) could not be dead-lettered: ", rd_kafka_err2name(err), "]");
        continue;
      }
      char fatal[256];
      if (producer_ != nullptr &&
          rd_kafka_fatal_error(producer_.get(), fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log::Error("dead-letter producer in a fatal state; recreating it",
                   {{"consumer", opt_.consumer}, {"error", fatal}});
        producer_.reset();
      }
      log::Error("dead-letter produce failed; retrying",
                 {{"consumer", opt_.consumer},
                  {"dlq_topic", dlq_topic},
                  {"attempt", round},
                  {"error", why},
                  {"hint", "the dead-letter topic must exist (create it like the source topic)"}});
      ++stats_.retries;
      if (!WaitHolding(absl::Now() + backoff, stop, nullptr)) return Outcome::kStopped;
      backoff = Doubled(backoff, opt_.max_backoff);
      if (!Owns(r)) return Outcome::kDropped;
    }
    ++stats_.dead_lettered;
    log::Error("record dead-lettered",
               {{"consumer", opt_.consumer},
                {"dlq_topic", dlq_topic},
                {"topic", r.tp.first},
                {"partition", r.tp.second},
                {"offset", static_cast<long long>(r.offset)},
                {"event_id", r.decode_status.ok() ? r.event.event.event_id : std::string()},
                {"attempts", attempts},
                {"reason", reason}});
    return Outcome::kDone;
  }

  void Finish(Record& r, bool duplicate) {
    if (duplicate) {
      ++stats_.duplicates;
      log::Debug("inbox duplicate", {{"consumer", opt_.consumer},
                                     {"event_id", r.event.event.event_id},
                                     {"topic", r.tp.first},
                                     {"partition", r.tp.second},
                                     {"offset", static_cast<long long>(r.offset)}});
    } else {
      ++stats_.handled;
    }
    Observe(r, duplicate, /*skipped=*/false);
    StoreOffset(r);
  }

  // Gap detection. Stale versions are only judged for events that went through the inbox (a
  // duplicate event id there is a plain redelivery, not a stale version).
  void Observe(const Record& r, bool duplicate, bool skipped) {
    const DomainEvent& ev = r.event.event;
    if (!r.decode_status.ok() || r.event.command.has_value()) return;  // commands have no version
    std::string key = absl::StrCat(ev.aggregate_type(), "/", ev.aggregate_id);
    VersionObservation o = tracker_.Observe(key, r.epoch, ev.aggregate_version);
    if (o.verdict == VersionVerdict::kGap) {
      ++stats_.version_gaps;
      log::Warn("version gap", {{"consumer", opt_.consumer},
                                {"aggregate_type", ev.aggregate_type()},
                                {"aggregate_id", ev.aggregate_id},
                                {"expected", static_cast<long long>(o.last + 1)},
                                {"got", static_cast<long long>(ev.aggregate_version)},
                                {"event_id", ev.event_id},
                                {"event_type", ev.type()},
                                {"topic", r.tp.first},
                                {"partition", r.tp.second},
                                {"offset", static_cast<long long>(r.offset)}});
    } else if (o.verdict == VersionVerdict::kStale && !duplicate && !skipped) {
      ++stats_.stale_versions;
      log::Warn("stale version", {{"consumer", opt_.consumer},
                                  {"aggregate_type", ev.aggregate_type()},
                                  {"aggregate_id", ev.aggregate_id},
                                  {"last", static_cast<long long>(o.last)},
                                  {"got", static_cast<long long>(ev.aggregate_version)},
                                  {"event_id", ev.event_id},
                                  {"event_type", ev.type()},
                                  {"topic", r.tp.first},
                                  {"partition", r.tp.second},
                                  {"offset", static_cast<long long>(r.offset)}});
    }
  }

  void StoreOffset(const Record& r) {
    if (!Owns(r)) return;
    assigned_[r.tp].next_offset = r.offset + 1;  // applied (or skipped, or dead-lettered)
    kafka::TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), r.tp.first.c_str(), r.tp.second)->offset =
        r.offset + 1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer_.get(), list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log::Debug("offset not stored (partition no longer assigned)",
                 {{"partition", TpName(r.tp)},
                  {"error", rd_kafka_err2str(
                                err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : list->elems[0].err)}});
      return;
    }
    offsets_dirty_ = true;
  }

  void CommitNow(bool sync, const char* why) {
    if (!offsets_dirty_ && !sync) return;
    offsets_dirty_ = false;
    next_commit_ = absl::Now() + opt_.commit_interval;
    rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), nullptr, sync ? 0 : 1);
    if (!sync) return;  // the result arrives in CommitCallback
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++stats_.offset_commits;
    } else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      log::Warn("offset commit failed",
                {{"consumer", opt_.consumer}, {"when", why}, {"error", rd_kafka_err2str(err)}});
    }
  }

  void Housekeeping() {
    absl::Time now = absl::Now();
    if (offsets_dirty_ && now >= next_commit_) CommitNow(/*sync=*/false, "periodic");
    if (now >= next_lag_) {
      RefreshLag();
      next_lag_ = now + absl::Seconds(1);
    }
    if (now >= next_stats_) {
      log::Info("consumer stats", {{"consumer", opt_.consumer},
                                   {"stats", stats_.ToJson()},
                                   {"lag_by_partition", lag_by_partition_}});
      next_stats_ = now + opt_.stats_interval;
    }
  }

  // Per assigned partition: high watermark (cached by librdkafka from the fetch responses) minus
  // the next offset to apply (partition_lag.h).
  void RefreshLag() {
    LearnStartingOffsets();
    std::vector<PartitionLag> lags;
    for (const auto& [tp, state] : assigned_) {
      int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), tp.first.c_str(), tp.second, &low,
                                         &high) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        continue;
      }
      if (std::optional<int64_t> lag = LagMessages(high, state.next_offset); lag.has_value()) {
        lags.push_back({tp.first, tp.second, *lag});
      }
    }
    lag_by_partition_ = DescribeLag(lags);
    stats_.SetPartitionLags(std::move(lags));
  }

  // For partitions of which nothing was fetched yet: the group's committed offset (asked once
  // per assignment, one broker round trip for all of them), else the low watermark.
  void LearnStartingOffsets() {
    kafka::TopicPartitionListPtr ask(rd_kafka_topic_partition_list_new(1));
    for (const auto& [tp, state] : assigned_) {
      if (state.next_offset < 0 && !state.committed_known) {
        rd_kafka_topic_partition_list_add(ask.get(), tp.first.c_str(), tp.second);
      }
    }
    const absl::Time now = absl::Now();
    if (ask->cnt > 0 && now >= next_committed_query_) {
      rd_kafka_resp_err_t err =
          rd_kafka_committed(consumer_.get(), ask.get(), kCommittedQueryTimeoutMs);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log::Debug("committed offsets not known yet",
                   {{"consumer", opt_.consumer}, {"error", rd_kafka_err2str(err)}});
        next_committed_query_ = now + absl::Seconds(2);
      } else {
        for (int i = 0; i < ask->cnt; ++i) {
          const rd_kafka_topic_partition_t& p = ask->elems[i];
          auto it = assigned_.find({p.topic, p.partition});
          if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || it == assigned_.end()) continue;
          it->second.committed_known = true;
          it->second.committed = p.offset;
        }
      }
    }
    for (auto& [tp, state] : assigned_) {
      if (state.next_offset >= 0 || !state.committed_known) continue;
      int64_t low = -1, high = -1;
      rd_kafka_get_watermark_offsets(consumer_.get(), tp.first.c_str(), tp.second, &low, &high);
      if (std::optional<int64_t> start = StartingOffset(state.committed, low); start.has_value()) {
        state.next_offset = *start;
      }
    }
  }

  InboxConsumer& owner_;
  const InboxConsumerOptions& opt_;
  InboxConsumerStats& stats_;
  VersionTracker tracker_;
  const std::string inbox_statement_;  // the prepared statement's name
  const std::string inbox_sql_;

  kafka::HandlePtr consumer_;
  kafka::HandlePtr producer_;  // dead-letter producer, created on first use
  std::map<TopicPartition, PartitionState> assigned_;
  uint64_t epoch_counter_ = 0;
  std::deque<Record> queue_;  // fetched, not yet applied, in poll order
  size_t one_by_one_ = 0;     // records to apply one per transaction after a failed batch
  bool paused_ = false;
  bool offsets_dirty_ = false;
  absl::Time next_commit_;
  absl::Time next_stats_;
  absl::Time next_lag_;
  absl::Time next_committed_query_ = absl::InfinitePast();
  absl::Time next_error_log_;
  std::string lag_by_partition_;
};

InboxConsumer::InboxConsumer(InboxConsumerOptions options, kafka::KafkaSettings kafka, PgPool& pool,
                             EventHandler& handler)
    : options_(std::move(options)),
      kafka_(std::move(kafka)),
      pool_(pool),
      handler_(handler),
      group_id_(options_.group_id.empty() ? options_.consumer : options_.group_id) {}

InboxConsumer::~InboxConsumer() = default;

absl::Status InboxConsumer::Validate() const {
  if (options_.consumer.empty()) {
    return absl::InvalidArgumentError("inbox consumer: the consumer name is empty");
  }
  if (!IsPlainIdentifier(options_.schema)) {
    return absl::InvalidArgumentError(absl::StrCat("inbox consumer: schema '", options_.schema,
                                                   "' is not a plain lower-case identifier"));
  }
  if (options_.topics.empty()) {
    return absl::InvalidArgumentError("inbox consumer: no topics to consume");
  }
  for (const std::string& t : options_.topics) {
    if (t.empty()) return absl::InvalidArgumentError("inbox consumer: empty topic name");
  }
  if (options_.dlq_suffix.empty()) {
    return absl::InvalidArgumentError(
        "inbox consumer: the dead-letter suffix is empty (the DLQ would be the topic itself)");
  }
  if (options_.max_poison_attempts < 1 || options_.max_batch < 1 ||
      options_.version_tracker_capacity < 1) {
    return absl::InvalidArgumentError(
        "inbox consumer: max_poison_attempts, max_batch and version_tracker_capacity must be >= 1");
  }
  if (options_.min_backoff <= absl::ZeroDuration() || options_.max_backoff < options_.min_backoff) {
    return absl::InvalidArgumentError("inbox consumer: need 0 < min_backoff <= max_backoff");
  }
  if (options_.dlq_delivery_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("inbox consumer: dlq_delivery_timeout must be positive");
  }
  if (absl::StatusOr<kafka::ConfPtr> c = kafka_.Build(kafka::KafkaRole::kConsumer, group_id_);
      !c.ok()) {
    return c.status();
  }
  return kafka_.Build(kafka::KafkaRole::kProducer).status();
}

absl::Status InboxConsumer::Run(const std::atomic<bool>& stop) {
  if (started_.exchange(true)) {
    return absl::FailedPreconditionError("InboxConsumer::Run may be called only once");
  }
  if (absl::Status s = Validate(); !s.ok()) return s;
  Session session(*this);
  if (absl::Status s = session.Start(); !s.ok()) return s;
  absl::Status result = session.Loop(stop);
  session.Close();
  return result;
}

}  // namespace quoteflow::messaging
