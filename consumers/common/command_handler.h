// The participants' EventHandler in orchestration mode: applies the orchestrator's commands with a
// participant service (domain/saga_participants.h) over the worker's PostgreSQL store, inside the
// consumer runtime's transaction (so the inbox deduplicates commands by command id, exactly as it
// deduplicates events), and writes the one reply into the worker's outbox with the explicit topic
// saga-replies. Events are not handled in this mode (the handler wants command types only).
// Thread-safe if the service is (the services hold configuration and a Clock).
#ifndef QUOTEFLOW_CONSUMERS_COMMON_COMMAND_HANDLER_H_
#define QUOTEFLOW_CONSUMERS_COMMON_COMMAND_HANDLER_H_

#include <functional>
#include <memory>
#include <string>

#include "consumers/common/pg_guard.h"
#include "domain/saga_participants.h"
#include "platform/messaging/event_handler.h"
#include "platform/observability/log.h"
#include "platform/observability/trace_context.h"
#include "platform/postgres/outbox_writer.h"

namespace quoteflow::workers {

inline constexpr char kSagaModeChoreography[] = "choreography";
inline constexpr char kSagaModeOrchestration[] = "orchestration";

// Replies into <schema>.outbox, topic `topic`.
class PgReplySink : public ReplySink {
 public:
  // The reply goes to `outbox_rows` if given (written at COMMIT), else straight into the table.
  PgReplySink(pqxx::work& tx, OutboxTarget target, std::string traceparent, std::string topic,
              PendingOutboxRows* outbox_rows)
      : tx_(tx),
        target_(std::move(target)),
        traceparent_(std::move(traceparent)),
        topic_(std::move(topic)),
        outbox_rows_(outbox_rows) {}
  absl::Status Reply(const DomainEvent& reply) override {
    return PgGuard("writing a saga reply", [&] {
      WriteOutboxRow(tx_, outbox_rows_, target_, reply, traceparent_, topic_);
      return absl::OkStatus();
    });
  }

 private:
  pqxx::work& tx_;
  OutboxTarget target_;
  std::string traceparent_;
  std::string topic_;
  PendingOutboxRows* outbox_rows_;
};

// Service: PolicyCommandService, CustomerCommandService or QuoteCommandService; Store: the
// service's store port, built per command by `make_store(tx, traceparent, outbox_rows)`.
template <class Service, class Store>
class CommandHandler : public messaging::EventHandler {
 public:
  using StoreFactory = std::function<std::unique_ptr<Store>(
      pqxx::work&, const std::string& traceparent, PendingOutboxRows* outbox_rows)>;
  CommandHandler(Service& service, StoreFactory make_store, OutboxTarget replies,
                 std::string reply_topic)
      : service_(service),
        make_store_(std::move(make_store)),
        replies_(std::move(replies)),
        reply_topic_(std::move(reply_topic)) {}

  bool Wants(absl::string_view type) const override { return Service::Wants(type); }

  // The service's errors (INVALID_ARGUMENT / FAILED_PRECONDITION / NOT_FOUND: dead-lettered) and
  // storage errors (retried). An event (not a command) is acknowledged without effect.
  absl::Status Handle(pqxx::work& tx, const messaging::InboundEvent& in) override {
    if (!in.command.has_value()) return absl::OkStatus();
    const std::string trace = ChildTraceparent(in.traceparent);
    std::unique_ptr<Store> store = make_store_(tx, trace, in.outbox_rows);
    PgReplySink sink(tx, replies_, trace, reply_topic_, in.outbox_rows);
    absl::Status s =
        PgGuard("applying a command", [&] { return service_.Handle(*store, sink, *in.command); });
    if (s.ok()) {
      log::Debug("command handled", {{"command_id", in.command->command_id},
                                     {"command_type", in.command->type()},
                                     {"quote_id", in.command->quote_id}});
    }
    return s;
  }

 private:
  Service& service_;
  StoreFactory make_store_;
  const OutboxTarget replies_;
  const std::string reply_topic_;
};

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_COMMAND_HANDLER_H_
