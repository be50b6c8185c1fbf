// The libFuzzer entry for one fuzz target: QUOTEFLOW_FUZZ_TARGET names the entry of kFuzzTargets
// (fuzz_targets.h) this binary drives (set per target in tests/fuzz/CMakeLists.txt). Built only
// with clang++ -fsanitize=fuzzer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_targets.h"

namespace {

constexpr auto kRun = [] {
  for (const quoteflow::fuzz::FuzzTarget& t : quoteflow::fuzz::kFuzzTargets) {
    if (std::string_view(t.name) == QUOTEFLOW_FUZZ_TARGET) return t.run;
  }
  return static_cast<void (*)(absl::string_view)>(nullptr);
}();
static_assert(kRun != nullptr, "QUOTEFLOW_FUZZ_TARGET is not a name in kFuzzTargets");

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kRun(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
