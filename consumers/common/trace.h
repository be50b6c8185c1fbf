// W3C trace context for the events a worker emits: they continue the trace of the event that
// caused them (same trace id, a new span id). Stateless; thread-safe.
#ifndef QUOTEFLOW_CONSUMERS_COMMON_TRACE_H_
#define QUOTEFLOW_CONSUMERS_COMMON_TRACE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace quoteflow::workers {

// "00-<trace id of `incoming`>-<new 16 hex span id>-<flags of `incoming`>" when `incoming` is a
// valid version-00 traceparent; otherwise a new trace (NewTraceparent()).
std::string ChildTraceparent(absl::string_view incoming);

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_COMMON_TRACE_H_
