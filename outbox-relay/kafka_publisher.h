// KafkaBatchPublisher: the relay's Kafka side. Produces outbox rows, many in flight at once
// (librdkafka's idempotent producer keeps them in order per partition), and hands back each
// delivery report as it arrives (Poll): only a successful report counts as published, and the
// relay deletes a row as soon as its report says so, without waiting for the rest of its batch.
// Errors are classified as permanent (the broker will never accept this message: too large, unknown
// or invalid topic, invalid record) or transient (everything else: brokers down, timeouts, possibly
// persisted, purged at shutdown); the relay parks the first kind after some attempts and retries
// the second forever.
//
// Not thread-safe: owned and used by the relay's single worker thread (librdkafka's own threads
// only talk to it through delivery reports served inside Poll()).
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
  int32_t partition = -1;  // where the broker wrote it, when delivered
  int64_t offset = -1;
};

// True for produce errors that retrying cannot fix (the row is parked after --max-attempts).
bool IsPermanentProduceError(rd_kafka_resp_err_t err);

// One produced message. Produce() sets `done` and `delivery` from its delivery report (or at once
// when librdkafka refuses it locally); it must stay at the same address until then.
struct TrackedMessage {
  int64_t id = 0;  // the row's seq: Poll() returns it once done
  Delivery delivery;
  bool done = false;
  std::vector<int64_t>* completed = nullptr;  // set by Produce()
};

class KafkaBatchPublisher {
 public:
  // Returns a new producer configuration (ownership passes to the caller); called again to build a
  // new producer after a fatal idempotence error.
  using ConfFactory = std::function<absl::StatusOr<rd_kafka_conf_t*>()>;

  // INVALID_ARGUMENT / FAILED_PRECONDITION from the factory; INTERNAL when librdkafka refuses to
  // create the producer (its message says why).
  static absl::StatusOr<std::unique_ptr<KafkaBatchPublisher>> Create(ConfFactory factory);
  ~KafkaBatchPublisher();

  // Queues one message (waiting for room while the local queue is full, unless `stop`). Its
  // report arrives through Poll(), bounded by message.timeout.ms.
  void Produce(const OutgoingMessage& message, TrackedMessage* tracked,
               const std::atomic<bool>& stop);

  // Sends what is queued and serves delivery reports for up to `max` (returns earlier once nothing
  // is outstanding). Returns the ids of the messages completed since the last call.
  std::vector<int64_t> Poll(absl::Duration max);

  // Messages produced whose report has not been served yet.
  int outstanding() const { return outstanding_; }

  // Abandons every queued and in-flight message: their reports come (kTransient, "purged") with
  // the next Poll(). They may still have reached the broker (at-least-once: sent again later).
  void Purge();

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
  int outstanding_ = 0;
  std::vector<int64_t> completed_;
};

}  // namespace quoteflow::relay

#endif  // QUOTEFLOW_OUTBOX_RELAY_KAFKA_PUBLISHER_H_
