// Unit tests of tests/ops/ops_test_util: the runbook's block parser and runner (with bash, no
// services), the metric-name extraction of a /metrics exposition, and the real docs/runbook.md
// parsing into blocks for both modes.
#include "tests/ops/ops_test_util.h"

#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace quoteflow::ops_testing {
namespace {

TEST(ParseRunbookTest, ReadsTaggedShellBlocksAndSkipsOtherFences) {
  absl::StatusOr<std::vector<RunbookBlock>> blocks = ParseRunbook(
      "# title\n"
      "```text\n```sh not a block: inside another fence\n```\n"
      "```sh tested=choreography:first\necho one\necho two\n```\n"
      "prose\n"
      "```sh tested=choreography,orchestration:second\nexit 3\n```\n");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0].name, "first");
  EXPECT_EQ((*blocks)[0].modes, std::vector<std::string>{"choreography"});
  EXPECT_EQ((*blocks)[0].script, "echo one\necho two\n");
  EXPECT_EQ((*blocks)[0].line, 5);
  EXPECT_EQ((*blocks)[1].name, "second");
  EXPECT_EQ((*blocks)[1].modes, (std::vector<std::string>{"choreography", "orchestration"}));
}

TEST(ParseRunbookTest, RefusesUntaggedDuplicateAndUnclosedBlocks) {
  for (const char* bad :
       {"```sh\necho untagged\n```\n", "```sh tested=x\necho\n```\n",
        "```sh tested=:name\necho\n```\n", "```sh tested=a:n\n```\n```sh tested=b:n\n```\n",
        "```sh tested=a:n\necho never closed\n"}) {
    absl::StatusOr<std::vector<RunbookBlock>> blocks = ParseRunbook(bad);
    EXPECT_EQ(blocks.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

class RunbookRunnerTest : public ::testing::Test {
 protected:
  std::string WriteRunbook(const std::string& text) {
    const std::string path = ::testing::TempDir() + "ops_test_util_runbook.md";
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(RunbookRunnerTest, RunsABlockWithItsEnvironmentAndReportsFailures) {
  RunbookRunner runner(WriteRunbook("```sh tested=m:echo\necho \"$GREETING $WHO\" >&2\n```\n"
                                    "```sh tested=m:pipe\nfalse | true\necho not reached\n```\n"
                                    "```sh tested=m:unset\necho \"$NOT_SET_ANYWHERE_X\"\n```\n"
                                    "```sh tested=m:never\necho\n```\n"
                                    "```sh tested=other:elsewhere\necho\n```\n"),
                       "m", {{"GREETING", "hello"}, {"WHO", "nobody"}});
  ASSERT_TRUE(runner.status().ok()) << runner.status();
  absl::StatusOr<BlockResult> r = runner.Run("echo", {{"WHO", "world"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "hello world\n");  // stderr merged; the extra variable wins
  // pipefail and -e: a failed stage fails the block at once.
  r = runner.Run("pipe");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_FALSE(absl::StrContains(r->output, "not reached"));
  // -u: a variable the test forgot to set fails the block.
  r = runner.Run("unset");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r->output, "unbound variable")) << r->output;
  EXPECT_EQ(runner.Run("elsewhere").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runner.Run("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runner.NotRun(), std::vector<std::string>{"never"});
}

TEST_F(RunbookRunnerTest, ABlockThatDoesNotFinishIsADeadlineError) {
  RunbookRunner runner(WriteRunbook("```sh tested=m:slow\necho started\nsleep 30\n```\n"), "m", {});
  const absl::Time start = absl::Now();
  absl::StatusOr<BlockResult> r = runner.Run("slow", {}, absl::Milliseconds(500));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "started")) << r.status();
  // Stopped at its deadline with its `sleep`: the output pipe closed long before 30 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(MetricNamesTest, SamplesAndTypeLines) {
  const std::set<std::string> names = MetricNames(
      "# HELP quoteflow_x_total help\n"
      "# TYPE quoteflow_x_total counter\n"
      "quoteflow_x_total{method=\"/a.B/C\",code=\"OK\"} 3\n"
      "# TYPE quoteflow_h_seconds histogram\n"
      "quoteflow_h_seconds_bucket{le=\"+Inf\"} 1\n"
      "quoteflow_h_seconds_sum 0.5\n"
      "quoteflow_h_seconds_count 1\n"
      "quoteflow_g 7\n");
  EXPECT_EQ(names, (std::set<std::string>{"quoteflow_x_total", "quoteflow_h_seconds",
                                          "quoteflow_h_seconds_bucket", "quoteflow_h_seconds_sum",
                                          "quoteflow_h_seconds_count", "quoteflow_g"}));
  EXPECT_EQ(Sample("a{b=\"c\"} 2\na 4\n", "a"), 4);
  EXPECT_EQ(Sample("a{b=\"c\"} 2\na 4\n", "a{b=\"c\"}"), 2);
  EXPECT_EQ(Sample("a 4\n", "b"), std::nullopt);
}

TEST(RealRunbookTest, ParsesWithBlocksForBothModes) {
  RunbookRunner choreography(QUOTEFLOW_RUNBOOK, "choreography", {});
  ASSERT_TRUE(choreography.status().ok()) << choreography.status();
  RunbookRunner orchestration(QUOTEFLOW_RUNBOOK, "orchestration", {});
  EXPECT_GE(choreography.NotRun().size(), 10u);
  EXPECT_GE(orchestration.NotRun().size(), 4u);
}

}  // namespace
}  // namespace quoteflow::ops_testing
