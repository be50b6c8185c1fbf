// The contract between the consumer runtime (InboxConsumer, inbox_consumer.h) and the services'
// event handlers: the runtime polls Kafka, decodes the envelope, opens ONE PostgreSQL transaction,
// inserts (consumer, event id) into <schema>.inbox, and only for a new event id calls the handler
// in that same transaction; it commits, and only then commits the Kafka offset. A duplicate event
// id changes nothing. Handlers write the events they emit in the same transaction, with
// WriteOutboxRow(tx, event.outbox_rows, ...) (platform/postgres/outbox_writer.h): the runtime
// inserts them all just before COMMIT.
//
// Thread-safety: the runtime calls a handler from one thread per partition batch; a handler used by
// several runtimes must be thread-safe (handlers are normally stateless apart from config).
#ifndef QUOTEFLOW_PLATFORM_MESSAGING_EVENT_HANDLER_H_
#define QUOTEFLOW_PLATFORM_MESSAGING_EVENT_HANDLER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "domain/events.h"
#include "domain/saga_orchestration.h"
#include "platform/postgres/outbox_writer.h"

namespace quoteflow::messaging {

// Work to do once the transaction that applied an event has committed (metrics of what the
// transaction changed, e.g. a saga outcome): Handle() adds functions, the runtime runs them in
// order right after COMMIT succeeded, on the Run() thread, and drops them when the transaction is
// rolled back (an error, a failed batch applied again one record at a time, a failed COMMIT). A
// COMMIT whose outcome is unknown (connection lost during it) is treated as failed: the record is
// applied again and then, if it had committed, is an inbox duplicate, so such work may be lost but
// never runs twice for one change. The functions must not throw.
class AfterCommit {
 public:
  void Add(std::function<void()> fn) { fns_.push_back(std::move(fn)); }
  // Runs and clears the functions (the runtime's call).
  void Run() {
    std::vector<std::function<void()>> fns;
    fns.swap(fns_);
    for (const auto& fn : fns) fn();
  }
  void Clear() { fns_.clear(); }

 private:
  std::vector<std::function<void()>> fns_;
};

// One decoded Kafka record: an event, or (saga orchestration) a command envelope.
struct InboundEvent {
  // For a command, only event_id (= the command id, the inbox key), quote_id and occurred_at (=
  // issued_at) are set.
  DomainEvent event;
  // Set when the record is a command ({"commandID",...}, platform/events/command_codec.h).
  std::optional<SagaCommand> command;
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  // W3C trace context from the `traceparent` header ("" if absent); continue it on emitted rows.
  std::string traceparent;
  // Set by the runtime while Handle() runs (null otherwise, e.g. in tests that call a handler
  // directly): work for after the commit of Handle()'s transaction.
  AfterCommit* after_commit = nullptr;
  // Set by the runtime while Handle() runs (null otherwise): the transaction's outbox rows, which
  // the runtime inserts (one statement per outbox) after the handler returned OK, before COMMIT.
  PendingOutboxRows* outbox_rows = nullptr;
};

class EventHandler {
 public:
  virtual ~EventHandler() = default;

  // Whether this consumer acts on `event_type` (an event's or a command's type). Other types are
  // acknowledged and skipped without a transaction (and counted).
  virtual bool Wants(absl::string_view event_type) const = 0;

  // Applies `event` in `tx`; the inbox row is already inserted in `tx`. Return OK to commit.
  // Errors decide what the runtime does:
  //  - INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, OUT_OF_RANGE: the event itself cannot be
  //    applied (poison): the transaction is rolled back, retried a bounded number of times, then
  //    the record goes to the dead-letter topic with the reason and the consumer moves on.
  //  - anything else (UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, INTERNAL...): transient; rolled back
  //    and retried with backoff, forever, without skipping or reordering.
  // A pqxx exception escaping Handle() is mapped with StatusFromPqxx and so counts as transient
  // (a unique or check violation would then be retried forever): handlers catch the SQL errors
  // that the event itself causes and return INVALID_ARGUMENT or FAILED_PRECONDITION instead.
  // Business outcomes (a rejected policy, a customer at its maximum) are NOT errors: the handler
  // records them and emits the compensating event, and returns OK.
  virtual absl::Status Handle(pqxx::work& tx, const InboundEvent& event) = 0;

  // Applies the new events of one transaction, in their order (the runtime calls this, not
  // Handle()): a handler may override it to apply a batch with fewer statements than one Handle()
  // each (saga-orchestrator locks all the batch's sagas in one). Errors as Handle()'s; any error
  // rolls the whole transaction back, and the runtime applies a failed batch again one event per
  // transaction. The default calls Handle() for each event.
  virtual absl::Status HandleBatch(pqxx::work& tx, const std::vector<const InboundEvent*>& events) {
    for (const InboundEvent* event : events) {
      if (absl::Status s = Handle(tx, *event); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

}  // namespace quoteflow::messaging

#endif  // QUOTEFLOW_PLATFORM_MESSAGING_EVENT_HANDLER_H_
