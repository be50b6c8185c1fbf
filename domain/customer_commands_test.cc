#include "domain/customer_commands.h"

#include "domain/errors.h"
#include "domain/testing/fakes.h"
#include "domain/testing/saga_fakes.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

class CustomerCommandsTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  testing::InMemoryCustomerRepository repository_;
  CustomerCommands commands_{repository_, clock_, /*default_max_policies=*/3};
};

struct CreateCase {
  std::string name;
  CreateCustomerCommand command;
  std::string want_field;
};

class CustomerCreateCommandTest : public CustomerCommandsTest,
                                  public ::testing::WithParamInterface<CreateCase> {};

TEST_P(CustomerCreateCommandTest, ValidatesNamingTheField) {
  absl::StatusOr<Customer> c = commands_.CreateCustomer(GetParam().command);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InvalidFieldName(c.status()).value_or(""), GetParam().want_field) << c.status();
}

INSTANTIATE_TEST_SUITE_P(
    Table, CustomerCreateCommandTest,
    ::testing::Values(CreateCase{"no_id", {.customer_id = "", .name = "n"}, "customer_id"},
                      CreateCase{"no_name", {.customer_id = "c", .name = ""}, "name"},
                      CreateCase{"negative_max",
                                 {.customer_id = "c", .name = "n", .max_policies = -1},
                                 "max_policies"},
                      CreateCase{"bad_request_id",
                                 {.customer_id = "c", .name = "n", .request_id = "a b"},
                                 "request_id"}),
    [](const auto& info) { return info.param.name; });

TEST_F(CustomerCommandsTest, ZeroMaxPoliciesTakesTheDefault) {
  absl::StatusOr<Customer> c = commands_.CreateCustomer({.customer_id = "c", .name = "n"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_policies(), 3);
  EXPECT_EQ(commands_.CreateCustomer({.customer_id = "d", .name = "n", .max_policies = 7})
                ->max_policies(),
            7);
}

TEST_F(CustomerCommandsTest, SameRequestIdGivesTheSameResultOtherRequestsAlreadyExists) {
  CreateCustomerCommand cmd{.customer_id = "c", .name = "n", .max_policies = 2, .request_id = "r1"};
  absl::StatusOr<Customer> first = commands_.CreateCustomer(cmd);
  ASSERT_TRUE(first.ok());
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<Customer> again = commands_.CreateCustomer(cmd);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *first);

  cmd.request_id = "r2";
  EXPECT_EQ(commands_.CreateCustomer(cmd).status().code(), absl::StatusCode::kAlreadyExists);
  cmd.request_id = "";
  EXPECT_EQ(commands_.CreateCustomer(cmd).status().code(), absl::StatusCode::kAlreadyExists);
  // r1 again but for another customer: the key is taken.
  absl::StatusOr<Customer> reused = commands_.CreateCustomer(
      {.customer_id = "other", .name = "n", .max_policies = 2, .request_id = "r1"});
  EXPECT_EQ(InvalidFieldName(reused.status()).value_or(""), "request_id");
}

TEST_F(CustomerCommandsTest, GetValidatesAndReportsNotFound) {
  EXPECT_EQ(InvalidFieldName(commands_.GetCustomer("").status()).value_or(""), "customer_id");
  EXPECT_EQ(commands_.GetCustomer("nobody").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(commands_.CreateCustomer({.customer_id = "c", .name = "n"}).ok());
  EXPECT_EQ(commands_.GetCustomer("c")->name(), "n");
}

struct GetPolicyCase {
  std::string name;
  std::string policy_id;
  std::string quote_id;
  absl::StatusCode want_code;
  std::string want_field;
};

class PolicyQueriesTest : public ::testing::TestWithParam<GetPolicyCase> {};

TEST_P(PolicyQueriesTest, FindsByEitherIdAndValidates) {
  testing::InMemoryPolicyReader reader;
  reader.Put(*Policy::Create("q-1", "c", 10, 2, absl::UnixEpoch()));
  PolicyQueries queries(reader);
  const GetPolicyCase& c = GetParam();
  absl::StatusOr<Policy> p = queries.GetPolicy(c.policy_id, c.quote_id);
  EXPECT_EQ(p.status().code(), c.want_code) << p.status();
  if (p.ok()) {
    EXPECT_EQ(p->policy_id(), "pol-q-1");
  }
  EXPECT_EQ(InvalidFieldName(p.status()).value_or(""), c.want_field);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PolicyQueriesTest,
    ::testing::Values(
        GetPolicyCase{"by_policy", "pol-q-1", "", absl::StatusCode::kOk, ""},
        GetPolicyCase{"by_quote", "", "q-1", absl::StatusCode::kOk, ""},
        GetPolicyCase{"unknown_policy", "pol-q-2", "", absl::StatusCode::kNotFound, ""},
        GetPolicyCase{"unknown_quote", "", "q-2", absl::StatusCode::kNotFound, ""},
        GetPolicyCase{"neither", "", "", absl::StatusCode::kInvalidArgument, "policy_id"},
        GetPolicyCase{"both", "pol-q-1", "q-1", absl::StatusCode::kInvalidArgument, "quote_id"},
        GetPolicyCase{"bad_policy", "q-1", "", absl::StatusCode::kInvalidArgument, "policy_id"},
        GetPolicyCase{"bad_quote", "", "q 1", absl::StatusCode::kInvalidArgument, "quote_id"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace quoteflow
