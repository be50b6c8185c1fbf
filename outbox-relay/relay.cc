#include "outbox-relay/relay.h"

#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/status_macros.h"
#include "platform/kafka/kafka_config.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {
namespace {
constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);

PgOutboxStore::Options StoreOptions(const RelayOptions& o) {
  return {.database_url = o.database_url,
          .schema = o.schema,
          .relay_id = o.relay_id,
          .shards = o.shards,
          .max_per_key = o.max_in_flight_per_key,
          .liveness = o.pg_liveness,
          .row_backoff = o.row_backoff,
          .max_row_backoff = o.max_row_backoff};
}
}  // namespace

Relay::Relay(RelayOptions options, KafkaBatchPublisher::ConfFactory producer_conf,
             FailPoints fail_points)
    : options_(std::move(options)),
      fail_points_(std::move(fail_points)),
      store_(StoreOptions(options_)),
      backlog_monitor_(StoreOptions(options_), options_.stats_interval),
      producer_conf_(std::move(producer_conf)),
      batch_size_(std::min(options_.min_batch, options_.max_batch)),
      next_stats_(absl::Now() + options_.stats_interval),
      holdoff_(options_.kafka_failure_holdoff) {
  stats_.batch_size = batch_size_;
  stats_.last_progress_unix_ms = absl::ToUnixMillis(absl::Now());
}

void Relay::UpdateWork() {
  const bool work = stats_.shards_held.load() > 0 && (held_backlog_ || last_fetch_rows_ > 0 ||
                                                      !in_flight_.empty() || !failed_rows_.empty());
  // The progress clock starts when work appears: an idle relay is not stalled.
  if (work && !stats_.has_work.load())
    stats_.last_progress_unix_ms = absl::ToUnixMillis(absl::Now());
  stats_.has_work = work;
  stats_.in_flight = static_cast<int>(in_flight_.size());
  stats_.rows_in_backoff = static_cast<int>(failed_rows_.size());
}

void Relay::SleepFor(absl::Duration d, const std::atomic<bool>& stop) {
  absl::Time until = absl::Now() + d;
  while (!stop.load()) {
    absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    absl::SleepFor(std::min(left, absl::Milliseconds(50)));
  }
}

bool Relay::MaybeRebalance(bool force) {
  absl::Time now = absl::Now();
  if (!force && now < next_rebalance_) return false;
  next_rebalance_ = now + options_.lease_interval;
  absl::StatusOr<RebalanceResult> r = store_.Rebalance(stats_.published.load(), stats_.parked.load());
  if (!r.ok()) {
    log::Warn("shard lease rebalance failed; leases dropped", {{"error", r.status().ToString()}});
    stats_.shards_held = 0;
    return false;
  }
  stats_.shards_held = static_cast<int>(store_.held_shards().size());
  stats_.live_relays = r->live_relays;
  backlog_monitor_.SetHeldShards(store_.held_shards());
  if (!r->released.empty()) {
    const std::set<int> held(store_.held_shards().begin(), store_.held_shards().end());
    for (auto it = failed_rows_.begin(); it != failed_rows_.end();) {
      it = held.count(it->second) ? std::next(it) : failed_rows_.erase(it);
    }
  }
  if (!r->acquired.empty() || !r->released.empty()) {
    log::Info("shard leases changed",
              {{"acquired", absl::StrJoin(r->acquired, ",")},
               {"released", absl::StrJoin(r->released, ",")},
               {"held", absl::StrJoin(store_.held_shards(), ",")},
               {"shards_held", static_cast<int>(store_.held_shards().size())},
               {"live_relays", r->live_relays},
               {"target", r->target}});
  }
  return !r->acquired.empty();
}

void Relay::TakeBacklogStats() {
  std::optional<BacklogStats> s = backlog_monitor_.TakeLatest();
  if (!s.has_value()) return;
  stats_.backlog = s->backlog;
  stats_.parked_rows = s->parked;
  stats_.oldest_unpublished_age_s = s->oldest_age_seconds;
  held_backlog_ = s->held_backlog;
  UpdateWork();
}

