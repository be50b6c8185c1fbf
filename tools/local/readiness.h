// Probes the local launcher uses to decide that a child is ready, and small file/port helpers:
// a grpc.health.v1 Check, "has this line appeared in the log since offset N", "is this port free",
// and the tail of a log file for error messages.
//
// Thread-safety: stateless functions, thread-safe.
#ifndef QUOTEFLOW_TOOLS_LOCAL_READINESS_H_
#define QUOTEFLOW_TOOLS_LOCAL_READINESS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quoteflow::local {

// Calls grpc.health.v1.Health/Check for the whole server ("") at `address` with `timeout`.
// OK when it answers SERVING, or UNIMPLEMENTED (the server is up but has no health service).
// UNAVAILABLE with the reason otherwise (cannot connect, NOT_SERVING, deadline).
absl::Status CheckGrpcHealth(const std::string& address, absl::Duration timeout);

// True when `needle` occurs in the file at `path` after byte `offset` (reads at most 64 MiB).
// A missing file counts as not found.
bool FileContainsSince(const std::string& path, int64_t offset, absl::string_view needle);

// Size of the file at `path`, 0 when missing.
int64_t FileSize(const std::string& path);

// The last `max_lines` lines of the file at `path` (at most 8 KiB), each prefixed with `prefix`;
// empty when the file is missing or empty.
std::string FileTail(const std::string& path, int max_lines, absl::string_view prefix);

// True when nothing listens on 127.0.0.1:`port` (a bind + listen with SO_REUSEADDR and without
// SO_REUSEPORT succeeds, so a gRPC server holding the port with SO_REUSEPORT counts as busy).
bool TcpPortAvailable(int port);

}  // namespace quoteflow::local

#endif  // QUOTEFLOW_TOOLS_LOCAL_READINESS_H_
