#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

namespace quoteflow::fuzz {

uint8_t ByteReader::Byte() {
  if (data_.empty()) return 0;
  const auto b = static_cast<uint8_t>(data_.front());
  data_.remove_prefix(1);
  return b;
}

int64_t ByteReader::Int64() {
  switch (Byte() % 8) {
    case 0:
      return 0;
    case 1:
      return -1;
    case 2:
      return 1;
    case 3:
      return std::numeric_limits<int64_t>::min();
    case 4:
      return std::numeric_limits<int64_t>::max();
    default:
      break;
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(Byte()) << (8 * i);
  return static_cast<int64_t>(v);
}

std::string ByteReader::String(size_t max_length) {
  size_t length = Byte();
  if (max_length > 255) length = length * max_length / 255;
  if (length > max_length) length = max_length;
  if (length > data_.size()) length = data_.size();
  std::string out(data_.substr(0, length));
  data_.remove_prefix(length);
  return out;
}

std::string ByteReader::Rest() {
  std::string out(data_);
  data_ = absl::string_view();
  return out;
}

void PropertyViolated(const char* file, int line, const char* expression, const std::string& what) {
  std::fprintf(stderr, "FUZZ PROPERTY VIOLATED at %s:%d: %s\n  %s\n", file, line, expression,
               what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool CodeIn(const absl::Status& status, std::initializer_list<absl::StatusCode> codes) {
  for (absl::StatusCode c : codes) {
    if (status.code() == c) return true;
  }
  return false;
}

}  // namespace quoteflow::fuzz
