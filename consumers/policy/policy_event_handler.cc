#include "consumers/policy/policy_event_handler.h"

#include "consumers/common/pg_guard.h"
#include "consumers/policy/pg_policy_store.h"
#include "platform/observability/log.h"
#include "platform/observability/trace_context.h"

namespace quoteflow::workers {

absl::Status PolicyEventHandler::Handle(pqxx::work& tx, const messaging::InboundEvent& in) {
  PgPolicySagaStore store(tx, {.schema = "policy", .source = source_},
                          ChildTraceparent(in.traceparent), in.outbox_rows);
  absl::StatusOr<SagaOutcome> outcome =
      PgGuard("applying an event", [&] { return saga_.Apply(store, in.event); });
  if (!outcome.ok()) return outcome.status();
  log::Debug("event handled", {{"event_id", in.event.event_id},
                               {"event_type", in.event.type()},
                               {"quote_id", in.event.quote_id},
                               {"outcome", SagaOutcomeName(*outcome)}});
  return absl::OkStatus();
}

}  // namespace quoteflow::workers
