#include "domain/saga_participants.h"

#include <gtest/gtest.h>

#include "domain/testing/fakes.h"
#include "domain/testing/saga_fakes.h"

namespace quoteflow {
namespace {

using ::quoteflow::testing::FakeClock;
using ::quoteflow::testing::FakeCustomerSagaStore;
using ::quoteflow::testing::FakePolicySagaStore;
using ::quoteflow::testing::FakeQuoteSagaStore;

struct Replies : ReplySink {
  absl::Status Reply(const DomainEvent& e) override {
    sent.push_back(e);
    return absl::OkStatus();
  }
  std::vector<DomainEvent> sent;
};

SagaCommand Command(SagaStep step, int attempt, CommandPayload payload) {
  return SagaCommand{.command_id = SagaCommandId("q1", step, attempt),
                     .quote_id = "q1",
                     .payload = std::move(payload)};
}

class ParticipantsTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Replies replies_;
};

TEST_F(ParticipantsTest, PolicyCreatesOnceAndAnswersEveryAttempt) {
  PolicyCommandService service(clock_, 1000);
  FakePolicySagaStore store;
  CreatePolicy create{
      .policy_id = "pol-q1", .customer_id = "c1", .premium = 500, .quote_version = 2};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCreatePolicy, 1, create)).ok());
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCreatePolicy, 2, create)).ok());
  EXPECT_EQ(store.policies.size(), 1u);
  ASSERT_EQ(replies_.sent.size(), 2u);
  EXPECT_EQ(replies_.sent[0].event_id, "q1/saga/create-policy/1/reply");
  EXPECT_EQ(replies_.sent[1].event_id, "q1/saga/create-policy/2/reply");
  EXPECT_STREQ(replies_.sent[1].type(), "PolicyCreated");
}

TEST_F(ParticipantsTest, PolicyRefusesAbovetheLimit) {
  PolicyCommandService service(clock_, 1000);
  FakePolicySagaStore store;
  CreatePolicy create{
      .policy_id = "pol-q1", .customer_id = "c1", .premium = 5000, .quote_version = 2};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCreatePolicy, 1, create)).ok());
  EXPECT_TRUE(store.policies.empty());
  ASSERT_EQ(replies_.sent.size(), 1u);
  EXPECT_STREQ(replies_.sent[0].type(), "QuoteRejected");
}

TEST_F(ParticipantsTest, CancelBeforeCreateDeclinesALateCreate) {
  PolicyCommandService service(clock_, 1000);
  FakePolicySagaStore store;
  CancelPolicy cancel{.policy_id = "pol-q1", .customer_id = "c1", .reason = "timeout"};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCancelPolicy, 1, cancel)).ok());
  CreatePolicy create{
      .policy_id = "pol-q1", .customer_id = "c1", .premium = 500, .quote_version = 2};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCreatePolicy, 1, create)).ok());
  EXPECT_TRUE(store.policies.empty());
  ASSERT_EQ(replies_.sent.size(), 2u);
  EXPECT_STREQ(replies_.sent[0].type(), "PolicyCancelled");
  EXPECT_STREQ(replies_.sent[1].type(), "QuoteRejected");
}

