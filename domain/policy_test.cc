#include "domain/policy.h"

#include "domain/errors.h"
#include "domain/quote.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kT1 = kT0 + absl::Seconds(5);

struct PolicyCreateCase {
  std::string name;
  std::string quote_id;
  std::string customer_id;
  int64_t premium;
  int64_t quote_version;
  std::string want_field;  // "" means OK
};

class PolicyCreateTest : public ::testing::TestWithParam<PolicyCreateCase> {};

TEST_P(PolicyCreateTest, ValidatesInput) {
  const PolicyCreateCase& c = GetParam();
  absl::StatusOr<Policy> p =
      Policy::Create(c.quote_id, c.customer_id, c.premium, c.quote_version, kT0);
  if (c.want_field.empty()) {
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->policy_id(), "pol-" + c.quote_id);
    EXPECT_EQ(p->quote_id(), c.quote_id);
    EXPECT_EQ(p->customer_id(), c.customer_id);
    EXPECT_EQ(p->premium(), c.premium);
    EXPECT_EQ(p->status(), PolicyStatus::kActive);
    EXPECT_EQ(p->version(), 1);
    EXPECT_EQ(p->quote_version(), c.quote_version);
    EXPECT_EQ(p->created_at(), kT0);
    EXPECT_EQ(p->updated_at(), kT0);
  } else {
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(InvalidFieldName(p.status()).value_or(""), c.want_field) << p.status();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, PolicyCreateTest,
    ::testing::Values(PolicyCreateCase{"ok", "q-1", "cust-1", 1200, 2, ""},
                      PolicyCreateCase{"max_premium", "q-1", "c", kMaxPremium, 2, ""},
                      PolicyCreateCase{"empty_quote", "", "c", 1, 2, "quote_id"},
                      PolicyCreateCase{"bad_quote", "q 1", "c", 1, 2, "quote_id"},
                      PolicyCreateCase{"empty_customer", "q-1", "", 1, 2, "customer_id"},
                      PolicyCreateCase{"zero_premium", "q-1", "c", 0, 2, "premium"},
                      PolicyCreateCase{"negative_premium", "q-1", "c", -1, 2, "premium"},
                      PolicyCreateCase{"huge_premium", "q-1", "c", kMaxPremium + 1, 2, "premium"},
                      PolicyCreateCase{"zero_quote_version", "q-1", "c", 1, 0,
                                       "aggregate_version"}),
    [](const auto& info) { return info.param.name; });

TEST(PolicyTest, IdIsDerivedFromTheQuote) {
  EXPECT_EQ(PolicyIdForQuote("q-1"), "pol-q-1");
  EXPECT_EQ(Policy::Create("q-1", "c", 5, 2, kT0)->policy_id(),
            Policy::Create("q-1", "other", 7, 2, kT1)->policy_id());
}

TEST(PolicyTest, CancelIsIdempotentAndKeepsTheFirstReason) {
  Policy p = *Policy::Create("q-1", "c", 5, 2, kT0);
  absl::StatusOr<bool> first = p.Cancel("customer at maximum", kT1);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  EXPECT_EQ(p.status(), PolicyStatus::kCancelled);
  EXPECT_EQ(p.cancellation_reason(), "customer at maximum");
  EXPECT_EQ(p.version(), 2);
  EXPECT_EQ(p.updated_at(), kT1);

  const Policy after_first = p;
  absl::StatusOr<bool> second = p.Cancel("another reason", kT1 + absl::Seconds(1));
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  EXPECT_EQ(p, after_first);
}

TEST(PolicyTest, CancelNeedsAReason) {
  Policy p = *Policy::Create("q-1", "c", 5, 2, kT0);
  const Policy before = p;
  EXPECT_EQ(InvalidFieldName(p.Cancel("", kT1).status()).value_or(""), "reason");
  EXPECT_EQ(p, before);
}

TEST(PolicyTest, StatusNamesRoundTrip) {
  for (PolicyStatus s : {PolicyStatus::kActive, PolicyStatus::kCancelled}) {
    EXPECT_EQ(*ParsePolicyStatus(PolicyStatusName(s)), s);
  }
  EXPECT_EQ(ParsePolicyStatus("active").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quoteflow
