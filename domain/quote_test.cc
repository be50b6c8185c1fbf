#include "domain/quote.h"

#include <limits>

#include "domain/errors.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kT1 = kT0 + absl::Seconds(5);

struct CreateCase {
  std::string name;
  std::string customer_id;
  int64_t premium;
  absl::StatusCode want;
  std::string want_field;
};

class QuoteCreateTest : public ::testing::TestWithParam<CreateCase> {};

TEST_P(QuoteCreateTest, ValidatesInput) {
  const CreateCase& c = GetParam();
  absl::StatusOr<Quote> q = Quote::Create("q-1", c.customer_id, c.premium, kT0);
  EXPECT_EQ(q.status().code(), c.want) << q.status();
  if (q.ok()) {
    EXPECT_EQ(q->status(), QuoteStatus::kDraft);
    EXPECT_EQ(q->version(), 1);
    EXPECT_EQ(q->premium(), c.premium);
    EXPECT_EQ(q->customer_id(), c.customer_id);
    EXPECT_EQ(q->created_at(), kT0);
  } else {
    EXPECT_EQ(InvalidFieldName(q.status()).value_or(""), c.want_field);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, QuoteCreateTest,
    ::testing::Values(
        CreateCase{"ok", "cust-456", 1200, absl::StatusCode::kOk, ""},
        CreateCase{"min_premium", "c", 1, absl::StatusCode::kOk, ""},
        CreateCase{"max_premium", "c", kMaxPremium, absl::StatusCode::kOk, ""},
        CreateCase{"zero_premium", "c", 0, absl::StatusCode::kInvalidArgument, "premium"},
        CreateCase{"negative_premium", "c", -5, absl::StatusCode::kInvalidArgument, "premium"},
        CreateCase{"int64_min", "c", std::numeric_limits<int64_t>::min(),
                   absl::StatusCode::kInvalidArgument, "premium"},
        CreateCase{"huge_premium", "c", kMaxPremium + 1, absl::StatusCode::kInvalidArgument,
                   "premium"},
        CreateCase{"int64_max", "c", std::numeric_limits<int64_t>::max(),
                   absl::StatusCode::kInvalidArgument, "premium"},
        CreateCase{"empty_customer", "", 100, absl::StatusCode::kInvalidArgument, "customer_id"},
        CreateCase{"long_customer", std::string(129, 'a'), 100, absl::StatusCode::kInvalidArgument,
                   "customer_id"},
        CreateCase{"sql_customer", "x'; DROP TABLE quotes;--", 100,
                   absl::StatusCode::kInvalidArgument, "customer_id"},
        CreateCase{"non_ascii_customer", "caf\xc3\xa9", 100, absl::StatusCode::kInvalidArgument,
                   "customer_id"}),
    [](const auto& info) { return info.param.name; });

enum class Op { kApprove, kIssue, kReject };

struct TransitionCase {
  std::string name;
  QuoteStatus from;
  Op op;
  absl::StatusCode want;
  QuoteStatus to;
  bool changes;  // version bumps
};

class QuoteTransitionTest : public ::testing::TestWithParam<TransitionCase> {};

TEST_P(QuoteTransitionTest, FollowsTheStateMachine) {
  const TransitionCase& c = GetParam();
  Quote q = Quote::Restore("q-1", "c-1", 100, c.from, 3, "", kT0, kT0);
  absl::Status status;
  switch (c.op) {
    case Op::kApprove: {
      auto ev = q.Approve(kT1);
      status = ev.status();
      if (ev.ok()) {
        EXPECT_EQ(ev->customer_id, "c-1");
        EXPECT_EQ(ev->premium, 100);
      }
      break;
    }
    case Op::kIssue:
      status = q.MarkIssued(kT1).status();
      break;
    case Op::kReject:
      status = q.Reject("policy creation failed", kT1).status();
      break;
  }
  EXPECT_EQ(status.code(), c.want) << status;
  EXPECT_EQ(q.status(), c.to);
  EXPECT_EQ(q.version(), c.changes ? 4 : 3);
  EXPECT_EQ(q.updated_at(), c.changes ? kT1 : kT0);
  if (c.changes && c.op == Op::kReject) {
    EXPECT_EQ(q.rejection_reason(), "policy creation failed");
  }
}

using S = QuoteStatus;
using C = absl::StatusCode;
INSTANTIATE_TEST_SUITE_P(
    Table, QuoteTransitionTest,
    ::testing::Values(
        TransitionCase{"approve_draft", S::kDraft, Op::kApprove, C::kOk, S::kApproved, true},
        TransitionCase{"approve_approved", S::kApproved, Op::kApprove, C::kFailedPrecondition,
                       S::kApproved, false},
        TransitionCase{"approve_issued", S::kIssued, Op::kApprove, C::kFailedPrecondition,
                       S::kIssued, false},
        TransitionCase{"approve_rejected", S::kRejected, Op::kApprove, C::kFailedPrecondition,
                       S::kRejected, false},
        TransitionCase{"issue_approved", S::kApproved, Op::kIssue, C::kOk, S::kIssued, true},
        TransitionCase{"issue_issued_is_noop", S::kIssued, Op::kIssue, C::kOk, S::kIssued, false},
        TransitionCase{"issue_draft", S::kDraft, Op::kIssue, C::kFailedPrecondition, S::kDraft,
                       false},
        TransitionCase{"issue_rejected", S::kRejected, Op::kIssue, C::kFailedPrecondition,
                       S::kRejected, false},
        TransitionCase{"reject_approved", S::kApproved, Op::kReject, C::kOk, S::kRejected, true},
        TransitionCase{"reject_draft", S::kDraft, Op::kReject, C::kOk, S::kRejected, true},
        TransitionCase{"reject_rejected_is_noop", S::kRejected, Op::kReject, C::kOk, S::kRejected,
                       false},
        TransitionCase{"reject_issued", S::kIssued, Op::kReject, C::kFailedPrecondition, S::kIssued,
                       false}),
    [](const auto& info) { return info.param.name; });

TEST(QuoteStatusTest, NamesRoundTrip) {
  for (S s : {S::kDraft, S::kApproved, S::kIssued, S::kRejected}) {
    EXPECT_EQ(ParseQuoteStatus(QuoteStatusName(s)).value(), s);
  }
  EXPECT_EQ(ParseQuoteStatus("BOGUS").status().code(), C::kInvalidArgument);
}

}  // namespace
}  // namespace quoteflow
