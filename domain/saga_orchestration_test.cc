#include "domain/saga_orchestration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace quoteflow {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);
const SagaSettings kSettings{.step_deadline = absl::Seconds(10),
                             .max_step_attempts = 3,
                             .max_compensation_attempts = 3,
                             .max_backoff = absl::Seconds(30)};

DomainEvent Approved(const std::string& quote_id = "q1") {
  return DomainEvent{.event_id = "ev-1",
                     .aggregate_id = quote_id,
                     .quote_id = quote_id,
                     .aggregate_version = 2,
                     .occurred_at = kT0,
                     .payload = QuoteApproved{.customer_id = "c1", .premium = 500}};
}

Saga Started() {
  absl::StatusOr<SagaDecision> d = StartSaga(Approved(), kSettings, kT0);
  EXPECT_TRUE(d.ok()) << d.status();
  return d->saga;
}

DomainEvent Reply(const Saga& s, EventPayload payload, int attempt = -1) {
  return DomainEvent{.event_id = ReplyEventId(
                         SagaCommandId(s.quote_id, s.step, attempt < 0 ? s.attempt : attempt)),
                     .aggregate_id = "x",
                     .quote_id = s.quote_id,
                     .occurred_at = kT0,
                     .payload = std::move(payload)};
}

SagaDecision Must(absl::StatusOr<SagaDecision> d) {
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *std::move(d) : SagaDecision{};
}

// Advances `s` by the reply and returns the decision.
SagaDecision Advance(Saga& s, EventPayload payload, absl::Time now = kT0) {
  SagaDecision d = Must(DecideOnReply(s, Reply(s, std::move(payload)), kSettings, now));
  s = d.saga;
  return d;
}

const EventPayload kPolicyCreated = PolicyCreated{"pol-q1", "c1", 500};
const EventPayload kCounted = CustomerPolicyCountUpdated{"c1", "pol-q1", 1, 1};
const EventPayload kReleased = CustomerPolicyCountUpdated{"c1", "pol-q1", 0, -1};
const EventPayload kCountRejected = CustomerPolicyCountRejected{"c1", "pol-q1", "at maximum"};
const EventPayload kCancelled = PolicyCancelled{"pol-q1", "c1", "at maximum"};
const EventPayload kIssued = QuoteIssued{"c1", "pol-q1"};
const EventPayload kQuoteRejected = QuoteRejected{"c1", "refused", ""};

TEST(SagaOrchestrationTest, StartSendsCreatePolicyWithADeadline) {
  SagaDecision d = Must(StartSaga(Approved(), kSettings, kT0));
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.saga.state, SagaState::kPolicyRequested);
  EXPECT_EQ(d.saga.step, SagaStep::kCreatePolicy);
  EXPECT_EQ(d.saga.attempt, 1);
  EXPECT_EQ(d.saga.policy_id, "pol-q1");
  EXPECT_EQ(d.saga.quote_version, 2);
  EXPECT_EQ(d.saga.deadline, kT0 + absl::Seconds(10));
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].command_id, "q1/saga/create-policy/1");
  EXPECT_STREQ(d.commands[0].type(), "CreatePolicy");
  EXPECT_STREQ(d.commands[0].target_type(), "policy");
  EXPECT_EQ(d.commands[0].target_id(), "pol-q1");
  const auto& c = std::get<CreatePolicy>(d.commands[0].payload);
  EXPECT_EQ(c.premium, 500);
  EXPECT_EQ(c.quote_version, 2);
  EXPECT_THAT(d.history, ElementsAre(Field(&SagaHistoryEntry::outcome, "started"),
                                     Field(&SagaHistoryEntry::outcome, "sent")));
}