void Relay::MaybeLogStats() {
  absl::Time now = absl::Now();
  if (now < next_stats_) return;
  next_stats_ = now + options_.stats_interval;
  // The registration row's counters and heartbeat_at, at the same pace.
  if (absl::Status h = store_.Heartbeat(stats_.published.load(), stats_.parked.load()); !h.ok()) {
    log::Warn("writing the relay's registration failed", {{"error", h.ToString()}});
  }
  int64_t published = stats_.published.load();
  double seconds = absl::ToDoubleSeconds(now - last_stats_);
  double rate = seconds > 0 ? static_cast<double>(published - published_at_last_stats_) / seconds : 0;
  last_stats_ = now;
  published_at_last_stats_ = published;
  log::Info("relay stats",
            {{"backlog", static_cast<long long>(stats_.backlog.load())},
             {"oldest_unpublished_age_s", stats_.oldest_unpublished_age_s.load()},
             {"published_total", static_cast<long long>(published)},
             {"published_per_s", rate},
             {"parked_rows", static_cast<long long>(stats_.parked_rows.load())},
             {"parked_total", static_cast<long long>(stats_.parked.load())},
             {"transient_failures", static_cast<long long>(stats_.transient_failures.load())},
             {"unconfirmed_deliveries", static_cast<long long>(stats_.unconfirmed.load())},
             {"permanent_failures", static_cast<long long>(stats_.permanent_failures.load())},
             {"shards_held", stats_.shards_held.load()},
             {"in_flight", stats_.in_flight.load()},
             {"rows_in_backoff", stats_.rows_in_backoff.load()},
             {"live_relays", stats_.live_relays.load()},
             {"batch_size", stats_.batch_size.load()}});
}

absl::StatusOr<bool> Relay::PublishOneBatch(const std::atomic<bool>& stop) {
  const int room = options_.max_batch - static_cast<int>(in_flight_.size());
  const int limit = std::min(batch_size_, room);
  if (limit <= 0) return true;  // full: wait for reports
  std::vector<int64_t> skip;
  std::map<std::string, int> per_key;
  skip.reserve(in_flight_.size());
  for (const auto& [seq, f] : in_flight_) {
    skip.push_back(seq);
    ++per_key[f->row.aggregate_id];
  }
  int scanned = 0;
  ASSIGN_OR_RETURN(std::vector<OutboxRow> rows,
                   store_.FetchBatch(limit, &scanned, skip, per_key, !failed_rows_.empty()));
  ++stats_.reads;
  last_fetch_rows_ = static_cast<int>(rows.size());
  read_all_visible_ = scanned < limit && static_cast<int>(rows.size()) == scanned;
  if (rows.empty()) {
    if (in_flight_.empty()) {
      batch_size_ = std::min(options_.min_batch, options_.max_batch);
      stats_.batch_size = batch_size_;
    }
    UpdateWork();
    return false;
  }
  const bool full = scanned >= limit;

  std::vector<int64_t> batch;
  std::vector<int64_t> refused_locally;
  batch.reserve(rows.size());
  for (OutboxRow& r : rows) {
    auto f = std::make_unique<InFlight>();
    f->row = std::move(r);
    f->tracked.id = f->row.seq;
    InFlight* p = f.get();
    const int64_t seq = p->row.seq;
    in_flight_[seq] = std::move(f);
    key_queue_[p->row.aggregate_id].push_back(seq);
    batch.push_back(seq);
    std::optional<std::string> topic =
        options_.topic_map.Resolve(p->row.topic, p->row.event_type, p->row.aggregate_type);
    std::string error;
    if (!topic.has_value()) {
      error = absl::StrCat("no topic for event_type '", p->row.event_type, "' / aggregate_type '",
                           p->row.aggregate_type, "' in --topic-map");
    } else if (!IsValidTopicName(*topic)) {
      error = absl::StrCat("'", *topic, "' is not a valid Kafka topic name");
    }
    if (!error.empty()) {
      p->tracked.delivery = {DeliveryOutcome::kPermanent, error};
      p->tracked.done = true;
      refused_locally.push_back(seq);
      continue;
    }
    p->topic = *std::move(topic);
    publisher_->Produce({p->topic, &p->row}, &p->tracked, stop);
  }
  ++stats_.batches;
  UpdateWork();
  const int64_t failures_before = stats_.transient_failures.load();
  RETURN_IF_ERROR(Settle(refused_locally));
  // Wait for this batch's reports, at most batch_wait, and no longer once they stopped coming
  // for kReportLull (since the produce or the last report): a healthy broker answers a batch
  // within milliseconds, so the rest is waiting on a partition that cannot take its messages.
  // Such rows stay in flight (skipped by the next batches, with the later rows of their
  // aggregates; the main loop settles them as their reports come) and must not hold back the
  // other aggregates.
  constexpr absl::Duration kReportLull = absl::Milliseconds(50);
  const absl::Time deadline = absl::Now() + options_.batch_wait;
  // Every produced row gets exactly one report (a failed produce call's comes at once); `batch`
  // is in seq order, as FetchBatch returns the rows.
  size_t outstanding = batch.size() - refused_locally.size();
  absl::Time last_report = absl::Now();
  std::vector<int64_t> reported;
  while (!stop.load()) {
    const absl::Time now = absl::Now();
    if (outstanding == 0 || now - last_report >= kReportLull || now >= deadline) break;
    reported.clear();
    RETURN_IF_ERROR(PollDeliveries(std::min(deadline - now, absl::Milliseconds(10)), &reported));
    const size_t of_batch = std::count_if(reported.begin(), reported.end(), [&](int64_t seq) {
      return std::binary_search(batch.begin(), batch.end(), seq);
    });
    if (of_batch > 0) {
      outstanding -= std::min(of_batch, outstanding);
      last_report = absl::Now();
    }
  }
  if (full && stats_.transient_failures.load() == failures_before) {
    batch_size_ = std::min(batch_size_ * 2, options_.max_batch);
  } else if (scanned * 4 < batch_size_) {
    batch_size_ = std::max(batch_size_ / 2, std::min(options_.min_batch, options_.max_batch));
  }
  stats_.batch_size = batch_size_;
  return true;
}

