#include "outbox-relay/relay.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"

namespace quoteflow::relay {
namespace {
constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
}  // namespace

Relay::Relay(RelayOptions options, KafkaBatchPublisher::ConfFactory producer_conf,
             FailPoints fail_points)
    : options_(std::move(options)),
      fail_points_(std::move(fail_points)),
      store_(PgOutboxStore::Options{.database_url = options_.database_url,
                                    .schema = options_.schema,
                                    .relay_id = options_.relay_id,
                                    .shards = options_.shards,
                                    .max_per_key = options_.max_in_flight_per_key}),
      producer_conf_(std::move(producer_conf)),
      batch_size_(std::min(options_.min_batch, options_.max_batch)),
      next_stats_(absl::Now() + options_.stats_interval) {
  stats_.batch_size = batch_size_;
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

void Relay::MaybeLogStats() {
  absl::Time now = absl::Now();
  if (now < next_stats_) return;
  next_stats_ = now + options_.stats_interval;
  absl::StatusOr<BacklogStats> s = store_.Stats();
  if (s.ok()) {
    stats_.backlog = s->backlog;
    stats_.parked_rows = s->parked;
    stats_.oldest_unpublished_age_s = s->oldest_age_seconds;
    // The registration row's counters and heartbeat_at, at the same pace.
    if (absl::Status h = store_.Heartbeat(stats_.published.load(), stats_.parked.load()); !h.ok()) {
      log::Warn("writing the relay's registration failed", {{"error", h.ToString()}});
    }
  }
  int64_t published = stats_.published.load();
  double seconds = absl::ToDoubleSeconds(now - last_stats_);
  double rate = seconds > 0 ? static_cast<double>(published - published_at_last_stats_) / seconds : 0;
  last_stats_ = now;
  published_at_last_stats_ = published;
  log::Info("relay stats", {{"backlog", static_cast<long long>(stats_.backlog.load())},
                            {"oldest_unpublished_age_s", stats_.oldest_unpublished_age_s.load()},
                            {"published_total", static_cast<long long>(published)},
                            {"published_per_s", rate},
                            {"parked_rows", static_cast<long long>(stats_.parked_rows.load())},
                            {"parked_total", static_cast<long long>(stats_.parked.load())},
                            {"transient_failures", static_cast<long long>(stats_.transient_failures.load())},
                            {"permanent_failures", static_cast<long long>(stats_.permanent_failures.load())},
                            {"shards_held", stats_.shards_held.load()},
                            {"live_relays", stats_.live_relays.load()},
                            {"batch_size", stats_.batch_size.load()}});
}

absl::StatusOr<bool> Relay::PublishOneBatch(const std::atomic<bool>& stop, bool* retry_later) {
  int scanned = 0;
  ASSIGN_OR_RETURN(std::vector<OutboxRow> rows, store_.FetchBatch(batch_size_, &scanned));
  if (rows.empty()) {
    batch_size_ = std::min(options_.min_batch, options_.max_batch);
    stats_.batch_size = batch_size_;
    return false;
  }
  const bool full = scanned >= batch_size_;

  std::vector<Delivery> deliveries(rows.size());
  std::vector<OutgoingMessage> messages;
  std::vector<size_t> row_of_message;
  messages.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const OutboxRow& r = rows[i];
    std::optional<std::string> topic = options_.topic_map.Resolve(r.topic, r.event_type, r.aggregate_type);
    if (!topic.has_value()) {
      deliveries[i] = {DeliveryOutcome::kPermanent,
                       absl::StrCat("no topic for event_type '", r.event_type, "' / aggregate_type '",
                                    r.aggregate_type, "' in --topic-map")};
      continue;
    }
    if (!IsValidTopicName(*topic)) {
      deliveries[i] = {DeliveryOutcome::kPermanent,
                       absl::StrCat("'", *topic, "' is not a valid Kafka topic name")};
      continue;
    }
    messages.push_back({*std::move(topic), &r});
    row_of_message.push_back(i);
  }
  std::vector<Delivery> produced = publisher_->Publish(messages, stop, options_.shutdown_timeout);
  for (size_t m = 0; m < produced.size(); ++m) deliveries[row_of_message[m]] = std::move(produced[m]);
  ++stats_.batches;

  fail_points_.Hit(kFailPointAfterProduceBeforeDelete);

  // Rows are in seq order; a failed row holds back the later rows of its aggregate.
  std::set<std::string> failed_aggregates;
  std::vector<int64_t> delivered;
  std::vector<PermanentFailure> refused;
  int transient = 0;
  std::string first_transient_error;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Delivery& d = deliveries[i];
    if (d.outcome == DeliveryOutcome::kDelivered) {
      if (failed_aggregates.count(rows[i].aggregate_id)) {
        ++stats_.held_back;
        continue;
      }
      delivered.push_back(rows[i].seq);
      continue;
    }
    failed_aggregates.insert(rows[i].aggregate_id);
    if (d.outcome == DeliveryOutcome::kPermanent) {
      refused.push_back({rows[i].seq, d.error});
    } else {
      if (transient++ == 0) first_transient_error = d.error;
    }
  }
  RETURN_IF_ERROR(store_.DeletePublished(delivered));
  stats_.published += static_cast<int64_t>(delivered.size());
  if (transient > 0) {
    stats_.transient_failures += transient;
    *retry_later = true;
    log::Warn("deliveries failed, will retry",
              {{"failed", transient}, {"delivered", static_cast<int>(delivered.size())},
               {"error", first_transient_error}});
  }
  if (!refused.empty()) {
    ASSIGN_OR_RETURN(int parked, store_.RecordPermanentFailures(refused, options_.max_attempts));
    stats_.permanent_failures += static_cast<int64_t>(refused.size());
    stats_.parked += parked;
    if (parked < static_cast<int>(refused.size())) *retry_later = true;
    log::Warn(parked > 0 ? "rows refused by the broker, parked" : "rows refused by the broker",
              {{"refused", static_cast<int>(refused.size())}, {"parked", parked},
               {"first_seq", static_cast<long long>(refused.front().seq)},
               {"error", refused.front().error}});
  }
  if (full && transient == 0) {
    batch_size_ = std::min(batch_size_ * 2, options_.max_batch);
  } else if (scanned * 4 < batch_size_) {
    batch_size_ = std::max(batch_size_ / 2, std::min(options_.min_batch, options_.max_batch));
  }
  stats_.batch_size = batch_size_;

