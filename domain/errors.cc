#include "domain/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace quoteflow {
namespace {
constexpr char kFieldPayloadUrl[] = "type.quoteflow.dev/field";
}  // namespace

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  absl::Status status = absl::InvalidArgumentError(absl::StrCat(field, ": ", description));
  status.SetPayload(kFieldPayloadUrl, absl::Cord(field));
  return status;
}

std::optional<std::string> InvalidFieldName(const absl::Status& status) {
  auto payload = status.GetPayload(kFieldPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace quoteflow