absl::Status Relay::PollDeliveries(absl::Duration max, std::vector<int64_t>* reported) {
  std::vector<int64_t> completed = publisher_->Poll(max);
  if (reported != nullptr) reported->insert(reported->end(), completed.begin(), completed.end());
  absl::Status s = Settle(completed);
  if (std::string reason; publisher_->Fatal(&reason)) {
    log::Error("Kafka producer fatal error; recreating it", {{"error", reason}});
    ++stats_.producer_restarts;
    absl::Status r = publisher_->Recreate();
    // Reports of the purged messages (served by Recreate), then whatever never got one.
    std::vector<int64_t> rest = publisher_->Poll(absl::ZeroDuration());
    for (auto& [seq, f] : in_flight_) {
      if (!f->tracked.done) {
        f->tracked.done = true;
        f->tracked.delivery = {DeliveryOutcome::kTransient, "producer recreated: " + reason};
        rest.push_back(seq);
      }
    }
    if (reported != nullptr) reported->insert(reported->end(), rest.begin(), rest.end());
    absl::Status settled = Settle(rest);
    if (!r.ok()) return r;
    if (s.ok()) s = settled;
  }
  return s;
}

absl::Status Relay::Settle(const std::vector<int64_t>& completed) {
  if (completed.empty()) return absl::OkStatus();
  // The aggregates of the completed rows, as key_queue_ entries (each once).
  using KeyQueue = decltype(key_queue_)::iterator;
  std::vector<KeyQueue> queues;
  queues.reserve(completed.size());
  for (int64_t seq : completed) {
    auto it = in_flight_.find(seq);
    if (it == in_flight_.end()) continue;
    auto q = key_queue_.find(it->second->row.aggregate_id);
    if (q != key_queue_.end()) queues.push_back(q);
  }
  auto by_node = [](const KeyQueue& a, const KeyQueue& b) {
    return std::less<const void*>()(&*a, &*b);
  };
  std::sort(queues.begin(), queues.end(), by_node);
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  std::vector<int64_t> delivered;
  std::vector<PermanentFailure> refused;
  std::vector<PermanentFailure> failed;
  const absl::Time now = absl::Now();
  for (KeyQueue q : queues) {
    const std::string& key = q->first;
    std::vector<int64_t>& queue = q->second;
    // In seq order: a row is settled once it and every earlier row of its aggregate have reports.
    size_t settled = 0;
    for (; settled < queue.size(); ++settled) {
      auto it = in_flight_.find(queue[settled]);
      if (it == in_flight_.end()) continue;
      if (!it->second->tracked.done) break;
      std::unique_ptr<InFlight> f = std::move(it->second);
      in_flight_.erase(it);
      const bool blocked = blocked_keys_.count(key) > 0;
      const Delivery& d = f->tracked.delivery;
      if (d.outcome == DeliveryOutcome::kDelivered) {
        kafka_ok_at_ = now;
        if (log::Enabled(log::Level::kDebug)) {
          log::Debug("delivered", {{"seq", static_cast<long long>(f->row.seq)},
                                   {"event_id", f->row.event_id},
                                   {"topic", f->topic},
                                   {"partition", static_cast<int>(d.partition)},
                                   {"offset", static_cast<long long>(d.offset)}});
        }
        failed_rows_.erase(f->row.seq);
        if (blocked) {
          ++stats_.held_back;  // an earlier row of its aggregate failed: sent again after it
        } else {
          delivered.push_back(f->row.seq);
        }
        continue;
      }
      if (d.error == kafka::kUnconfirmedDelivery) ++stats_.unconfirmed;
      if (blocked) continue;  // behind a failed row of its aggregate: read again after it
      blocked_keys_.insert(key);
      if (d.outcome == DeliveryOutcome::kPermanent) {
        refused.push_back({f->row.seq, d.error});
      } else {
        failed.push_back({f->row.seq, d.error});
        failed_rows_[f->row.seq] = f->row.shard;
      }
    }
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(settled));
    if (queue.empty()) {
      blocked_keys_.erase(key);
      key_queue_.erase(q);  // `key` lives in it
    }
  }
  absl::Status status;
  if (!delivered.empty()) {
    fail_points_.Hit(kFailPointAfterProduceBeforeDelete);
    // Delivered rows whose delete fails (Postgres gone) stay and are sent again later.
    status = store_.DeletePublished(delivered);
    if (status.ok()) {
      stats_.published += static_cast<int64_t>(delivered.size());
      stats_.last_progress_unix_ms = absl::ToUnixMillis(now);
    }
  }
  if (!failed.empty()) {
    stats_.transient_failures += static_cast<int64_t>(failed.size());
    unlogged_failures_ += static_cast<int>(failed.size());
    if (now - last_failure_log_ >= absl::Seconds(1)) {
      log::Warn("deliveries failed, rows in backoff",
                {{"failed", unlogged_failures_},
                 {"delivered", static_cast<int>(delivered.size())},
                 {"first_seq", static_cast<long long>(failed.front().seq)},
                 {"rows_in_backoff", static_cast<int>(failed_rows_.size())},
                 {"error", failed.front().error}});
      last_failure_log_ = now;
      unlogged_failures_ = 0;
    }
    if (status.ok()) status = store_.RecordTransientFailures(failed);
  }
  if (!refused.empty() && status.ok()) {
    absl::StatusOr<int> parked = store_.RecordPermanentFailures(refused, options_.max_attempts);
    if (parked.ok()) {
      stats_.permanent_failures += static_cast<int64_t>(refused.size());
      stats_.parked += *parked;
      if (*parked > 0) stats_.last_progress_unix_ms = absl::ToUnixMillis(now);
      log::Warn(*parked > 0 ? "rows refused by the broker, parked" : "rows refused by the broker",
                {{"refused", static_cast<int>(refused.size())},
                 {"parked", *parked},
                 {"first_seq", static_cast<long long>(refused.front().seq)},
                 {"error", refused.front().error}});
    } else {
      status = parked.status();
    }
  }
  UpdateWork();
  return status;
}