  if (std::string reason; publisher_->Fatal(&reason)) {
    log::Error("Kafka producer fatal error; recreating it", {{"error", reason}});
    ++stats_.producer_restarts;
    if (absl::Status s = publisher_->Recreate(); !s.ok()) return s;
  }
  return true;
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
      MaybeRebalance(/*force=*/true);
      read_now = true;
      continue;
    }
    if (MaybeRebalance(false)) read_now = true;
    if (!store_.connected()) continue;
    MaybeLogStats();
    if (read_now || absl::Now() >= next_poll) {
      bool retry_later = false;
      absl::StatusOr<bool> published = PublishOneBatch(stop, &retry_later);
      if (!published.ok()) {
        log::Warn("batch failed", {{"error", published.status().ToString()}});
        if (!absl::IsUnavailable(published.status())) store_.Disconnect();
        SleepFor(backoff, stop);
        backoff = std::min(backoff * 2, options_.max_backoff);
        read_now = true;
        continue;
      }
      if (retry_later) {
        SleepFor(backoff, stop);
        backoff = std::min(backoff * 2, options_.max_backoff);
        read_now = true;
        continue;
      }
      backoff = kMinBackoff;
      if (*published) {
        read_now = true;  // there may be more
        continue;
      }
      read_now = false;
      next_poll = absl::Now() + options_.poll_interval;
    }
    // Idle: sleep on LISTEN until a NOTIFY, the fallback poll, the next lease tick or stats line.
    const absl::Duration wait = std::max(
        absl::ZeroDuration(), std::min({next_poll, next_rebalance_, next_stats_}) - absl::Now());
    absl::StatusOr<bool> woken = store_.WaitForNotification(wait, stop);
    if (!woken.ok()) {
      log::Warn("lost Postgres while idle", {{"error", woken.status().ToString()}});
    } else if (*woken) {
      ++stats_.wakeups;
      read_now = true;
    }
  }
  log::Info("stopping: releasing shard leases",
            {{"shards_held", static_cast<int>(store_.held_shards().size())}});
  publisher_->Flush(absl::Seconds(1));
  if (absl::Status s = store_.ReleaseAndDisconnect(); !s.ok()) {
    log::Warn("releasing leases failed (they go with the connection)", {{"error", s.ToString()}});
  }
  stats_.shards_held = 0;
  log::Info("outbox relay stopped", {{"published_total", static_cast<long long>(stats_.published.load())},
                                     {"parked_total", static_cast<long long>(stats_.parked.load())}});
  return absl::OkStatus();
}

}  // namespace quoteflow::relay
