// Fuzz entry point for the event envelope codec: DecodeEnvelope on arbitrary bytes must answer OK
// or INVALID_ARGUMENT, and every envelope it accepts must survive EncodeEnvelope and a second
// DecodeEnvelope unchanged (decode(encode(x)) == x, encode stable).
#include <tuple>
#include <variant>

#include "absl/strings/str_cat.h"
#include "domain/events.h"
#include "platform/events/event_codec.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"

namespace quoteflow::fuzz {
namespace {

auto Tie(const QuoteApproved& e) { return std::tie(e.customer_id, e.premium); }
auto Tie(const QuoteRejected& e) { return std::tie(e.customer_id, e.reason, e.policy_id); }
auto Tie(const PolicyCreated& e) { return std::tie(e.policy_id, e.customer_id, e.premium); }
auto Tie(const PolicyCancelled& e) { return std::tie(e.policy_id, e.customer_id, e.reason); }
auto Tie(const CustomerPolicyCountUpdated& e) {
  return std::tie(e.customer_id, e.policy_id, e.policy_count, e.delta);
}
auto Tie(const CustomerPolicyCountRejected& e) {
  return std::tie(e.customer_id, e.policy_id, e.reason);
}

bool SameEvent(const DomainEvent& a, const DomainEvent& b) {
  if (a.event_id != b.event_id || a.aggregate_id != b.aggregate_id || a.quote_id != b.quote_id ||
      a.aggregate_version != b.aggregate_version || a.occurred_at != b.occurred_at ||
      a.payload.index() != b.payload.index()) {
    return false;
  }
  return std::visit(
      [&](const auto& pa) {
        using T = std::decay_t<decltype(pa)>;
        if constexpr (requires { Tie(pa); }) {
          return Tie(pa) == Tie(std::get<T>(b.payload));
        } else {  // a payload type added after this fuzzer: compare the encodings
          return EncodeEnvelope(a) == EncodeEnvelope(b);
        }
      },
      a.payload);
}

}  // namespace

void FuzzEventEnvelope(absl::string_view data) {
  (void)CheckRoundTrip(data, DecodeEnvelope, EncodeEnvelope, SameEvent);
}

}  // namespace quoteflow::fuzz
