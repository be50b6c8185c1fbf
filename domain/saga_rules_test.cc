#include "domain/saga_rules.h"

#include "domain/errors.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kNow = kT0 + absl::Minutes(1);
constexpr int64_t kLimit = 1'000'000;

DomainEvent Approved(int64_t premium, std::string customer = "cust-1") {
  return DomainEvent{.event_id = "e-approved",
                     .aggregate_id = "q-1",
                     .quote_id = "q-1",
                     .aggregate_version = 2,
                     .occurred_at = kT0,
                     .payload = QuoteApproved{.customer_id = customer, .premium = premium}};
}

DomainEvent CountRejected(std::string customer = "cust-1") {
  return DomainEvent{.event_id = "e-count-rejected",
                     .aggregate_id = customer,
                     .quote_id = "q-1",
                     .aggregate_version = 4,
                     .occurred_at = kT0,
                     .payload = CustomerPolicyCountRejected{
                         .customer_id = customer,
                         .policy_id = "pol-q-1",
                         .reason = "customer cust-1 is at its maximum of 3 active policies"}};
}

DomainEvent Created(std::string quote_id = "q-1") {
  return DomainEvent{
      .event_id = "e-created",
      .aggregate_id = "pol-q-1",
      .quote_id = quote_id,
      .aggregate_version = 1,
      .occurred_at = kT0,
      .payload = PolicyCreated{.policy_id = "pol-q-1", .customer_id = "cust-1", .premium = 1200}};
}

DomainEvent Cancelled() {
  return DomainEvent{
      .event_id = "e-cancelled",
      .aggregate_id = "pol-q-1",
      .quote_id = "q-1",
      .aggregate_version = 2,
      .occurred_at = kT0,
      .payload = PolicyCancelled{.policy_id = "pol-q-1", .customer_id = "cust-1", .reason = "why"}};
}

DomainEvent Counted(int64_t delta, std::string quote_id = "q-1") {
  return DomainEvent{
      .event_id = "e-counted",
      .aggregate_id = "cust-1",
      .quote_id = quote_id,
      .aggregate_version = 2,
      .occurred_at = kT0,
      .payload = CustomerPolicyCountUpdated{
          .customer_id = "cust-1", .policy_id = "pol-q-1", .policy_count = 1, .delta = delta}};
}

DomainEvent Rejected(std::string reason = "premium too high") {
  return DomainEvent{.event_id = "e-rejected",
                     .aggregate_id = "q-1",
                     .quote_id = "q-1",
                     .aggregate_version = 3,
                     .occurred_at = kT0,
                     .payload = QuoteRejected{.customer_id = "cust-1", .reason = reason}};
}

Policy ActivePolicy() { return *Policy::Create("q-1", "cust-1", 1200, 2, kT0); }

Customer CustomerWith(int64_t count, int64_t max) {
  return Customer::Restore("cust-1", "Ada", max, count, 1 + count, kT0, kT0);
}

PolicyCountEntry Entry(PolicyCountStatus status) {
  return PolicyCountEntry{.policy_id = "pol-q-1",
                          .customer_id = "cust-1",
                          .quote_id = "q-1",
                          .status = status,
                          .updated_at = kT0};
}

// ---- QuoteApproved (policy side) ----

TEST(UnderwritingTest, RefusesOnlyAboveTheLimit) {
  EXPECT_EQ(UnderwritingRefusal(kLimit, kLimit), std::nullopt);
  EXPECT_EQ(UnderwritingRefusal(1, kLimit), std::nullopt);
  EXPECT_EQ(UnderwritingRefusal(5'000'000, kLimit).value_or(""),
            "premium 5000000 exceeds the underwriting limit 1000000");
}

struct ApprovedCase {
  std::string name;
  DomainEvent event;
  bool policy_exists;
  bool declined;
  absl::StatusCode want_code;
  std::string want_event_type;  // "" when nothing is emitted
};

class QuoteApprovedRuleTest : public ::testing::TestWithParam<ApprovedCase> {};

