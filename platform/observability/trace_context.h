// W3C trace context (`traceparent`) for the work quoteflow does: a request or event either continues
// the trace it came with (same trace id, a new span id) or starts a new one. The value is stored on
// every outbox row and carried in the Kafka headers. Stateless; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_OBSERVABILITY_TRACE_CONTEXT_H_
#define QUOTEFLOW_PLATFORM_OBSERVABILITY_TRACE_CONTEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace quoteflow {

// A fresh traceparent "00-<32 hex trace id>-<16 hex span id>-01".
std::string NewTraceparent();

// "00-<trace id of `incoming`>-<new 16 hex span id>-<flags of `incoming`>" when `incoming` is a
// valid version-00 traceparent; otherwise a new trace (NewTraceparent()).
std::string ChildTraceparent(absl::string_view incoming);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_OBSERVABILITY_TRACE_CONTEXT_H_
