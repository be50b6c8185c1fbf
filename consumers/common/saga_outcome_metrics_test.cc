#include "consumers/common/saga_outcome_metrics.h"

#include <string>

#include "absl/strings/match.h"
#include "domain/testing/fakes.h"
#include "gtest/gtest.h"

namespace quoteflow::workers {
namespace {

const absl::Time kApproved = absl::FromUnixSeconds(1'700'000'000);

TEST(QuoteEndTransitionTest, OnlyAChangeToAFinalStatusIsAnEnd) {
  std::optional<SagaEndTransition> t =
      QuoteEndTransition(QuoteStatus::kApproved, kApproved, QuoteStatus::kIssued);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->end, SagaEnd::kIssued);
  EXPECT_EQ(t->approved_at, kApproved);

  t = QuoteEndTransition(QuoteStatus::kApproved, kApproved, QuoteStatus::kRejected);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->end, SagaEnd::kRejected);
  EXPECT_EQ(t->approved_at, kApproved);

  // Rejected without ever being approved: an end, with no approval time.
  t = QuoteEndTransition(QuoteStatus::kDraft, kApproved, QuoteStatus::kRejected);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->end, SagaEnd::kRejected);
  EXPECT_EQ(t->approved_at, std::nullopt);

  // Already final (a replay), or not final.
  EXPECT_FALSE(QuoteEndTransition(QuoteStatus::kIssued, kApproved, QuoteStatus::kIssued));
  EXPECT_FALSE(QuoteEndTransition(QuoteStatus::kRejected, kApproved, QuoteStatus::kRejected));
  EXPECT_FALSE(QuoteEndTransition(QuoteStatus::kDraft, kApproved, QuoteStatus::kApproved));
}

TEST(SagaStateEndTransitionTest, CompletedIsIssuedAndCompensatedIsRejected) {
  std::optional<SagaEndTransition> t =
      SagaStateEndTransition(SagaState::kIssueRequested, SagaState::kCompleted, kApproved);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->end, SagaEnd::kIssued);
  EXPECT_EQ(t->approved_at, kApproved);
  t = SagaStateEndTransition(SagaState::kRejectQuoteRequested, SagaState::kCompensated, kApproved);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->end, SagaEnd::kRejected);
  t = SagaStateEndTransition(SagaState::kStuck, SagaState::kCompensated, kApproved);
  ASSERT_TRUE(t.has_value());  // resumed by an operator, then compensated
  EXPECT_FALSE(SagaStateEndTransition(SagaState::kCompleted, SagaState::kCompleted, kApproved));
  EXPECT_FALSE(SagaStateEndTransition(SagaState::kCompensated, SagaState::kCompensated, kApproved));
  EXPECT_FALSE(SagaStateEndTransition(SagaState::kPolicyRequested,
                                      SagaState::kCustomerUpdateRequested, kApproved));
  EXPECT_FALSE(SagaStateEndTransition(SagaState::kIssueRequested, SagaState::kStuck, kApproved));
}

TEST(ApproveToFinalSecondsTest, NeverNegative) {
  EXPECT_DOUBLE_EQ(ApproveToFinalSeconds(kApproved, kApproved + absl::Milliseconds(1500)), 1.5);
  EXPECT_DOUBLE_EQ(ApproveToFinalSeconds(kApproved, kApproved - absl::Seconds(2)), 0);
}

TEST(SagaOutcomeMetricsTest, CountsOutcomesAndObservesTheLatency) {
  ::quoteflow::testing::FakeClock clock(kApproved);
  SagaOutcomeMetrics outcomes(clock);
  outcomes.Record({SagaEnd::kIssued, kApproved});  // before Register: not counted

  metrics::Registry registry;
  outcomes.Register(registry);
  std::string text = registry.Serialize();
  // Both outcomes are exposed from the start.
  EXPECT_TRUE(absl::StrContains(text, "quoteflow_saga_outcomes_total{outcome=\"issued\"} 0\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "quoteflow_saga_outcomes_total{outcome=\"rejected\"} 0\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_count{outcome=\"issued\"} 0\n"))
      << text;

  clock.Advance(absl::Milliseconds(500));
  outcomes.Record({SagaEnd::kIssued, kApproved});
  clock.Advance(absl::Milliseconds(39500));
  outcomes.Record({SagaEnd::kIssued, kApproved});
  outcomes.Record({SagaEnd::kRejected, kApproved});
  outcomes.Record({SagaEnd::kRejected, std::nullopt});  // counted, no latency
  text = registry.Serialize();
  EXPECT_TRUE(absl::StrContains(text, "quoteflow_saga_outcomes_total{outcome=\"issued\"} 2\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "quoteflow_saga_outcomes_total{outcome=\"rejected\"} 2\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_count{outcome=\"issued\"} 2\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_sum{outcome=\"issued\"} 40.5\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_bucket{outcome=\"issued\",le=\"0.5\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_bucket{outcome=\"issued\",le=\"30\"} 1\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_bucket{outcome=\"issued\",le=\"60\"} 2\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "quoteflow_saga_approve_to_final_seconds_count{outcome=\"rejected\"} 1\n"))
      << text;
}

}  // namespace
}  // namespace quoteflow::workers
