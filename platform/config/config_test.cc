#include "platform/config/config.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

TEST(ConfigTest, FlagBeatsEnvBeatsDefault) {
  Config c("prog", "test");
  c.Declare("database-url", "postgresql://localhost/db", "db");
  c.Declare("batch-size", "100", "batch");
  c.Declare("poll", "1s", "poll");
  setenv("BATCH_SIZE", "7", 1);
  setenv("POLL", "250ms", 1);
  const char* argv[] = {"prog", "--database-url=postgresql://u:pw@h/x", "pos", "--poll", "2s"};
  auto pos = c.Parse(5, const_cast<char**>(argv));
  ASSERT_TRUE(pos.ok()) << pos.status();
  EXPECT_EQ(*pos, std::vector<std::string>{"pos"});
  EXPECT_EQ(c.Get("database-url"), "postgresql://u:pw@h/x");
  EXPECT_EQ(*c.GetInt("batch-size", 1, 1000), 7);
  EXPECT_EQ(*c.GetDuration("poll"), absl::Seconds(2));
  EXPECT_EQ(c.Describe().find("pw"), std::string::npos) << c.Describe();
  unsetenv("BATCH_SIZE");
  unsetenv("POLL");
}

TEST(ConfigTest, RejectsUnknownFlagsAndBadValues) {
  Config c("prog", "test");
  c.Declare("n", "x", "n");
  const char* argv[] = {"prog", "--nope=1"};
  EXPECT_EQ(c.Parse(2, const_cast<char**>(argv)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(c.GetInt("n", 0, 10).ok());
  EXPECT_FALSE(c.GetDuration("n").ok());
  EXPECT_FALSE(c.GetBool("n").ok());
}

TEST(ConfigTest, SecretsAreRedacted) {
  Config c("prog", "test");
  c.Declare("sasl-password", "", "p", /*secret=*/true);
  setenv("SASL_PASSWORD", "Endpoint=sb://x;SharedAccessKey=abc", 1);
  const char* argv[] = {"prog"};
  ASSERT_TRUE(c.Parse(1, const_cast<char**>(argv)).ok());
  EXPECT_EQ(c.Describe(), "sasl-password=***");
  EXPECT_EQ(RedactSecrets("host=h password=hunter2 user=u"), "host=h password=*** user=u");
  unsetenv("SASL_PASSWORD");
}

// Found by tests/fuzz (config_parse): a getter's error showed a secret option's value.
TEST(ConfigTest, GetterErrorsShowNoSecret) {
  Config c("prog", "test");
  c.Declare("api-token", "", "t", /*secret=*/true);
  c.Declare("mixed", "", "text with secrets");
  c.SetRedactor("mixed", [](absl::string_view) { return std::string("(redacted)"); });
  const char* argv[] = {"prog", "--api-token=tok-hunter2", "--mixed=key=hunter3"};
  ASSERT_TRUE(c.Parse(3, const_cast<char**>(argv)).ok());
  EXPECT_EQ(c.Describe(), "api-token=*** mixed=(redacted)");
  for (const char* name : {"api-token", "mixed"}) {
    for (const absl::Status& s :
         {c.GetInt(name, 0, 10).status(), c.GetDuration(name).status(), c.GetBool(name).status()}) {
      ASSERT_FALSE(s.ok());
      EXPECT_FALSE(absl::StrContains(s.message(), "hunter")) << s;
    }
  }
}

// Found by tests/fuzz (redact_secrets): only the first URL was redacted, and a URL's redaction
// could swallow a "password=" key and leave its value in clear.
TEST(ConfigTest, RedactSecretsCoversEveryUrlAndOverlappingSecrets) {
  EXPECT_EQ(RedactSecrets("kafka://x@h1 sasl://bob:hunter22@h2"), "kafka://x@h1 sasl://bob:***@h2");
  EXPECT_EQ(RedactSecrets("a://u:p1@h,b://v:p2@h"), "a://u:***@h,b://v:***@h");
  EXPECT_EQ(RedactSecrets("a://u:password=pw@h"), "a://u:***");
  EXPECT_EQ(RedactSecrets("x://h:1/db password=pw@y"), "x://h:***");
}

}  // namespace
}  // namespace quoteflow
