// Replays every checked-in input of tests/fuzz/corpus/<target>/ (seeds and crash reproducers)
// through the same entry points the libFuzzer binaries use, in the plain g++ build: a crash once
// found and fixed stays a test even where clang is not installed. A property violation aborts the
// binary; the input being replayed is printed before it runs, so the failing file is named.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_targets.h"

namespace quoteflow::fuzz {

// Names the parameter in test listings (ctest shows "... # GetParam() = request_validation").
void PrintTo(const FuzzTarget& target, std::ostream* os) { *os << target.name; }

namespace {

class CorpusReplayTest : public ::testing::TestWithParam<FuzzTarget> {};

TEST_P(CorpusReplayTest, EveryCheckedInInputPasses) {
  const std::filesystem::path dir =
      std::filesystem::path(QUOTEFLOW_FUZZ_CORPUS_DIR) / GetParam().name;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << dir << " has no seeds";
  for (const std::filesystem::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::fprintf(stderr, "replaying %s\n", file.c_str());
    GetParam().run(bytes.str());
  }
  std::printf("%s: %zu inputs replayed\n", GetParam().name, files.size());
}

INSTANTIATE_TEST_SUITE_P(Targets, CorpusReplayTest, ::testing::ValuesIn(kFuzzTargets),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quoteflow::fuzz
