#include "platform/observability/trace_context.h"

#include "gtest/gtest.h"

namespace quoteflow {
namespace {

constexpr char kParent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(ChildTraceparentTest, KeepsTheTraceAndFlagsWithANewSpan) {
  std::string child = ChildTraceparent(kParent);
  ASSERT_EQ(child.size(), 55u);
  EXPECT_EQ(child.substr(0, 36), std::string(kParent).substr(0, 36));
  EXPECT_EQ(child.substr(52), "-01");
  EXPECT_NE(child.substr(36, 16), "00f067aa0ba902b7");
  EXPECT_NE(ChildTraceparent(kParent), child);
}

TEST(ChildTraceparentTest, StartsANewTraceForMissingOrBadInput) {
  for (const char* bad : {"", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"}) {
    std::string t = ChildTraceparent(bad);
    EXPECT_EQ(t.size(), 55u) << bad;
    EXPECT_EQ(t.substr(0, 3), "00-") << bad;
    EXPECT_NE(t.substr(3, 32), std::string(kParent).substr(3, 32)) << bad;
  }
}

}  // namespace
}  // namespace quoteflow
