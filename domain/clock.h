// Ports for the two sources of non-determinism domain code needs: time and fresh ids.
// Implementations must be thread-safe; domain code never reads the system clock itself.
#ifndef QUOTEFLOW_DOMAIN_CLOCK_H_
#define QUOTEFLOW_DOMAIN_CLOCK_H_

#include <string>

#include "absl/time/time.h"

namespace quoteflow {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A new, globally unique id (a UUID in production).
  virtual std::string NewId() = 0;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_CLOCK_H_
