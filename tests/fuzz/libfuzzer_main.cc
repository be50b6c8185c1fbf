// The libFuzzer entry for one fuzz target: QUOTEFLOW_FUZZ_ENTRY names the function of
// fuzz_targets.h this binary drives (set per target in tests/fuzz/CMakeLists.txt). Built only with
// clang++ -fsanitize=fuzzer.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  QUOTEFLOW_FUZZ_ENTRY(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
