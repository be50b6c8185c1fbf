// Converts the saga orchestrator's commands (domain/saga_orchestration.h) to and from the command
// envelope on the wire (DESIGN.md section 4; the seed's orchestration example):
// {"commandID","commandType","quoteID","issuedAt","data":{...}}, where `data` is the proto3 JSON
// form of the command message in proto/quoteflow/v1/commands.proto. Events keep their own envelope
// (event_codec.h); the two are told apart by their id field. Stateless functions; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_EVENTS_COMMAND_CODEC_H_
#define QUOTEFLOW_PLATFORM_EVENTS_COMMAND_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "domain/saga_orchestration.h"

namespace quoteflow {

// The envelope JSON for `command`.
std::string EncodeCommandEnvelope(const SagaCommand& command);

// Parses a command envelope. INVALID_ARGUMENT (with what is wrong) for malformed JSON, a missing
// commandID, commandType or quoteID, an issuedAt that is not RFC 3339 (or out of range), an unknown
// commandType, or a data object that does not match it. issuedAt is truncated to microseconds (the
// precision EncodeCommandEnvelope writes; the Unix epoch when absent), so that
// DecodeCommandEnvelope(EncodeCommandEnvelope(c)) equals c for every decoded c.
absl::StatusOr<SagaCommand> DecodeCommandEnvelope(absl::string_view json);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_EVENTS_COMMAND_CODEC_H_