TEST(SagaOrchestrationTest, StartRejectsOtherEventsAndMissingFields) {
  DomainEvent e = Approved();
  e.payload = kPolicyCreated;
  EXPECT_EQ(StartSaga(e, kSettings, kT0).status().code(), absl::StatusCode::kInvalidArgument);
  e = Approved("");
  EXPECT_EQ(StartSaga(e, kSettings, kT0).status().code(), absl::StatusCode::kInvalidArgument);
  e = Approved();
  e.payload = QuoteApproved{.customer_id = "", .premium = 1};
  EXPECT_EQ(StartSaga(e, kSettings, kT0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SagaOrchestrationTest, HappyPathCompletes) {
  Saga s = Started();
  SagaDecision d = Advance(s, kPolicyCreated);
  EXPECT_EQ(s.state, SagaState::kCustomerUpdateRequested);
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(std::get<UpdateCustomerPolicyCount>(d.commands[0].payload).delta, 1);
  EXPECT_EQ(d.commands[0].target_id(), "c1");
  EXPECT_EQ(d.commands[0].command_id, "q1/saga/count-policy/1");

  d = Advance(s, kCounted);
  EXPECT_EQ(s.state, SagaState::kIssueRequested);
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_STREQ(d.commands[0].type(), "IssueQuote");
  EXPECT_EQ(d.commands[0].target_id(), "q1");

  d = Advance(s, kIssued);
  EXPECT_EQ(s.state, SagaState::kCompleted);
  EXPECT_FALSE(s.deadline.has_value());
  EXPECT_TRUE(d.commands.empty());
  EXPECT_EQ(d.history.back().outcome, "completed");
}

TEST(SagaOrchestrationTest, PolicyRefusalRejectsTheQuoteOnly) {
  Saga s = Started();
  SagaDecision d = Advance(s, QuoteRejected{"c1", "premium too high", ""});
  EXPECT_EQ(s.state, SagaState::kRejectQuoteRequested);
  EXPECT_EQ(s.failure_reason, "premium too high");
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(std::get<RejectQuote>(d.commands[0].payload).reason, "premium too high");
  d = Advance(s, kQuoteRejected);
  EXPECT_EQ(s.state, SagaState::kCompensated);
  EXPECT_EQ(d.history.back().outcome, "compensated");
}

TEST(SagaOrchestrationTest, CustomerRefusalCancelsThePolicyThenRejectsTheQuote) {
  Saga s = Started();
  Advance(s, kPolicyCreated);
  SagaDecision d = Advance(s, kCountRejected);
  EXPECT_EQ(s.state, SagaState::kCancelPolicyRequested);
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(std::get<CancelPolicy>(d.commands[0].payload).reason, "at maximum");
  d = Advance(s, kCancelled);
  EXPECT_EQ(s.state, SagaState::kRejectQuoteRequested);
  ASSERT_EQ(d.commands.size(), 1u);
  // The reason choreography's policy-worker gives.
  EXPECT_EQ(std::get<RejectQuote>(d.commands[0].payload).reason,
            "policy pol-q1 cancelled: at maximum");
  Advance(s, kQuoteRejected);
  EXPECT_EQ(s.state, SagaState::kCompensated);
}

TEST(SagaOrchestrationTest, UnexpectedReplyTypesAreInvalid) {
  Saga s = Started();
  EXPECT_EQ(DecideOnReply(s, Reply(s, kCounted), kSettings, kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  Advance(s, kPolicyCreated);
  EXPECT_FALSE(DecideOnReply(s, Reply(s, kReleased), kSettings, kT0).ok());  // delta <= 0
  Advance(s, kCounted);
  EXPECT_FALSE(DecideOnReply(s, Reply(s, kQuoteRejected), kSettings, kT0).ok());
}

TEST(SagaOrchestrationTest, ReplyOfAnotherStepOnlyAddsHistory) {
  Saga s = Started();
  Saga before = s;
  Advance(s, kPolicyCreated);
  // The reply of CreatePolicy arrives again, e.g. to another attempt.
  DomainEvent late = Reply(before, kPolicyCreated, 2);
  SagaDecision d = Must(DecideOnReply(s, late, kSettings, kT0));
  EXPECT_TRUE(d.changed);
  EXPECT_TRUE(d.commands.empty());
  EXPECT_EQ(d.saga.state, SagaState::kCustomerUpdateRequested);
  EXPECT_THAT(d.history, ElementsAre(Field(&SagaHistoryEntry::outcome, "late-reply")));
}

TEST(SagaOrchestrationTest, RepliesToATerminalSagaOrOtherEventsChangeNothing) {
  Saga s = Started();
  DomainEvent first = Reply(s, kQuoteRejected);
  Advance(s, kQuoteRejected);
  Advance(s, kQuoteRejected);
  ASSERT_EQ(s.state, SagaState::kCompensated);
  EXPECT_FALSE(Must(DecideOnReply(s, first, kSettings, kT0)).changed);
  Saga fresh = Started();
  DomainEvent other = Reply(fresh, kPolicyCreated);
  other.event_id = "pol-q1/created";  // a choreography event, not a reply
  EXPECT_FALSE(Must(DecideOnReply(fresh, other, kSettings, kT0)).changed);
  other.event_id = ReplyEventId(SagaCommandId("q2", SagaStep::kCreatePolicy, 1));
  EXPECT_FALSE(Must(DecideOnReply(fresh, other, kSettings, kT0)).changed);
}

TEST(SagaOrchestrationTest, DeadlineNotReachedChangesNothing) {
  Saga s = Started();
  EXPECT_FALSE(DecideOnDeadline(s, kSettings, kT0 + absl::Seconds(9)).changed);
}

TEST(SagaOrchestrationTest, ForwardStepIsRetriedThenCompensated) {
  Saga s = Started();
  absl::Time now = kT0 + absl::Seconds(10);
  SagaDecision d = DecideOnDeadline(s, kSettings, now);
  s = d.saga;
  EXPECT_EQ(s.state, SagaState::kPolicyRequested);
  EXPECT_EQ(s.attempt, 2);
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].command_id, "q1/saga/create-policy/2");
  EXPECT_EQ(s.deadline, now + absl::Seconds(10));
  now += absl::Seconds(10);
  s = DecideOnDeadline(s, kSettings, now).saga;
  EXPECT_EQ(s.attempt, 3);
  now += absl::Seconds(10);
  d = DecideOnDeadline(s, kSettings, now);
  s = d.saga;
  // Timed out: the policy may still be created, so it is cancelled first.
  EXPECT_EQ(s.state, SagaState::kCancelPolicyRequested);
  EXPECT_EQ(s.failure_reason, "no reply to create-policy after 3 attempts");
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_STREQ(d.commands[0].type(), "CancelPolicy");
  // A reply of any attempt of the current step counts.
  Saga waiting = s;
  Advance(s, kCancelled);
  EXPECT_EQ(s.state, SagaState::kRejectQuoteRequested);
  (void)waiting;
}

TEST(SagaOrchestrationTest, CustomerStepTimeoutReleasesTheCountFirst) {
  Saga s = Started();
  Advance(s, kPolicyCreated);
  absl::Time now = kT0;
  for (int i = 0; i < 3; ++i) {
    now += absl::Seconds(10);
    s = DecideOnDeadline(s, kSettings, now).saga;
  }
  EXPECT_EQ(s.state, SagaState::kReleaseCountRequested);
  EXPECT_EQ(s.failure_reason, "no reply to count-policy after 3 attempts");
  SagaDecision d = Advance(s, kReleased);
  EXPECT_EQ(s.state, SagaState::kCancelPolicyRequested);
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_STREQ(d.commands[0].type(), "CancelPolicy");
  // A late +1 from an earlier attempt of the count step is only history.
  Advance(s, kCancelled);
  Advance(s, kQuoteRejected);
  EXPECT_EQ(s.state, SagaState::kCompensated);
}

TEST(SagaOrchestrationTest, ReleaseAcceptsAZeroDelta) {
  Saga s = Started();
  Advance(s, kPolicyCreated);
  for (int i = 1; i <= 3; ++i) s = DecideOnDeadline(s, kSettings, kT0 + absl::Seconds(10 * i)).saga;
  Advance(s, CustomerPolicyCountUpdated{"c1", "pol-q1", 0, 0});
  EXPECT_EQ(s.state, SagaState::kCancelPolicyRequested);
  EXPECT_FALSE(DecideOnReply(s, Reply(s, kCounted), kSettings, kT0).ok());
}

TEST(SagaOrchestrationTest, CompensationBacksOffThenSticksAndResumes) {
  Saga s = Started();
  Advance(s, kQuoteRejected);  // refused: RejectQuote attempt 1, deadline +10s
  absl::Time now = *s.deadline;
  SagaDecision d = DecideOnDeadline(s, kSettings, now);
  s = d.saga;
  EXPECT_EQ(s.state, SagaState::kRejectQuoteRequested);
  EXPECT_EQ(s.attempt, 2);
  EXPECT_EQ(*s.deadline - now, absl::Seconds(20));  // backoff doubles
  now = *s.deadline;
  s = DecideOnDeadline(s, kSettings, now).saga;
  EXPECT_EQ(*s.deadline - now, absl::Seconds(30));  // capped at max_backoff
  now = *s.deadline;
  d = DecideOnDeadline(s, kSettings, now);
  s = d.saga;
  EXPECT_TRUE(d.became_stuck);
  EXPECT_TRUE(d.commands.empty());
  EXPECT_EQ(s.state, SagaState::kStuck);
  EXPECT_EQ(s.step, SagaStep::kRejectQuote);
  EXPECT_EQ(s.stuck_reason, "no reply to reject-quote after 3 attempts");
  EXPECT_FALSE(s.deadline.has_value());
  // STUCK ignores deadlines, and replies of other steps (history only).
  EXPECT_FALSE(DecideOnDeadline(s, kSettings, now + absl::Hours(1)).changed);
  Saga other_step = s;
  other_step.step = SagaStep::kCancelPolicy;
  d = Must(DecideOnReply(s, Reply(other_step, kCancelled, 1), kSettings, now));
  EXPECT_EQ(d.saga.state, SagaState::kStuck);
  EXPECT_EQ(d.history.back().outcome, "late-reply");
  // An operator resumes it: the next attempt, a fresh budget.
  d = Must(ResumeStuck(s, kSettings, now));
  s = d.saga;
  EXPECT_EQ(s.state, SagaState::kRejectQuoteRequested);
  EXPECT_EQ(s.attempt, 4);
  EXPECT_EQ(s.step_attempts, 1);
  EXPECT_TRUE(s.stuck_reason.empty());
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].command_id, "q1/saga/reject-quote/4");
  Advance(s, kQuoteRejected);
  EXPECT_EQ(s.state, SagaState::kCompensated);
}

