#include "tools/local/local_env.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace quoteflow::local {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

TEST(ShellQuoteTest, PlainValuesStayUnquoted) {
  EXPECT_EQ(ShellQuote("postgresql://quoteflow@127.0.0.1:54329/quoteflow"),
            "postgresql://quoteflow@127.0.0.1:54329/quoteflow");
  EXPECT_EQ(ShellQuote("127.0.0.1:1,127.0.0.1:2"), "127.0.0.1:1,127.0.0.1:2");
}

TEST(ShellQuoteTest, QuotesWhatTheShellWouldExpand) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("$HOME"), "'$HOME'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(LocalEnvTest, FormatsExportLinesWithPathLast) {
  const std::string text = FormatLocalEnv(
      {"written by a test"}, {{"DATABASE_URL", "postgresql://u@h:1/d"}, {"GRPC_ADDRESS", "h:2"}},
      "/x/.quoteflow/bin");
  EXPECT_EQ(text,
            "# written by a test\n"
            "export DATABASE_URL=postgresql://u@h:1/d\n"
            "export GRPC_ADDRESS=h:2\n"
            "export PATH=\"$PATH:/x/.quoteflow/bin\"\n");
}

TEST(LocalEnvTest, ParseRoundTripsFormat) {
  const std::string text = FormatLocalEnv(
      {"c"}, {{"A", "plain"}, {"B", "with space"}, {"C", "it's $x"}, {"D", ""}}, "/p/b\"in");
  absl::StatusOr<std::map<std::string, std::string>> vars = ParseLocalEnv(text);
  ASSERT_TRUE(vars.ok()) << vars.status();
  EXPECT_EQ(vars->at("A"), "plain");
  EXPECT_EQ(vars->at("B"), "with space");
  EXPECT_EQ(vars->at("C"), "it's $x");
  EXPECT_EQ(vars->at("D"), "");
  EXPECT_EQ(vars->at("PATH"), "$PATH:/p/b\"in");
}

TEST(LocalEnvTest, ParseRejectsGarbage) {
  EXPECT_FALSE(ParseLocalEnv("export A=1\nnot a line\n").ok());
  EXPECT_FALSE(ParseLocalEnv("A='unterminated\n").ok());
  EXPECT_FALSE(ParseLocalEnv("1A=x\n").ok());
}

// The file must mean the same to a real shell: source it and print the variables.
TEST(LocalEnvTest, ShellSourcesWhatWeWrite) {
  char dir[] = "/tmp/local_env_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/local.env";
  ASSERT_TRUE(WriteFileAtomically(path, FormatLocalEnv({"c"}, {{"A", "x y"}, {"B", "it's"}},
                                                       std::string(dir) + "/bin"))
                  .ok());
  const std::string out_path = std::string(dir) + "/out";
  const std::string cmd = "env -i PATH=/usr/bin:/bin sh -c '. " + path +
                          " && printf \"%s|%s|%s\" \"$A\" \"$B\" \"$PATH\"' > " + out_path;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out_path);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "x y|it's|/usr/bin:/bin:" + std::string(dir) + "/bin");
  EXPECT_NE(access((path + ".tmp").c_str(), F_OK), 0) << "temporary file left behind";
  std::system(("rm -rf " + std::string(dir)).c_str());
}

TEST(LocalEnvTest, WriteFailsInMissingDirectory) {
  absl::Status s = WriteFileAtomically("/nonexistent-dir/local.env", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("local.env.tmp"));
}

}  // namespace
}  // namespace quoteflow::local
