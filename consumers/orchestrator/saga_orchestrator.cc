#include "consumers/orchestrator/saga_orchestrator.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consumers/common/pg_guard.h"
#include "consumers/orchestrator/pg_saga_store.h"
#include "platform/observability/log.h"
#include "platform/observability/trace_context.h"

namespace quoteflow::workers {
namespace {

// What a later event of the same transaction decides on: the saga as `d` stored it.
void Stored(const SagaDecision& d, std::map<std::string, Saga>& sagas) {
  if (!d.changed) return;
  Saga stored = d.saga;
  ++stored.version;
  sagas[stored.quote_id] = std::move(stored);
}

void LogDecision(const SagaDecision& d, const char* cause, SagaStats& stats) {
  if (!d.changed) return;
  if (d.became_stuck) {
    ++stats.stuck_total;
    log::Error("saga stuck", {{"quote_id", d.saga.quote_id},
                              {"step", SagaStepName(d.saga.step)},
                              {"reason", d.saga.stuck_reason},
                              {"stuck_total", static_cast<long long>(stats.stuck_total.load())}});
  }
  log::Debug("saga advanced", {{"quote_id", d.saga.quote_id},
                               {"cause", cause},
                               {"state", SagaStateName(d.saga.state)},
                               {"commands", static_cast<long long>(d.commands.size())}});
}

}  // namespace

bool SagaEventHandler::Wants(absl::string_view type) const {
  if (!active_) return false;
  return type == "QuoteApproved" || type == "PolicyCreated" || type == "QuoteRejected" ||
         type == "CustomerPolicyCountUpdated" || type == "CustomerPolicyCountRejected" ||
         type == "PolicyCancelled" || type == "QuoteIssued";
}

absl::Status SagaEventHandler::Handle(pqxx::work& tx, const messaging::InboundEvent& in) {
  return HandleBatch(tx, {&in});
}

absl::Status SagaEventHandler::HandleBatch(pqxx::work& tx,
                                           const std::vector<const messaging::InboundEvent*>& in) {
  // The saga each event is about ("" for none: commands are for the participants), all locked in
  // one statement; the events are then decided in order against the locked rows, each decision
  // written as it is taken.
  std::vector<std::string> saga_of(in.size());
  std::vector<std::string> quote_ids;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i]->command.has_value()) continue;
    const DomainEvent& e = in[i]->event;
    if (std::holds_alternative<QuoteApproved>(e.payload)) {
      saga_of[i] = e.quote_id.empty() ? e.aggregate_id : e.quote_id;
    } else if (std::optional<ReplyRef> ref = ParseReplyEventId(e.event_id); ref.has_value()) {
      saga_of[i] = ref->quote_id;
    } else {
      log::Debug("not a saga reply", {{"event_id", e.event_id}, {"event_type", e.type()}});
      continue;
    }
    quote_ids.push_back(saga_of[i]);
  }
  if (quote_ids.empty()) return absl::OkStatus();
  PgSagaStore store(tx);
  absl::StatusOr<std::map<std::string, Saga>> sagas = store.LockAll(quote_ids);
  if (!sagas.ok()) return sagas.status();
  // The database's clock (read by LockAll): deadlines are compared with it by every sweeper.
  const absl::Time now = store.db_now().value();
  for (size_t i = 0; i < in.size(); ++i) {
    if (saga_of[i].empty()) continue;
    if (absl::Status s = Decide(store, *in[i], saga_of[i], now, *sagas); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SagaEventHandler::Decide(PgSagaStore& store, const messaging::InboundEvent& in,
                                      const std::string& quote_id, absl::Time now,
                                      std::map<std::string, Saga>& sagas) {
  const DomainEvent& e = in.event;
  const std::string trace = ChildTraceparent(in.traceparent);
  auto saga = sagas.find(quote_id);
  if (std::holds_alternative<QuoteApproved>(e.payload)) {
    if (saga != sagas.end()) return absl::OkStatus();  // the saga exists: nothing to start
    absl::StatusOr<SagaDecision> d = StartSaga(e, settings_, now);
    if (!d.ok()) return d.status();
    if (absl::Status s = store.StoreDecision(*d, /*is_new=*/true, trace); !s.ok()) return s;
    Stored(*d, sagas);
    ++stats_.started;
    LogDecision(*d, "QuoteApproved", stats_);
    return absl::OkStatus();
  }
  if (saga == sagas.end()) {
    log::Warn("reply for an unknown saga", {{"event_id", e.event_id}, {"quote_id", quote_id}});
    return absl::OkStatus();
  }
  const Saga before = saga->second;
  absl::StatusOr<SagaDecision> d = DecideOnReply(before, e, settings_, now);
  if (!d.ok()) return d.status();
  if (absl::Status s = store.StoreDecision(*d, /*is_new=*/false, trace); !s.ok()) return s;
  Stored(*d, sagas);
  if (outcomes_ != nullptr && in.after_commit != nullptr && d->changed) {
    if (std::optional<SagaEndTransition> end =
            SagaStateEndTransition(before.state, d->saga.state, before.created_at);
        end.has_value()) {
      SagaOutcomeMetrics* outcomes = outcomes_;
      in.after_commit->Add([outcomes, end = *end] { outcomes->Record(end); });
    }
  }
  ++stats_.replies;
  LogDecision(*d, e.type(), stats_);
  return absl::OkStatus();
}

DeadlineSweeper::~DeadlineSweeper() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DeadlineSweeper::Start() {
  thread_ = std::thread([this] { Loop(); });
}

absl::StatusOr<int> DeadlineSweeper::SweepOnce() {
  int swept = 0;
  absl::Status status = pool_.Run(
      absl::Now() + absl::Seconds(5), "sweeping saga deadlines", [&](pqxx::connection& c) {
        pqxx::work tx(c);
        PgSagaStore store(tx);
        // Expired by the database's clock (deadline <= now() in SQL), decided at that time.
        absl::StatusOr<std::vector<Saga>> expired = store.LockExpired(batch_);
        if (!expired.ok()) return expired.status();
        std::vector<SagaDecision> decisions;
        std::vector<SagaEndTransition> ends;
        for (const Saga& saga : *expired) {
          SagaDecision d = DecideOnDeadline(saga, settings_, store.db_now().value());
          if (absl::Status s = store.StoreDecision(d, /*is_new=*/false); !s.ok()) return s;
          // A deadline never ends a saga by the rules today; counted if one ever does.
          if (std::optional<SagaEndTransition> end =
                  d.changed ? SagaStateEndTransition(saga.state, d.saga.state, saga.created_at)
                            : std::nullopt;
              end.has_value()) {
            ends.push_back(*end);
          }
          decisions.push_back(std::move(d));
        }
        tx.commit();
        bool commands = false;
        for (const SagaDecision& d : decisions) commands = commands || !d.commands.empty();
        if (commands && doorbell_ != nullptr) doorbell_->Ring();
        for (const SagaDecision& d : decisions) {
          ++stats_.deadlines;
          LogDecision(d, "deadline", stats_);
        }
        if (outcomes_ != nullptr) {
          for (const SagaEndTransition& end : ends) outcomes_->Record(end);
        }
        swept = static_cast<int>(decisions.size());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return swept;
}

void DeadlineSweeper::Loop() {
  absl::Time next_error_log = absl::InfinitePast();
  while (!stop_) {
    absl::StatusOr<int> swept = SweepOnce();
    if (!swept.ok() && absl::Now() >= next_error_log) {
      log::Warn("deadline sweep failed", {{"error", swept.status().ToString()}});
      next_error_log = absl::Now() + absl::Seconds(10);
    }
    if (swept.ok() && *swept == batch_) continue;  // more may be due
    const absl::Time until = absl::Now() + interval_;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace quoteflow::workers
