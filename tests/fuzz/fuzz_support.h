// Helpers shared by the fuzz entry points (tests/fuzz/*_fuzzer.cc): a reader that turns fuzz bytes
// into typed values without ever failing (missing bytes read as zero / empty), and FUZZ_CHECK,
// which reports a violated property and aborts so that libFuzzer (and the g++ corpus replay test)
// record the input as a crash. Everything here is plain C++ so that the same entry points build
// with g++ (replay) and with clang++ -fsanitize=fuzzer (exploration). Thread-compatible.
#ifndef QUOTEFLOW_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define QUOTEFLOW_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
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

}  // namespace quoteflow::fuzz

// Checks a property of the code under test; on violation prints the expression and `what`
// (anything absl::StrCat accepts) and aborts.
#define FUZZ_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      ::quoteflow::fuzz::PropertyViolated(__FILE__, __LINE__, #cond, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                                              \
  } while (false)

#endif  // QUOTEFLOW_TESTS_FUZZ_FUZZ_SUPPORT_H_
