// Fuzz entry point for the saga command codec (platform/events/command_codec.h), whose decoder
// reads outside input: every record of the command topics goes through DecodeCommandEnvelope (after
// DecodeEnvelope refused it, platform/messaging/inbox_consumer.cc). Properties:
//  - DecodeCommandEnvelope answers OK or INVALID_ARGUMENT, never crashes;
//  - every command it accepts survives EncodeCommandEnvelope and a second decode unchanged
//    (decode(encode(x)) == x, the encoding stable), so a command the orchestrator writes and one a
//    participant reads are the same;
//  - the encoding of a command is never taken for an event (DecodeEnvelope refuses it), so that the
//    inbox consumer, which tries the event decoder first, cannot misread a command.
#include <tuple>
#include <variant>

#include "absl/strings/str_cat.h"
#include "domain/saga_orchestration.h"
#include "platform/events/command_codec.h"
#include "platform/events/event_codec.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"

namespace quoteflow::fuzz {
namespace {

auto Tie(const CreatePolicy& c) {
  return std::tie(c.policy_id, c.customer_id, c.premium, c.quote_version);
}
auto Tie(const UpdateCustomerPolicyCount& c) {
  return std::tie(c.customer_id, c.policy_id, c.delta);
}
auto Tie(const CancelPolicy& c) { return std::tie(c.policy_id, c.customer_id, c.reason); }
auto Tie(const RejectQuote& c) { return std::tie(c.customer_id, c.policy_id, c.reason); }
auto Tie(const IssueQuote& c) { return std::tie(c.customer_id, c.policy_id); }

bool SameCommand(const SagaCommand& a, const SagaCommand& b) {
  if (a.command_id != b.command_id || a.quote_id != b.quote_id || a.issued_at != b.issued_at ||
      a.payload.index() != b.payload.index()) {
    return false;
  }
  return std::visit(
      [&](const auto& pa) {
        using T = std::decay_t<decltype(pa)>;
        if constexpr (requires { Tie(pa); }) {
          return Tie(pa) == Tie(std::get<T>(b.payload));
        } else {  // a command type added after this fuzzer: compare the encodings
          return EncodeCommandEnvelope(a) == EncodeCommandEnvelope(b);
        }
      },
      a.payload);
}

}  // namespace

void FuzzCommandEnvelope(absl::string_view data) {
  std::optional<std::string> wire =
      CheckRoundTrip(data, DecodeCommandEnvelope, EncodeCommandEnvelope, SameCommand);
  if (!wire.has_value()) return;
  FUZZ_CHECK(!DecodeEnvelope(*wire).ok(), "a command's encoding decodes as an event: ", *wire);
}

}  // namespace quoteflow::fuzz
