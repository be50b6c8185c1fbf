// DoorbellHandler: wraps a worker's EventHandler so that the outbox relays are woken once the
// events it applied are committed. After each successful Handle() it adds a ring of the worker's
// outbox doorbell (platform/postgres/outbox_doorbell.h) to the transaction's AfterCommit, which
// the consumer runtime runs right after COMMIT and drops on rollback: the NOTIFY never happens
// inside the writing transaction, and never for rows that were rolled back. A batch of events
// rings once.
//
// Thread-safety: as the wrapped handler (the doorbell is thread-safe).
#ifndef QUOTEFLOW_CONSUMERS_COMMON_DOORBELL_HANDLER_H_
#define QUOTEFLOW_CONSUMERS_COMMON_DOORBELL_HANDLER_H_

#include "platform/messaging/event_handler.h"
#include "platform/postgres/outbox_doorbell.h"

namespace quoteflow::workers {

class DoorbellHandler : public messaging::EventHandler {
 public:
  // Both must outlive this handler.
  DoorbellHandler(messaging::EventHandler& inner, OutboxDoorbell& doorbell)
      : inner_(inner), doorbell_(doorbell) {}

  bool Wants(absl::string_view event_type) const override { return inner_.Wants(event_type); }

  // The wrapped handler's result. Outside the runtime (no AfterCommit), nothing is rung.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& event) override {
    absl::Status s = inner_.Handle(tx, event);
    if (s.ok()) RingAfterCommit(event);
    return s;
  }

  // The runtime gives all events of a transaction the same AfterCommit.
  absl::Status HandleBatch(pqxx::work& tx,
                           const std::vector<const messaging::InboundEvent*>& events) override {
    absl::Status s = inner_.HandleBatch(tx, events);
    if (s.ok() && !events.empty()) RingAfterCommit(*events.front());
    return s;
  }

 private:
  void RingAfterCommit(const messaging::InboundEvent& event) {
    if (event.after_commit == nullptr) return;
    OutboxDoorbell* doorbell = &doorbell_;
    event.after_commit->Add([doorbell] { doorbell->Ring(); });
  }

  messaging::EventHandler& inner_;
  OutboxDoorbell& doorbell_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_DOORBELL_HANDLER_H_