TEST_P(QuoteApprovedRuleTest, Decides) {
  const ApprovedCase& c = GetParam();
  std::optional<Policy> existing;
  if (c.policy_exists) existing = ActivePolicy();
  absl::StatusOr<QuoteApprovedDecision> d =
      DecideOnQuoteApproved(c.event, existing, c.declined, kLimit, kNow);
  ASSERT_EQ(d.status().code(), c.want_code) << d.status();
  if (!d.ok()) return;
  if (c.want_event_type.empty()) {
    EXPECT_TRUE(d->events.empty());
    EXPECT_FALSE(d->new_policy.has_value());
    EXPECT_FALSE(d->decline.has_value());
    return;
  }
  ASSERT_EQ(d->events.size(), 1u);
  EXPECT_EQ(d->events[0].type(), c.want_event_type);
  EXPECT_EQ(d->events[0].quote_id, "q-1");
  EXPECT_EQ(d->events[0].occurred_at, kNow);
  EXPECT_NE(d->new_policy.has_value(), d->decline.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Table, QuoteApprovedRuleTest,
    ::testing::Values(ApprovedCase{"under_limit", Approved(1200), false, false,
                                   absl::StatusCode::kOk, "PolicyCreated"},
                      ApprovedCase{"at_limit", Approved(kLimit), false, false,
                                   absl::StatusCode::kOk, "PolicyCreated"},
                      ApprovedCase{"over_limit", Approved(kLimit + 1), false, false,
                                   absl::StatusCode::kOk, "QuoteRejected"},
                      ApprovedCase{"policy_exists", Approved(1200), true, false,
                                   absl::StatusCode::kOk, ""},
                      ApprovedCase{"already_declined", Approved(kLimit + 1), false, true,
                                   absl::StatusCode::kOk, ""},
                      ApprovedCase{"zero_premium", Approved(0), false, false,
                                   absl::StatusCode::kInvalidArgument, ""},
                      ApprovedCase{"bad_customer", Approved(5, ""), false, false,
                                   absl::StatusCode::kInvalidArgument, ""},
                      ApprovedCase{"wrong_type", Created(), false, false,
                                   absl::StatusCode::kInvalidArgument, ""}),
    [](const auto& info) { return info.param.name; });

TEST(QuoteApprovedRuleTest, CreatedPolicyAndEventCarryTheQuote) {
  QuoteApprovedDecision d =
      *DecideOnQuoteApproved(Approved(1200), std::nullopt, false, kLimit, kNow);
  ASSERT_TRUE(d.new_policy.has_value());
  EXPECT_EQ(d.new_policy->policy_id(), "pol-q-1");
  EXPECT_EQ(d.new_policy->quote_version(), 2);
  const DomainEvent& e = d.events[0];
  EXPECT_EQ(e.event_id, "pol-q-1/created");
  EXPECT_EQ(e.aggregate_id, "pol-q-1");
  EXPECT_EQ(e.aggregate_version, 1);
  const auto& payload = std::get<PolicyCreated>(e.payload);
  EXPECT_EQ(payload.policy_id, "pol-q-1");
  EXPECT_EQ(payload.customer_id, "cust-1");
  EXPECT_EQ(payload.premium, 1200);
}

TEST(QuoteApprovedRuleTest, RefusalRejectsTheQuoteAtItsNextVersionWithTheReason) {
  QuoteApprovedDecision d =
      *DecideOnQuoteApproved(Approved(5'000'000), std::nullopt, false, kLimit, kNow);
  ASSERT_TRUE(d.decline.has_value());
  EXPECT_EQ(d.decline->reason, "premium 5000000 exceeds the underwriting limit 1000000");
  const DomainEvent& e = d.events[0];
  EXPECT_EQ(e.event_id, "q-1/rejected");
  EXPECT_EQ(e.aggregate_id, "q-1");
  EXPECT_EQ(e.aggregate_type(), std::string("quote"));
  EXPECT_EQ(e.aggregate_version, 3);
  const auto& payload = std::get<QuoteRejected>(e.payload);
  EXPECT_EQ(payload.reason, "premium 5000000 exceeds the underwriting limit 1000000");
  EXPECT_EQ(payload.customer_id, "cust-1");
  EXPECT_EQ(payload.policy_id, "");
}

TEST(QuoteApprovedRuleTest, SameEventDecidesTheSameIds) {
  auto a = *DecideOnQuoteApproved(Approved(1200), std::nullopt, false, kLimit, kNow);
  auto b =
      *DecideOnQuoteApproved(Approved(1200), std::nullopt, false, kLimit, kNow + absl::Hours(1));
  EXPECT_EQ(a.events[0].event_id, b.events[0].event_id);
}

// ---- CustomerPolicyCountRejected (policy side) ----

struct CancelCase {
  std::string name;
  DomainEvent event;
  std::optional<Policy> policy;
  absl::StatusCode want_code;
  size_t want_events;
};

class CountRejectedRuleTest : public ::testing::TestWithParam<CancelCase> {};

TEST_P(CountRejectedRuleTest, Decides) {
  const CancelCase& c = GetParam();
  auto d = DecideOnCustomerPolicyCountRejected(c.event, c.policy, kNow);
  ASSERT_EQ(d.status().code(), c.want_code) << d.status();
  if (!d.ok()) return;
  EXPECT_EQ(d->events.size(), c.want_events);
  EXPECT_EQ(d->cancelled.has_value(), c.want_events > 0);
}

Policy CancelledPolicy() {
  Policy p = ActivePolicy();
  (void)p.Cancel("earlier", kT0);
  return p;
}

INSTANTIATE_TEST_SUITE_P(Table, CountRejectedRuleTest,
                         ::testing::Values(CancelCase{"active", CountRejected(), ActivePolicy(),
                                                      absl::StatusCode::kOk, 2},
                                           CancelCase{"already_cancelled", CountRejected(),
                                                      CancelledPolicy(), absl::StatusCode::kOk, 0},
                                           CancelCase{"missing", CountRejected(), std::nullopt,
                                                      absl::StatusCode::kNotFound, 0},
                                           CancelCase{"other_customer", CountRejected("cust-2"),
                                                      ActivePolicy(),
                                                      absl::StatusCode::kFailedPrecondition, 0},
                                           CancelCase{"wrong_type", Approved(5), ActivePolicy(),
                                                      absl::StatusCode::kInvalidArgument, 0}),
                         [](const auto& info) { return info.param.name; });

TEST(CountRejectedRuleTest, CancelsAndRejectsTheQuoteWithTheCustomersReason) {
  auto d = *DecideOnCustomerPolicyCountRejected(CountRejected(), ActivePolicy(), kNow);
  ASSERT_TRUE(d.cancelled.has_value());
  EXPECT_EQ(d.cancelled->status(), PolicyStatus::kCancelled);
  EXPECT_EQ(d.cancelled->cancellation_reason(),
            "customer cust-1 is at its maximum of 3 active policies");
  EXPECT_EQ(d.cancelled->version(), 2);

  const DomainEvent& cancelled = d.events[0];
  EXPECT_EQ(cancelled.event_id, "pol-q-1/cancelled");
  EXPECT_EQ(cancelled.aggregate_id, "pol-q-1");
  EXPECT_EQ(cancelled.aggregate_version, 2);
  EXPECT_EQ(std::get<PolicyCancelled>(cancelled.payload).customer_id, "cust-1");

  const DomainEvent& rejected = d.events[1];
  EXPECT_EQ(rejected.event_id, "q-1/rejected");
  EXPECT_EQ(rejected.aggregate_id, "q-1");
  EXPECT_EQ(rejected.quote_id, "q-1");
  EXPECT_EQ(rejected.aggregate_version, 3);
  const auto& payload = std::get<QuoteRejected>(rejected.payload);
  EXPECT_EQ(payload.policy_id, "pol-q-1");
  EXPECT_EQ(payload.reason,
            "policy pol-q-1 cancelled: customer cust-1 is at its maximum of 3 active policies");
}

// ---- PolicyCreated (customer side) ----

struct CreatedCase {
  std::string name;
  DomainEvent event;
  std::optional<Customer> customer;
  std::optional<PolicyCountEntry> entry;
  absl::StatusCode want_code;
  std::string want_event_type;  // "" when nothing is emitted
  int64_t want_count;           // the customer's count after (if it exists)
  int64_t want_version;         // the emitted event's aggregate version
};

class PolicyCreatedRuleTest : public ::testing::TestWithParam<CreatedCase> {};

TEST_P(PolicyCreatedRuleTest, Decides) {
  const CreatedCase& c = GetParam();
  auto d = DecideOnPolicyCreated(c.event, c.customer, c.entry, kNow);
  ASSERT_EQ(d.status().code(), c.want_code) << d.status();
  if (!d.ok()) return;
  if (c.want_event_type.empty()) {
    EXPECT_TRUE(d->events.empty());
    EXPECT_FALSE(d->customer.has_value());
    EXPECT_FALSE(d->entry.has_value());
    return;
  }
  ASSERT_EQ(d->events.size(), 1u);
  const DomainEvent& e = d->events[0];
  EXPECT_EQ(e.type(), c.want_event_type);
  EXPECT_EQ(e.aggregate_id, "cust-1");
  EXPECT_EQ(e.quote_id, "q-1");
  EXPECT_EQ(e.aggregate_version, c.want_version);
  ASSERT_TRUE(d->entry.has_value());
  EXPECT_EQ(d->entry->quote_id, "q-1");
  if (c.customer.has_value()) {
    ASSERT_TRUE(d->customer.has_value());
    EXPECT_EQ(d->customer->policy_count(), c.want_count);
    EXPECT_EQ(d->customer->version(), c.customer->version() + 1);
  } else {
    EXPECT_FALSE(d->customer.has_value());
  }
  if (c.want_event_type == "CustomerPolicyCountUpdated") {
    EXPECT_EQ(e.event_id, "cust-1/pol-q-1/counted");
    EXPECT_EQ(d->entry->status, PolicyCountStatus::kCounted);
    const auto& p = std::get<CustomerPolicyCountUpdated>(e.payload);
    EXPECT_EQ(p.delta, 1);
    EXPECT_EQ(p.policy_count, c.want_count);
    EXPECT_EQ(p.policy_id, "pol-q-1");
  } else {
    EXPECT_EQ(e.event_id, "cust-1/pol-q-1/count-rejected");
    EXPECT_EQ(d->entry->status, PolicyCountStatus::kRejected);
    EXPECT_EQ(d->entry->reason, std::get<CustomerPolicyCountRejected>(e.payload).reason);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, PolicyCreatedRuleTest,
    ::testing::Values(
        CreatedCase{"first_policy", Created(), CustomerWith(0, 3), std::nullopt,
                    absl::StatusCode::kOk, "CustomerPolicyCountUpdated", 1, 2},
        CreatedCase{"last_free_slot", Created(), CustomerWith(2, 3), std::nullopt,
                    absl::StatusCode::kOk, "CustomerPolicyCountUpdated", 3, 4},
        CreatedCase{"at_maximum", Created(), CustomerWith(3, 3), std::nullopt,
                    absl::StatusCode::kOk, "CustomerPolicyCountRejected", 3, 5},
        CreatedCase{"not_registered", Created(), std::nullopt, std::nullopt, absl::StatusCode::kOk,
                    "CustomerPolicyCountRejected", 0, 0},
        CreatedCase{"already_counted", Created(), CustomerWith(1, 3),
                    Entry(PolicyCountStatus::kCounted), absl::StatusCode::kOk, "", 1, 0},
        CreatedCase{"already_rejected", Created(), CustomerWith(3, 3),
                    Entry(PolicyCountStatus::kRejected), absl::StatusCode::kOk, "", 3, 0},
        CreatedCase{"cancelled_before_seen", Created(), CustomerWith(0, 3),
                    Entry(PolicyCountStatus::kUncounted), absl::StatusCode::kOk, "", 0, 0},
        CreatedCase{"no_quote_id", Created(""), CustomerWith(0, 3), std::nullopt,
                    absl::StatusCode::kInvalidArgument, "", 0, 0},
        CreatedCase{"wrong_type", Cancelled(), CustomerWith(0, 3), std::nullopt,
                    absl::StatusCode::kInvalidArgument, "", 0, 0}),
    [](const auto& info) { return info.param.name; });

TEST(PolicyCreatedRuleTest, ReasonsSayWhy) {
  auto unknown = *DecideOnPolicyCreated(Created(), std::nullopt, std::nullopt, kNow);
  EXPECT_EQ(std::get<CustomerPolicyCountRejected>(unknown.events[0].payload).reason,
            "customer cust-1 is not registered");
  auto full = *DecideOnPolicyCreated(Created(), CustomerWith(3, 3), std::nullopt, kNow);
  EXPECT_EQ(std::get<CustomerPolicyCountRejected>(full.events[0].payload).reason,
            "customer cust-1 is at its maximum of 3 active policies");
  EXPECT_EQ(full.customer->policy_count(), 3);
}

// ---- PolicyCancelled (customer side) ----

struct CancelledCase {
  std::string name;
  std::optional<Customer> customer;
  std::optional<PolicyCountEntry> entry;
  absl::StatusCode want_code;
  bool want_uncount;    // count - 1 and one event
  bool want_tombstone;  // an UNCOUNTED entry and no event
};

class PolicyCancelledRuleTest : public ::testing::TestWithParam<CancelledCase> {};

TEST_P(PolicyCancelledRuleTest, Decides) {
  const CancelledCase& c = GetParam();
  auto d = DecideOnPolicyCancelled(Cancelled(), c.customer, c.entry, kNow);
  ASSERT_EQ(d.status().code(), c.want_code) << d.status();
  if (!d.ok()) return;
  if (c.want_uncount) {
    ASSERT_EQ(d->events.size(), 1u);
    const auto& p = std::get<CustomerPolicyCountUpdated>(d->events[0].payload);
    EXPECT_EQ(p.delta, -1);
    EXPECT_EQ(p.policy_count, c.customer->policy_count() - 1);
    EXPECT_EQ(d->events[0].event_id, "cust-1/pol-q-1/uncounted");
    EXPECT_EQ(d->customer->policy_count(), c.customer->policy_count() - 1);
    EXPECT_EQ(d->entry->status, PolicyCountStatus::kUncounted);
  } else if (c.want_tombstone) {
    EXPECT_TRUE(d->events.empty());
    EXPECT_FALSE(d->customer.has_value());
    ASSERT_TRUE(d->entry.has_value());
    EXPECT_EQ(d->entry->status, PolicyCountStatus::kUncounted);
  } else {
    EXPECT_TRUE(d->events.empty());
    EXPECT_FALSE(d->customer.has_value());
    EXPECT_FALSE(d->entry.has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, PolicyCancelledRuleTest,
    ::testing::Values(
        CancelledCase{"counted", CustomerWith(2, 3), Entry(PolicyCountStatus::kCounted),
                      absl::StatusCode::kOk, true, false},
        CancelledCase{"rejected", CustomerWith(3, 3), Entry(PolicyCountStatus::kRejected),
                      absl::StatusCode::kOk, false, false},
        CancelledCase{"already_uncounted", CustomerWith(0, 3), Entry(PolicyCountStatus::kUncounted),
                      absl::StatusCode::kOk, false, false},
        CancelledCase{"never_seen", CustomerWith(0, 3), std::nullopt, absl::StatusCode::kOk, false,
                      true},
        CancelledCase{"counted_customer_gone", std::nullopt, Entry(PolicyCountStatus::kCounted),
                      absl::StatusCode::kFailedPrecondition, false, false},
        CancelledCase{"counted_but_zero", CustomerWith(0, 3), Entry(PolicyCountStatus::kCounted),
                      absl::StatusCode::kFailedPrecondition, false, false}),
    [](const auto& info) { return info.param.name; });

// ---- quote side ----

Quote QuoteIn(QuoteStatus status) {
  return Quote::Restore("q-1", "cust-1", 1200, status, 2, "", kT0, kT0);
}

struct QuoteCase {
  std::string name;
  DomainEvent event;
  QuoteStatus from;
  absl::StatusCode want_code;
  bool want_changed;
  QuoteStatus want_status;
};

class QuoteRuleTest : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(QuoteRuleTest, Applies) {
  const QuoteCase& c = GetParam();
  Quote q = QuoteIn(c.from);
  absl::StatusOr<bool> changed = std::holds_alternative<QuoteRejected>(c.event.payload)
                                     ? ApplyQuoteRejected(c.event, q, kNow)
                                     : ApplyPolicyCounted(c.event, q, kNow);
  ASSERT_EQ(changed.status().code(), c.want_code) << changed.status();
  EXPECT_EQ(q.status(), c.want_status);
  if (changed.ok()) {
    EXPECT_EQ(*changed, c.want_changed);
  }
  EXPECT_EQ(q.version(), c.want_changed ? 3 : 2);
}

INSTANTIATE_TEST_SUITE_P(
    Table, QuoteRuleTest,
    ::testing::Values(QuoteCase{"rejected_from_approved", Rejected(), QuoteStatus::kApproved,
                                absl::StatusCode::kOk, true, QuoteStatus::kRejected},
                      QuoteCase{"rejected_twice", Rejected(), QuoteStatus::kRejected,
                                absl::StatusCode::kOk, false, QuoteStatus::kRejected},
                      QuoteCase{"rejected_after_issue", Rejected(), QuoteStatus::kIssued,
                                absl::StatusCode::kFailedPrecondition, false, QuoteStatus::kIssued},
                      QuoteCase{"counted_issues", Counted(1), QuoteStatus::kApproved,
                                absl::StatusCode::kOk, true, QuoteStatus::kIssued},
                      QuoteCase{"counted_twice", Counted(1), QuoteStatus::kIssued,
                                absl::StatusCode::kOk, false, QuoteStatus::kIssued},
                      QuoteCase{"counted_after_reject", Counted(1), QuoteStatus::kRejected,
                                absl::StatusCode::kFailedPrecondition, false,
                                QuoteStatus::kRejected},
                      QuoteCase{"uncounted_issues_nothing", Counted(-1), QuoteStatus::kApproved,
                                absl::StatusCode::kOk, false, QuoteStatus::kApproved},
                      QuoteCase{"counted_other_quote", Counted(1, "q-2"), QuoteStatus::kApproved,
                                absl::StatusCode::kInvalidArgument, false, QuoteStatus::kApproved}),
    [](const auto& info) { return info.param.name; });

TEST(QuoteRuleTest, RejectionKeepsTheReason) {
  Quote q = QuoteIn(QuoteStatus::kApproved);
  ASSERT_TRUE(
      ApplyQuoteRejected(Rejected("premium 5 exceeds the underwriting limit 1"), q, kNow).ok());
  EXPECT_EQ(q.rejection_reason(), "premium 5 exceeds the underwriting limit 1");
}

TEST(QuoteRuleTest, IssuedByNeedsAQuoteIdOnlyForPositiveDeltas) {
  EXPECT_EQ(QuoteIssuedBy(Counted(1)).value(), std::optional<std::string>("q-1"));
  EXPECT_EQ(QuoteIssuedBy(Counted(-1)).value(), std::nullopt);
  EXPECT_EQ(QuoteIssuedBy(Counted(1, "")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuoteIssuedBy(Rejected()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quoteflow
