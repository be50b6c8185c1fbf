// absl::Time <-> google.protobuf.Timestamp for the workers' gRPC adapters. Stateless; thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_COMMON_PROTO_TIME_H_
#define QUOTEFLOW_CONSUMERS_COMMON_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace quoteflow::workers {

inline void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest) * 1000);
}

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_PROTO_TIME_H_