void Relay::MaybeReleaseForKafka() {
  if (options_.kafka_failure_release <= absl::ZeroDuration() || !store_.connected()) return;
  if (in_flight_.empty() && failed_rows_.empty()) return;
  const absl::Time now = absl::Now();
  const absl::Duration failing = now - kafka_ok_at_;
  if (failing < options_.kafka_failure_release) return;
  const int held = static_cast<int>(store_.held_shards().size());
  if (held == 0) return;
  // Alone on this outbox, releasing hands the shards to nobody: it would only stop publishing
  // for the holdoff once Kafka is back.
  if (stats_.live_relays.load() <= 1) return;
  // Closing the lease session drops the shard leases and the presence lock at once, so the other
  // replicas count one relay fewer and take every shard at their next lease tick.
  log::Warn("releasing shard leases: no successful Kafka delivery",
            {{"relay_id", options_.relay_id},
             {"kafka_failing_s", absl::ToDoubleSeconds(failing)},
             {"kafka_failure_release_s", absl::ToDoubleSeconds(options_.kafka_failure_release)},
             {"shards_released", held},
             {"in_flight", static_cast<int>(in_flight_.size())},
             {"rows_in_backoff", static_cast<int>(failed_rows_.size())},
             {"holdoff_s", absl::ToDoubleSeconds(holdoff_)}});
  if (absl::Status s = store_.ReleaseAndDisconnect(); !s.ok()) {
    log::Warn("releasing leases failed (they go with the connection)", {{"error", s.ToString()}});
  }
  ++stats_.kafka_releases;
  stats_.shards_held = 0;
  held_backlog_ = false;
  last_fetch_rows_ = 0;
  failed_rows_.clear();
  holdoff_until_ = now + holdoff_;
  holdoff_ = std::min(holdoff_ * 2, options_.kafka_failure_holdoff * 8);
  UpdateWork();
}