TEST(SagaOrchestrationTest, IssueIsNeverCompensatedButSticks) {
  Saga s = Started();
  Advance(s, kPolicyCreated);
  Advance(s, kCounted);
  for (int i = 0; i < 3; ++i) s = DecideOnDeadline(s, kSettings, *s.deadline).saga;
  EXPECT_EQ(s.state, SagaState::kStuck);
  EXPECT_EQ(s.step, SagaStep::kIssueQuote);
  s = Must(ResumeStuck(s, kSettings, kT0)).saga;
  EXPECT_EQ(s.state, SagaState::kIssueRequested);
  Advance(s, kIssued);
  EXPECT_EQ(s.state, SagaState::kCompleted);
}

TEST(SagaOrchestrationTest, CancelAndReleaseStepsStickToo) {
  Saga s = Started();
  Advance(s, kPolicyCreated);
  Advance(s, kCountRejected);
  for (int i = 0; i < 3; ++i) s = DecideOnDeadline(s, kSettings, *s.deadline).saga;
  EXPECT_EQ(s.state, SagaState::kStuck);
  EXPECT_EQ(s.step, SagaStep::kCancelPolicy);
  s = Must(ResumeStuck(s, kSettings, kT0)).saga;
  EXPECT_EQ(s.state, SagaState::kCancelPolicyRequested);

  Saga r = Started();
  Advance(r, kPolicyCreated);
  for (int i = 0; i < 3; ++i) r = DecideOnDeadline(r, kSettings, *r.deadline).saga;
  ASSERT_EQ(r.state, SagaState::kReleaseCountRequested);
  for (int i = 0; i < 3; ++i) r = DecideOnDeadline(r, kSettings, *r.deadline).saga;
  EXPECT_EQ(r.state, SagaState::kStuck);
  EXPECT_EQ(r.step, SagaStep::kReleaseCount);
}

