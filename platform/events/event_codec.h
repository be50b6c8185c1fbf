// Converts domain events to and from the JSON envelope on the wire (DESIGN.md section 4):
// {"eventID","eventType","quoteID","aggregateID","aggregateVersion","occurredAt","data":{...}},
// where `data` is the proto3 JSON form of the payload message in proto/quoteflow/v1/events.proto.
// Stateless functions; thread-safe.
#ifndef QUOTEFLOW_PLATFORM_EVENTS_EVENT_CODEC_H_
#define QUOTEFLOW_PLATFORM_EVENTS_EVENT_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "domain/events.h"

namespace quoteflow {

// The envelope JSON for `event`. aggregateVersion is written as a JSON number.
std::string EncodeEnvelope(const DomainEvent& event);

// Parses an envelope. INVALID_ARGUMENT (with what is wrong) for malformed JSON, a missing eventID,
// eventType, aggregateID or occurredAt, an occurredAt that is not RFC 3339, an unknown eventType,
// or a data object that does not match it. occurredAt is truncated to microseconds (the precision
// EncodeEnvelope writes), so DecodeEnvelope(EncodeEnvelope(e)) equals e for every decoded e.
absl::StatusOr<DomainEvent> DecodeEnvelope(absl::string_view json);

// RFC 3339 UTC with microseconds, e.g. 2026-11-26T11:39:10.123456Z.
std::string FormatRfc3339(absl::Time t);

// Parses the RFC 3339 timestamp of envelope field `field` (occurredAt, issuedAt), truncated to
// microseconds (the precision FormatRfc3339 writes), so that a decoded time survives
// FormatRfc3339 and ParseEnvelopeTime unchanged. INVALID_ARGUMENT "<field> '<text>' is not RFC
// 3339..." for a text that is not RFC 3339 or lies outside absl::Time's finite range.
absl::StatusOr<absl::Time> ParseEnvelopeTime(absl::string_view field, absl::string_view text);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_EVENTS_EVENT_CODEC_H_
