#include "platform/observability/trace_context.h"

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace quoteflow {
namespace {

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) ||
        absl::ascii_isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string NewTraceparent() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("00-%016x%016x-%016x-01", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

std::string ChildTraceparent(absl::string_view incoming) {
  // 00-<32 hex>-<16 hex>-<2 hex>
  if (incoming.size() != 55 || incoming.substr(0, 3) != "00-" || incoming[35] != '-' ||
      incoming[52] != '-') {
    return NewTraceparent();
  }
  absl::string_view trace_id = incoming.substr(3, 32);
  absl::string_view flags = incoming.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(incoming.substr(36, 16)) || !IsLowerHex(flags) ||
      trace_id == std::string(32, '0')) {
    return NewTraceparent();
  }
  thread_local absl::BitGen gen;
  uint64_t span = 0;
  while (span == 0) span = absl::Uniform<uint64_t>(gen);
  return absl::StrCat("00-", trace_id, "-", absl::StrFormat("%016x", span), "-", flags);
}

}  // namespace quoteflow