// Issue 14: a STUCK saga acted on nothing, so an outage longer than its retries left it STUCK for
// good. The reply its stuck step waited for (of any attempt) now resolves it.
TEST(SagaOrchestrationTest, ReplyToTheStuckStepResolvesTheSaga) {
  Saga s = Started();
  Advance(s, kQuoteRejected);  // RejectQuote attempt 1
  for (int i = 0; i < 3; ++i) s = DecideOnDeadline(s, kSettings, *s.deadline).saga;
  ASSERT_EQ(s.state, SagaState::kStuck);
  ASSERT_EQ(s.step, SagaStep::kRejectQuote);
  // The reply to the first attempt, delivered after the outage.
  SagaDecision d = Must(DecideOnReply(s, Reply(s, kQuoteRejected, 1), kSettings, kT0));
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.saga.state, SagaState::kCompensated);
  EXPECT_TRUE(d.saga.stuck_reason.empty());
  EXPECT_FALSE(d.saga.deadline.has_value());
  EXPECT_THAT(d.history, ElementsAre(Field(&SagaHistoryEntry::outcome, "unstuck"),
                                     Field(&SagaHistoryEntry::outcome, "succeeded"),
                                     Field(&SagaHistoryEntry::outcome, "compensated")));

  // A stuck IssueQuote completes on QuoteIssued.
  Saga i = Started();
  Advance(i, kPolicyCreated);
  Advance(i, kCounted);
  for (int n = 0; n < 3; ++n) i = DecideOnDeadline(i, kSettings, *i.deadline).saga;
  ASSERT_EQ(i.state, SagaState::kStuck);
  d = Must(DecideOnReply(i, Reply(i, kIssued), kSettings, kT0));
  EXPECT_EQ(d.saga.state, SagaState::kCompleted);

  // A stuck CancelPolicy goes on with the compensation: RejectQuote is sent, with a deadline.
  Saga c = Started();
  Advance(c, kPolicyCreated);
  Advance(c, kCountRejected);
  for (int n = 0; n < 3; ++n) c = DecideOnDeadline(c, kSettings, *c.deadline).saga;
  ASSERT_EQ(c.state, SagaState::kStuck);
  d = Must(DecideOnReply(c, Reply(c, kCancelled, 2), kSettings, kT0));
  EXPECT_EQ(d.saga.state, SagaState::kRejectQuoteRequested);
  EXPECT_EQ(d.saga.deadline, kT0 + absl::Seconds(10));
  ASSERT_EQ(d.commands.size(), 1u);
  EXPECT_EQ(d.commands[0].command_id, "q1/saga/reject-quote/1");
  // A reply the stuck step never gives is still refused.
  EXPECT_FALSE(DecideOnReply(c, Reply(c, kIssued), kSettings, kT0).ok());
}

