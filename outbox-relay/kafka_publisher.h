// KafkaBatchPublisher: the relay's Kafka side. Produces one batch of outbox rows with every message in
// flight at once (librdkafka's idempotent producer keeps them in order per partition), and waits for
// the delivery report of each: only a successful report counts as published. Errors are classified
// as permanent (the broker will never accept this message: too large, unknown or invalid topic,
// invalid record) or transient (everything else: brokers down, timeouts, possibly persisted, purged
// at shutdown); the relay parks the first kind after some attempts and retries the second forever.
//
// Not thread-safe: owned and used by the relay's single worker thread (librdkafka's own threads only
// talk to it through delivery reports served inside Publish()).
#ifndef QUOTEFLOW_OUTBOX_RELAY_KAFKA_PUBLISHER_H_
#define QUOTEFLOW_OUTBOX_RELAY_KAFKA_PUBLISHER_H_

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "outbox-relay/outbox_store.h"

namespace quoteflow::relay {

struct OutgoingMessage {
  std::string topic;
  const OutboxRow* row = nullptr;  // key = aggregate_id, value = payload, headers from the row
};

enum class DeliveryOutcome { kDelivered, kTransient, kPermanent };

struct Delivery {
  DeliveryOutcome outcome = DeliveryOutcome::kTransient;
  std::string error;  // empty when delivered
};

// True for produce errors that retrying cannot fix (the row is parked after --max-attempts).
bool IsPermanentProduceError(rd_kafka_resp_err_t err);

class KafkaBatchPublisher {
 public:
  // Returns a new producer configuration (ownership passes to the caller); called again to build a
  // new producer after a fatal idempotence error.
  using ConfFactory = std::function<absl::StatusOr<rd_kafka_conf_t*>()>;

  // INVALID_ARGUMENT / FAILED_PRECONDITION from the factory; INTERNAL when librdkafka refuses to
  // create the producer (its message says why).
  static absl::StatusOr<std::unique_ptr<KafkaBatchPublisher>> Create(ConfFactory factory);
  ~KafkaBatchPublisher();

  // Produces every message and returns one Delivery per message, in order, once each has its
  // delivery report. Blocks as long as librdkafka needs (bounded by message.timeout.ms unless that
  // is 0). When `stop` becomes true it waits at most `shutdown_grace` more, then purges what is left
  // (reported as kTransient: not published, will be sent again by whoever publishes next).
  std::vector<Delivery> Publish(const std::vector<OutgoingMessage>& messages,
                                const std::atomic<bool>& stop, absl::Duration shutdown_grace);

  // True after an idempotent-producer fatal error; the producer is then unusable and must be
  // recreated (Recreate()). `reason` receives librdkafka's message.
  bool Fatal(std::string* reason);

  // Replaces the producer with a fresh one. Errors as Create().
  absl::Status Recreate();

  // Waits up to `timeout` for queued messages (there are none between Publish() calls).
  void Flush(absl::Duration timeout);

 private:
  explicit KafkaBatchPublisher(ConfFactory factory) : factory_(std::move(factory)) {}
  absl::Status Build();

  ConfFactory factory_;
  rd_kafka_t* rk_ = nullptr;
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_KAFKA_PUBLISHER_H_
