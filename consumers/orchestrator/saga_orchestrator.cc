#include "consumers/orchestrator/saga_orchestrator.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consumers/common/pg_guard.h"
#include "consumers/orchestrator/pg_saga_store.h"
#include "platform/observability/log.h"
#include "platform/observability/trace_context.h"

namespace quoteflow::workers {
namespace {

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
  if (in.command.has_value()) return absl::OkStatus();  // commands are for the participants
  const DomainEvent& e = in.event;
  PgSagaStore store(tx, ChildTraceparent(in.traceparent));
  if (std::holds_alternative<QuoteApproved>(e.payload)) {
    const std::string& quote_id = e.quote_id.empty() ? e.aggregate_id : e.quote_id;
    absl::StatusOr<std::optional<Saga>> existing = store.Lock(quote_id);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return absl::OkStatus();  // the saga exists: nothing to start
    // The database's clock (read by Lock): the deadline is compared with it by every sweeper.
    absl::StatusOr<SagaDecision> d = StartSaga(e, settings_, store.db_now().value());
    if (!d.ok()) return d.status();
    if (absl::Status s = store.StoreDecision(*d, /*is_new=*/true); !s.ok()) return s;
    ++stats_.started;
    LogDecision(*d, "QuoteApproved", stats_);
    return absl::OkStatus();
  }
  std::optional<ReplyRef> ref = ParseReplyEventId(e.event_id);
  if (!ref.has_value()) {
    log::Debug("not a saga reply", {{"event_id", e.event_id}, {"event_type", e.type()}});
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Saga>> saga = store.Lock(ref->quote_id);
  if (!saga.ok()) return saga.status();
  if (!saga->has_value()) {
    log::Warn("reply for an unknown saga", {{"event_id", e.event_id}, {"quote_id", ref->quote_id}});
    return absl::OkStatus();
  }
  absl::StatusOr<SagaDecision> d = DecideOnReply(**saga, e, settings_, store.db_now().value());
  if (!d.ok()) return d.status();
  if (absl::Status s = store.StoreDecision(*d, /*is_new=*/false); !s.ok()) return s;
  if (outcomes_ != nullptr && in.after_commit != nullptr && d->changed) {
    if (std::optional<SagaEndTransition> end =
            SagaStateEndTransition((*saga)->state, d->saga.state, (*saga)->created_at);
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
        PgSagaStore store(tx, "");
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