absl::Status Relay::Run(const std::atomic<bool>& stop) {
  {
    absl::StatusOr<std::unique_ptr<KafkaBatchPublisher>> p = KafkaBatchPublisher::Create(producer_conf_);
    if (!p.ok()) return p.status();
    publisher_ = *std::move(p);
  }
  log::Info("outbox relay starting", {{"schema", options_.schema}, {"relay_id", options_.relay_id}});
  absl::Duration backoff = kMinBackoff;
  // Read the outbox now: at start, after a NOTIFY (a writer's doorbell), after new shards, and
  // while batches come back non-empty. Otherwise only when the fallback poll is due.
  bool read_now = true;
  absl::Time next_poll = absl::InfinitePast();
  while (!stop.load()) {
    if (!store_.connected()) {
      stats_.shards_held = 0;
      held_backlog_ = false;
      last_fetch_rows_ = 0;
      failed_rows_.clear();
      UpdateWork();
      // Reports of what is still in flight keep coming (their deletes fail: sent again later).
      if (!in_flight_.empty()) (void)PollDeliveries(absl::ZeroDuration());
      if (absl::Now() < holdoff_until_) {
        SleepFor(std::min(holdoff_until_ - absl::Now(), absl::Milliseconds(100)), stop);
        continue;
      }
      absl::Status s = store_.Connect();
      if (!s.ok()) {
        if (absl::IsFailedPrecondition(s)) return s;
        log::Warn("Postgres unavailable, retrying",
                  {{"error", s.ToString()}, {"backoff_ms", static_cast<long long>(absl::ToInt64Milliseconds(backoff))}});
        SleepFor(backoff, stop);
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      ++stats_.reconnects;
      backlog_monitor_.Start();  // once the schema is known good (no-op when started)
      MaybeRebalance(/*force=*/true);
      read_now = true;
      continue;
    }
    if (MaybeRebalance(false)) read_now = true;
    if (!store_.connected()) continue;
    TakeBacklogStats();
    MaybeLogStats();
    if (in_flight_.empty() && failed_rows_.empty()) kafka_ok_at_ = absl::Now();
    MaybeReleaseForKafka();
    if (!store_.connected()) continue;
    const bool room = static_cast<int>(in_flight_.size()) < options_.max_batch;
    if (room && (read_now || absl::Now() >= next_poll)) {
      absl::StatusOr<bool> published = PublishOneBatch(stop);
      if (!published.ok()) {
        log::Warn("batch failed", {{"error", published.status().ToString()}});
        if (!absl::IsUnavailable(published.status())) store_.Disconnect();
        SleepFor(backoff, stop);
        backoff = std::min(backoff * 2, options_.max_backoff);
        read_now = true;
        continue;
      }
      backoff = kMinBackoff;
      // After a batch that read every row it could see and settled them all, what is left to
      // read was committed since, and while writers ring the doorbell its NOTIFY says so (one
      // that came during the batch is already waiting on the connection): wait for it rather than
      // read again at once (at saga rates a third of those re-reads came back empty, each a
      // planned statement). Without NOTIFYs lately (writers with the doorbell off) read again.
      const bool caught_up = read_all_visible_ && in_flight_.empty() && failed_rows_.empty() &&
                             absl::Now() - last_notify_at_ < options_.poll_interval;
      if (*published && !caught_up) {
        read_now = true;  // there may be more
        continue;
      }
      read_now = false;
      next_poll = absl::Now() + options_.poll_interval;
    }
    if (!in_flight_.empty()) {
      // Rows still in flight: serve their reports, and read again when some were deleted (the
      // rows behind them may be read now), on a NOTIFY or at the poll.
      const int64_t published_before = stats_.published.load();
      if (absl::Status s = PollDeliveries(absl::Milliseconds(50)); !s.ok()) {
        log::Warn("settling deliveries failed", {{"error", s.ToString()}});
        continue;
      }
      if (stats_.published.load() > published_before) read_now = true;
      absl::StatusOr<bool> woken = store_.WaitForNotification(absl::ZeroDuration(), stop);
      if (woken.ok() && *woken) {
        ++stats_.wakeups;
        last_notify_at_ = absl::Now();
        read_now = true;
      }
      continue;
    }
    // Idle: sleep on LISTEN until a NOTIFY, the fallback poll, the next lease tick or stats line.
    const absl::Duration wait = std::max(
        absl::ZeroDuration(), std::min({next_poll, next_rebalance_, next_stats_}) - absl::Now());
    absl::StatusOr<bool> woken = store_.WaitForNotification(wait, stop);
    if (!woken.ok()) {
      log::Warn("lost Postgres while idle", {{"error", woken.status().ToString()}});
    } else if (*woken) {
      ++stats_.wakeups;
      last_notify_at_ = absl::Now();
      read_now = true;
    }
  }
  log::Info("stopping: releasing shard leases",
            {{"shards_held", static_cast<int>(store_.held_shards().size())},
             {"in_flight", static_cast<int>(in_flight_.size())}});
  // The rows in flight get shutdown_timeout for their reports; the rest is purged (not deleted:
  // sent again by whoever publishes next).
  const absl::Time deadline = absl::Now() + options_.shutdown_timeout;
  while (!in_flight_.empty() && absl::Now() < deadline) {
    (void)PollDeliveries(std::min(deadline - absl::Now(), absl::Milliseconds(50)));
  }
  if (publisher_->outstanding() > 0) {
    log::Warn("shutdown: purging undelivered messages",
              {{"outstanding", publisher_->outstanding()}});
    publisher_->Purge();
    (void)PollDeliveries(absl::Seconds(1));
  }
  if (absl::Status s = store_.ReleaseAndDisconnect(); !s.ok()) {
    log::Warn("releasing leases failed (they go with the connection)", {{"error", s.ToString()}});
  }
  stats_.shards_held = 0;
  backlog_monitor_.Stop();
  log::Info("outbox relay stopped",
            {{"published_total", static_cast<long long>(stats_.published.load())},
             {"parked_total", static_cast<long long>(stats_.parked.load())},
             {"batches_total", static_cast<long long>(stats_.batches.load())},
             {"reads_total", static_cast<long long>(stats_.reads.load())}});
  return absl::OkStatus();
}

}  // namespace quoteflow::relay
