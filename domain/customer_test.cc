#include "domain/customer.h"

#include "domain/errors.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kT1 = kT0 + absl::Seconds(5);

struct CustomerCreateCase {
  std::string name;
  std::string customer_id;
  std::string customer_name;
  int64_t max_policies;
  std::string want_field;  // "" means OK
};

class CustomerCreateTest : public ::testing::TestWithParam<CustomerCreateCase> {};

TEST_P(CustomerCreateTest, ValidatesInput) {
  const CustomerCreateCase& c = GetParam();
  absl::StatusOr<Customer> got =
      Customer::Create(c.customer_id, c.customer_name, c.max_policies, kT0);
  if (c.want_field.empty()) {
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->customer_id(), c.customer_id);
    EXPECT_EQ(got->name(), c.customer_name);
    EXPECT_EQ(got->max_policies(), c.max_policies);
    EXPECT_EQ(got->policy_count(), 0);
    EXPECT_EQ(got->version(), 1);
  } else {
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(InvalidFieldName(got.status()).value_or(""), c.want_field) << got.status();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CustomerCreateTest,
    ::testing::Values(CustomerCreateCase{"ok", "cust-1", "Ada Lovelace", 3, ""},
                      CustomerCreateCase{"utf8_name", "cust-1", "Zo\xc3\xab", 1, ""},
                      CustomerCreateCase{"max_limit", "c", "n", kMaxPoliciesLimit, ""},
                      CustomerCreateCase{"empty_id", "", "n", 3, "customer_id"},
                      CustomerCreateCase{"bad_id", "a b", "n", 3, "customer_id"},
                      CustomerCreateCase{"empty_name", "c", "", 3, "name"},
                      CustomerCreateCase{"blank_name", "c", "   ", 3, "name"},
                      CustomerCreateCase{"long_name", "c", std::string(201, 'x'), 3, "name"},
                      CustomerCreateCase{"control_name", "c", "a\nb", 3, "name"},
                      CustomerCreateCase{"zero_max", "c", "n", 0, "max_policies"},
                      CustomerCreateCase{"negative_max", "c", "n", -1, "max_policies"},
                      CustomerCreateCase{"huge_max", "c", "n", kMaxPoliciesLimit + 1,
                                         "max_policies"}),
    [](const auto& info) { return info.param.name; });

TEST(CustomerTest, CountsUpToTheMaximumThenRefusesWithoutChange) {
  Customer c = *Customer::Create("c", "n", 2, kT0);
  ASSERT_TRUE(c.CountPolicy(kT1).ok());
  ASSERT_TRUE(c.CountPolicy(kT1).ok());
  EXPECT_EQ(c.policy_count(), 2);
  EXPECT_EQ(c.version(), 3);
  EXPECT_TRUE(c.AtMaximum());
  const Customer full = c;
  absl::Status refused = c.CountPolicy(kT1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(), "customer c is at its maximum of 2 active policies");
  EXPECT_EQ(c, full);
}

TEST(CustomerTest, UncountStopsAtZero) {
  Customer c = *Customer::Create("c", "n", 2, kT0);
  ASSERT_TRUE(c.CountPolicy(kT1).ok());
  ASSERT_TRUE(c.UncountPolicy(kT1).ok());
  EXPECT_EQ(c.policy_count(), 0);
  EXPECT_EQ(c.version(), 3);
  const Customer empty = c;
  EXPECT_EQ(c.UncountPolicy(kT1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c, empty);
}

TEST(CustomerTest, RejectionBumpsTheVersionOnly) {
  Customer c = *Customer::Create("c", "n", 2, kT0);
  c.RecordRejection(kT1);
  EXPECT_EQ(c.version(), 2);
  EXPECT_EQ(c.policy_count(), 0);
  EXPECT_EQ(c.updated_at(), kT1);
}

TEST(CustomerTest, CountStatusNamesRoundTrip) {
  for (PolicyCountStatus s :
       {PolicyCountStatus::kCounted, PolicyCountStatus::kRejected, PolicyCountStatus::kUncounted}) {
    EXPECT_EQ(*ParsePolicyCountStatus(PolicyCountStatusName(s)), s);
  }
  EXPECT_FALSE(ParsePolicyCountStatus("counted").ok());
}

}  // namespace
}  // namespace quoteflow
