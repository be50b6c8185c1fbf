// Errors with the name of the offending field attached, so that api/ can answer INVALID_ARGUMENT
// with google.rpc.BadRequest details naming it. Stateless; thread-safe.
#ifndef QUOTEFLOW_DOMAIN_ERRORS_H_
#define QUOTEFLOW_DOMAIN_ERRORS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace quoteflow {

// INVALID_ARGUMENT "<field>: <description>" carrying `field` as a payload.
absl::Status InvalidField(absl::string_view field, absl::string_view description);

// The field an InvalidField status names, if any.
std::optional<std::string> InvalidFieldName(const absl::Status& status);

}  // namespace quoteflow

#endif  // QUOTEFLOW_DOMAIN_ERRORS_H_
