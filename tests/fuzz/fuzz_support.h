// Helpers shared by the fuzz entry points (tests/fuzz/*_fuzzer.cc): a reader that turns fuzz bytes
// into typed values without ever failing (missing bytes read as zero / empty), and FUZZ_CHECK,
// which reports a violated property and aborts so that libFuzzer (and the g++ corpus replay test)
// record the input as a crash; CheckRoundTrip, the decode/encode property of the codec fuzzers.
// Everything here is plain C++ so that the same entry points build with g++ (replay) and with
// clang++ -fsanitize=fuzzer (exploration). Thread-compatible.
#ifndef QUOTEFLOW_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define QUOTEFLOW_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace quoteflow::fuzz {

// Consumes fuzz bytes front to back. Reads past the end yield 0 / "" so that every input, however
// short, is a valid program for an entry point.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view data) : data_(data) {}

  bool empty() const { return data_.empty(); }
  uint8_t Byte();
  bool Bool() { return (Byte() & 1) != 0; }
  // Eight bytes, little endian; with the low bits of a selector byte it also produces the edge
  // values (0, -1, 1, INT64_MIN, INT64_MAX) far more often than uniform bytes would.
  int64_t Int64();
  // A string of up to `max_length` bytes: one length byte (scaled when max_length > 255), then
  // that many bytes (fewer at the end of the input).
  std::string String(size_t max_length = 255);
  // Everything that is left.
  std::string Rest();

 private:
  absl::string_view data_;
};

// Reports `what` (with the failing expression) on stderr and aborts.
[[noreturn]] void PropertyViolated(const char* file, int line, const char* expression,
                                   const std::string& what);

// True when `status`'s code is one of `codes`.
bool CodeIn(const absl::Status& status, std::initializer_list<absl::StatusCode> codes);

// Checks a codec's round trip on fuzz bytes (FUZZ_CHECK on violation): `decode` refuses only with
// INVALID_ARGUMENT; a value it accepts encodes (`encode`) to a wire that decodes again to an equal
// value (`same`) and encodes to the same wire. Returns that wire, or nullopt when `data` was
// refused.
template <typename Decode, typename Encode, typename Same>
std::optional<std::string> CheckRoundTrip(absl::string_view data, Decode decode, Encode encode,
                                          Same same);

}  // namespace quoteflow::fuzz

// Checks a property of the code under test; on violation prints the expression and `what`
// (anything absl::StrCat accepts) and aborts.
#define FUZZ_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      ::quoteflow::fuzz::PropertyViolated(__FILE__, __LINE__, #cond, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                                              \
  } while (false)

namespace quoteflow::fuzz {

template <typename Decode, typename Encode, typename Same>
std::optional<std::string> CheckRoundTrip(absl::string_view data, Decode decode, Encode encode,
                                          Same same) {
  auto decoded = decode(data);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument,
               decoded.status().ToString());
    return std::nullopt;
  }
  std::string wire = encode(*decoded);
  auto again = decode(wire);
  FUZZ_CHECK(again.ok(), "re-encoded value refused: ", again.status().ToString(),
             "\n  wire: ", wire);
  FUZZ_CHECK(same(*decoded, *again), "decode(encode(x)) != x\n  wire: ", wire,
             "\n  again: ", encode(*again));
  FUZZ_CHECK(encode(*again) == wire, "encoding not stable\n  wire: ", wire);
  return wire;
}

}  // namespace quoteflow::fuzz

#endif  // QUOTEFLOW_TESTS_FUZZ_FUZZ_SUPPORT_H_