TEST_F(ParticipantsTest, CancelCancelsAnActivePolicy) {
  PolicyCommandService service(clock_, 1000);
  FakePolicySagaStore store;
  CreatePolicy create{
      .policy_id = "pol-q1", .customer_id = "c1", .premium = 500, .quote_version = 2};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCreatePolicy, 1, create)).ok());
  CancelPolicy cancel{.policy_id = "pol-q1", .customer_id = "c1", .reason = "at maximum"};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCancelPolicy, 1, cancel)).ok());
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCancelPolicy, 2, cancel)).ok());
  EXPECT_EQ(store.policies.at("pol-q1").status(), PolicyStatus::kCancelled);
  EXPECT_EQ(store.policies.at("pol-q1").cancellation_reason(), "at maximum");
  EXPECT_EQ(replies_.sent.size(), 3u);
  CancelPolicy other{.policy_id = "pol-q1", .customer_id = "c2"};
  EXPECT_EQ(service.Handle(store, replies_, Command(SagaStep::kCancelPolicy, 3, other)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ParticipantsTest, CustomerCountsReleasesAndRefusesALateCount) {
  CustomerCommandService service(clock_);
  FakeCustomerSagaStore store;
  store.customers.emplace("c1", *Customer::Create("c1", "n", 3, clock_.Now()));
  UpdateCustomerPolicyCount plus{.customer_id = "c1", .policy_id = "pol-q1", .delta = 1};
  UpdateCustomerPolicyCount minus{.customer_id = "c1", .policy_id = "pol-q1", .delta = -1};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCountPolicy, 1, plus)).ok());
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCountPolicy, 2, plus)).ok());
  EXPECT_EQ(store.customers.at("c1").policy_count(), 1);
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kReleaseCount, 1, minus)).ok());
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kReleaseCount, 2, minus)).ok());
  EXPECT_EQ(store.customers.at("c1").policy_count(), 0);
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCountPolicy, 3, plus)).ok());
  EXPECT_EQ(store.customers.at("c1").policy_count(), 0);
  ASSERT_EQ(replies_.sent.size(), 5u);
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(replies_.sent[1].payload).delta, 1);
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(replies_.sent[2].payload).delta, -1);
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(replies_.sent[3].payload).delta, 0);
  EXPECT_STREQ(replies_.sent[4].type(), "CustomerPolicyCountRejected");
  UpdateCustomerPolicyCount zero{.customer_id = "c1", .policy_id = "pol-q1", .delta = 0};
  EXPECT_EQ(service.Handle(store, replies_, Command(SagaStep::kCountPolicy, 4, zero)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ParticipantsTest, CustomerRefusesAnUnregisteredCustomer) {
  CustomerCommandService service(clock_);
  FakeCustomerSagaStore store;
  UpdateCustomerPolicyCount plus{.customer_id = "nobody", .policy_id = "pol-q1", .delta = 1};
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCountPolicy, 1, plus)).ok());
  ASSERT_TRUE(service.Handle(store, replies_, Command(SagaStep::kCountPolicy, 2, plus)).ok());
  ASSERT_EQ(replies_.sent.size(), 2u);
  EXPECT_STREQ(replies_.sent[0].type(), "CustomerPolicyCountRejected");
  EXPECT_EQ(std::get<CustomerPolicyCountRejected>(replies_.sent[1].payload).reason,
            std::get<CustomerPolicyCountRejected>(replies_.sent[0].payload).reason);
}

TEST_F(ParticipantsTest, QuoteIssuesOrRejects) {
  QuoteCommandService service(clock_);
  FakeQuoteSagaStore store;
  Quote q = *Quote::Create("q1", "c1", 500, clock_.Now());
  ASSERT_TRUE(q.Approve(clock_.Now()).ok());
  store.quotes.emplace("q1", q);
  ASSERT_TRUE(
      service.Handle(store, replies_, Command(SagaStep::kIssueQuote, 1, IssueQuote{"c1", "pol-q1"}))
          .ok());
  ASSERT_TRUE(
      service.Handle(store, replies_, Command(SagaStep::kIssueQuote, 2, IssueQuote{"c1", "pol-q1"}))
          .ok());
  EXPECT_EQ(store.quotes.at("q1").status(), QuoteStatus::kIssued);
  EXPECT_EQ(replies_.sent.size(), 2u);
  EXPECT_EQ(service
                .Handle(store, replies_,
                        Command(SagaStep::kRejectQuote, 1, RejectQuote{"c1", "pol-q1", "no"}))
                .code(),
            absl::StatusCode::kFailedPrecondition);

  store.quotes.erase("q1");
  store.quotes.emplace("q1", q);
  ASSERT_TRUE(service
                  .Handle(store, replies_,
                          Command(SagaStep::kRejectQuote, 1, RejectQuote{"c1", "", "too high"}))
                  .ok());
  EXPECT_EQ(store.quotes.at("q1").rejection_reason(), "too high");
  EXPECT_STREQ(replies_.sent.back().type(), "QuoteRejected");
  EXPECT_EQ(service
                .Handle(store, replies_,
                        Command(SagaStep::kCreatePolicy, 1, CreatePolicy{"pol-q1", "c1", 1, 1}))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quoteflow
