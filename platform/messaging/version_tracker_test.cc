#include "platform/messaging/version_tracker.h"

#include "gtest/gtest.h"

namespace quoteflow::messaging {
namespace {

TEST(VersionTrackerTest, JudgesAgainstLastVersionOfTheSameEpoch) {
  VersionTracker t(10);
  EXPECT_EQ(t.Observe("quote/q1", 1, 1).verdict, VersionVerdict::kUnknown);
  EXPECT_EQ(t.Observe("quote/q1", 1, 2).verdict, VersionVerdict::kInOrder);
  VersionObservation gap = t.Observe("quote/q1", 1, 5);
  EXPECT_EQ(gap.verdict, VersionVerdict::kGap);
  EXPECT_EQ(gap.last, 2);
  VersionObservation stale = t.Observe("quote/q1", 1, 3);
  EXPECT_EQ(stale.verdict, VersionVerdict::kStale);
  EXPECT_EQ(stale.last, 5);  // an older version does not lower the mark
  EXPECT_EQ(t.Observe("quote/q1", 1, 6).verdict, VersionVerdict::kInOrder);
  EXPECT_EQ(t.Observe("quote/q1", 1, 0).verdict, VersionVerdict::kUntracked);
}

TEST(VersionTrackerTest, NewEpochForgetsWhatWasSeen) {
  VersionTracker t(10);
  t.Observe("policy/p1", 1, 4);
  EXPECT_EQ(t.Observe("policy/p1", 2, 2).verdict, VersionVerdict::kUnknown);
  EXPECT_EQ(t.Observe("policy/p1", 2, 3).verdict, VersionVerdict::kInOrder);
}

TEST(VersionTrackerTest, EvictsLeastRecentlySeen) {
  VersionTracker t(2);
  t.Observe("a", 1, 1);
  t.Observe("b", 1, 1);
  t.Observe("a", 1, 2);  // a is now the most recent
  t.Observe("c", 1, 1);  // evicts b
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.Observe("a", 1, 3).verdict, VersionVerdict::kInOrder);
  EXPECT_EQ(t.Observe("b", 1, 9).verdict, VersionVerdict::kUnknown);
}

}  // namespace
}  // namespace quoteflow::messaging
