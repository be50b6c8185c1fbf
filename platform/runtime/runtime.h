// Process-level adapters that main() owns: the system clock, random UUIDs, abseil's mutex mode,
// and waiting for SIGTERM / SIGINT. SystemClock and UuidGenerator are thread-safe.
#ifndef QUOTEFLOW_PLATFORM_RUNTIME_RUNTIME_H_
#define QUOTEFLOW_PLATFORM_RUNTIME_RUNTIME_H_

#include <csignal>
#include <string>

#include "absl/time/time.h"
#include "domain/clock.h"

namespace quoteflow {

class SystemClock : public Clock {
 public:
  absl::Time Now() override;
};

// Random (version 4) UUIDs.
class UuidGenerator : public IdGenerator {
 public:
  std::string NewId() override;
};

// Turns absl::Mutex's deadlock detection off for the process. Debian's abseil is built without
// NDEBUG, which leaves it on: every absl::Mutex, gRPC's included, then records lock order in one
// process-wide graph behind a global lock (a stack trace for each new lock), work that abseil's
// release builds never do. quote-api spent ~13 % less CPU per ApproveQuote without it
// (docs/performance.md). Tests keep it on, so lock-order inversions still abort there. Call first
// thing in main(), before any thread exists.
void DisableMutexDeadlockDetection();

// Blocks SIGTERM, SIGINT (and SIGPIPE) in the calling thread and every thread it starts afterwards.
// Call first thing in main(), before any thread exists.
void BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives (after BlockTerminationSignals) and returns its number.
int WaitForTerminationSignal();

// Returns the pending termination signal, or 0, waiting at most `timeout`.
int PollTerminationSignal(absl::Duration timeout);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_RUNTIME_RUNTIME_H_