// Without a budget (the default) IssueQuote and compensations are retried for as long as it takes,
// max_backoff apart, and never become STUCK.
TEST(SagaOrchestrationTest, DefaultRetriesForeverWithCappedBackoff) {
  SagaSettings settings = kSettings;
  settings.max_compensation_attempts = 0;
  EXPECT_EQ(SagaSettings{}.max_compensation_attempts, 0);
  Saga s = Must(StartSaga(Approved(), settings, kT0)).saga;
  s = Must(DecideOnReply(s, Reply(s, kQuoteRejected), settings, kT0)).saga;
  for (int i = 0; i < 200; ++i) {
    const absl::Time now = *s.deadline;
    SagaDecision d = DecideOnDeadline(s, settings, now);
    ASSERT_FALSE(d.became_stuck) << i;
    ASSERT_EQ(d.commands.size(), 1u);
    s = d.saga;
    ASSERT_EQ(s.state, SagaState::kRejectQuoteRequested);
    // 20 s, then capped at 30 s.
    ASSERT_EQ(*s.deadline - now, i == 0 ? absl::Seconds(20) : absl::Seconds(30)) << i;
  }
  EXPECT_EQ(s.attempt, 201);
  // After a day-long outage the reply of any attempt still ends it.
  s = Must(DecideOnReply(s, Reply(s, kQuoteRejected, 7), settings, kT0 + absl::Hours(24))).saga;
  EXPECT_EQ(s.state, SagaState::kCompensated);
}

TEST(SagaOrchestrationTest, ResumeRequiresStuck) {
  EXPECT_EQ(ResumeStuck(Started(), kSettings, kT0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SagaOrchestrationTest, TerminalSagasIgnoreDeadlines) {
  Saga s = Started();
  Advance(s, kPolicyCreated);
  Advance(s, kCounted);
  Advance(s, kIssued);
  EXPECT_FALSE(DecideOnDeadline(s, kSettings, kT0 + absl::Hours(10)).changed);
}

TEST(SagaOrchestrationTest, IdsRoundTrip) {
  for (SagaStep step : {SagaStep::kCreatePolicy, SagaStep::kCountPolicy, SagaStep::kIssueQuote,
                        SagaStep::kReleaseCount, SagaStep::kCancelPolicy, SagaStep::kRejectQuote}) {
    std::optional<ReplyRef> ref = ParseReplyEventId(ReplyEventId(SagaCommandId("q-7", step, 12)));
    ASSERT_TRUE(ref.has_value());
    EXPECT_EQ(ref->quote_id, "q-7");
    EXPECT_EQ(ref->step, step);
    EXPECT_EQ(ref->attempt, 12);
    EXPECT_EQ(*ParseSagaStep(SagaStepName(step)), step);
    EXPECT_EQ(*ParseSagaState(SagaStateName(StateWaitingFor(step))), StateWaitingFor(step));
  }
  EXPECT_FALSE(ParseReplyEventId("q1/saga/create-policy/1").has_value());
  EXPECT_FALSE(ParseReplyEventId("q1/saga/bogus/1/reply").has_value());
  EXPECT_FALSE(ParseReplyEventId("q1/saga/create-policy/0/reply").has_value());
  EXPECT_FALSE(ParseReplyEventId("pol-q1/created").has_value());
  EXPECT_FALSE(ParseSagaState("NOPE").ok());
  EXPECT_TRUE(IsTerminal(SagaState::kCompleted));
  EXPECT_TRUE(IsTerminal(SagaState::kCompensated));
  EXPECT_FALSE(IsTerminal(SagaState::kStuck));
}

}  // namespace
}  // namespace quoteflow
