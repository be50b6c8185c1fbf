// The whole choreography on in-memory stores: events emitted by one participant are delivered to
// every participant that wants them, optionally twice, until no event is left.
#include "domain/saga_services.h"

#include <deque>

#include "domain/testing/fakes.h"
#include "domain/testing/saga_fakes.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

using testing::FakeClock;
using testing::FakeCustomerSagaStore;
using testing::FakePolicySagaStore;
using testing::FakeQuoteSagaStore;

constexpr int64_t kLimit = 1'000'000;

class SagaWorld {
 public:
  // Approves quote `quote_id` of `customer_id` and runs the saga to its end. `deliveries` copies of
  // every event are delivered (a duplicate is a redelivery that the inbox did not catch).
  void ApproveAndRun(const std::string& quote_id, const std::string& customer_id, int64_t premium,
                     int deliveries = 1) {
    Quote q = *Quote::Create(quote_id, customer_id, premium, clock_.Now());
    QuoteApproved approved = *q.Approve(clock_.Now());
    quotes_.quotes.insert_or_assign(quote_id, q);
    std::deque<DomainEvent> pending{DomainEvent{.event_id = "approve-" + quote_id,
                                                .aggregate_id = quote_id,
                                                .quote_id = quote_id,
                                                .aggregate_version = q.version(),
                                                .occurred_at = clock_.Now(),
                                                .payload = approved}};
    size_t policy_seen = policies_.outbox.size();
    size_t customer_seen = customers_.outbox.size();
    while (!pending.empty()) {
      DomainEvent e = pending.front();
      pending.pop_front();
      for (int i = 0; i < deliveries; ++i) {
        const std::string type = e.type();
        if (PolicySaga::Wants(type)) {
          ASSERT_TRUE(policy_saga_.Apply(policies_, e).ok()) << type;
        }
        if (CustomerSaga::Wants(type)) {
          ASSERT_TRUE(customer_saga_.Apply(customers_, e).ok()) << type;
        }
        if (QuoteSaga::Wants(type)) {
          ASSERT_TRUE(quote_saga_.Apply(quotes_, e).ok()) << type;
        }
      }
      for (; policy_seen < policies_.outbox.size(); ++policy_seen) {
        pending.push_back(policies_.outbox[policy_seen]);
      }
      for (; customer_seen < customers_.outbox.size(); ++customer_seen) {
        pending.push_back(customers_.outbox[customer_seen]);
      }
      clock_.Advance(absl::Milliseconds(1));
    }
  }

  void Register(const std::string& customer_id, int64_t max_policies) {
    customers_.customers.insert_or_assign(
        customer_id, *Customer::Create(customer_id, "name", max_policies, clock_.Now()));
  }

  FakeClock clock_;
  FakePolicySagaStore policies_;
  FakeCustomerSagaStore customers_;
  FakeQuoteSagaStore quotes_;
  PolicySaga policy_saga_{clock_, kLimit};
  CustomerSaga customer_saga_{clock_};
  QuoteSaga quote_saga_{clock_};
};

struct SagaCase {
  std::string name;
  int64_t max_policies;  // 0: the customer is not registered
  int64_t earlier_policies;
  int64_t premium;
  QuoteStatus want_quote;
  std::optional<PolicyStatus> want_policy;  // nullopt: no policy
  int64_t want_count;
  std::string want_reason_prefix;
};

class SagaChoreographyTest : public ::testing::TestWithParam<std::tuple<SagaCase, int>> {};

TEST_P(SagaChoreographyTest, EndsInTheRightStates) {
  const auto& [c, deliveries] = GetParam();
  SagaWorld w;
  if (c.max_policies > 0) w.Register("cust-1", c.max_policies);
  for (int i = 0; i < c.earlier_policies; ++i) {
    w.ApproveAndRun("q-early-" + std::to_string(i), "cust-1", 100);
  }
  const size_t policy_events = w.policies_.outbox.size();
  const size_t customer_events = w.customers_.outbox.size();
  w.ApproveAndRun("q-1", "cust-1", c.premium, deliveries);

  const Quote& q = w.quotes_.quotes.at("q-1");
  EXPECT_EQ(q.status(), c.want_quote);
  EXPECT_EQ(q.rejection_reason().substr(0, c.want_reason_prefix.size()), c.want_reason_prefix);
  auto policy = w.policies_.policies.find("pol-q-1");
  if (c.want_policy.has_value()) {
    ASSERT_NE(policy, w.policies_.policies.end());
    EXPECT_EQ(policy->second.status(), *c.want_policy);
  } else {
    EXPECT_EQ(policy, w.policies_.policies.end());
  }
  if (c.max_policies > 0) {
    EXPECT_EQ(w.customers_.customers.at("cust-1").policy_count(), c.want_count);
  }
  // Duplicates emit nothing more than one delivery does.
  size_t want_policy_events = 1 + (c.want_policy == PolicyStatus::kCancelled ? 2 : 0);
  size_t want_customer_events = c.want_policy.has_value() ? 1 : 0;
  EXPECT_EQ(w.policies_.outbox.size() - policy_events, want_policy_events);
  EXPECT_EQ(w.customers_.outbox.size() - customer_events, want_customer_events);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SagaChoreographyTest,
    ::testing::Combine(
        ::testing::Values(
            SagaCase{"happy", 3, 0, 1200, QuoteStatus::kIssued, PolicyStatus::kActive, 1, ""},
            SagaCase{"happy_last_slot", 3, 2, 1200, QuoteStatus::kIssued, PolicyStatus::kActive, 3,
                     ""},
            SagaCase{"over_limit", 3, 0, 5'000'000, QuoteStatus::kRejected, std::nullopt, 0,
                     "premium 5000000 exceeds the underwriting limit 1000000"},
            SagaCase{"customer_at_maximum", 2, 2, 1200, QuoteStatus::kRejected,
                     PolicyStatus::kCancelled, 2,
                     "policy pol-q-1 cancelled: customer cust-1 is at its maximum of 2"},
            SagaCase{"customer_not_registered", 0, 0, 1200, QuoteStatus::kRejected,
                     PolicyStatus::kCancelled, 0,
                     "policy pol-q-1 cancelled: customer cust-1 is not registered"}),
        ::testing::Values(1, 2)),
    [](const auto& info) {
      return std::get<0>(info.param).name + "_x" + std::to_string(std::get<1>(info.param));
    });

TEST(SagaServicesTest, WantsOnlyItsEvents) {
  struct Row {
    const char* type;
    bool policy, customer, quote;
  };
  for (const Row& r :
       {Row{"QuoteApproved", true, false, false}, Row{"QuoteRejected", false, false, true},
        Row{"PolicyCreated", false, true, false}, Row{"PolicyCancelled", false, true, false},
        Row{"CustomerPolicyCountUpdated", false, false, true},
        Row{"CustomerPolicyCountRejected", true, false, false},
        Row{"Unknown", false, false, false}}) {
    EXPECT_EQ(PolicySaga::Wants(r.type), r.policy) << r.type;
    EXPECT_EQ(CustomerSaga::Wants(r.type), r.customer) << r.type;
    EXPECT_EQ(QuoteSaga::Wants(r.type), r.quote) << r.type;
  }
}

TEST(SagaServicesTest, StorageErrorsPassThroughAndWriteNothing) {
  SagaWorld w;
  w.policies_.fail_with = absl::UnavailableError("db down");
  DomainEvent e{.event_id = "e1",
                .aggregate_id = "q-1",
                .quote_id = "q-1",
                .aggregate_version = 2,
                .payload = QuoteApproved{.customer_id = "c", .premium = 5}};
  EXPECT_EQ(w.policy_saga_.Apply(w.policies_, e).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(w.policies_.outbox.empty());
  w.policies_.fail_with = absl::OkStatus();
  EXPECT_EQ(*w.policy_saga_.Apply(w.policies_, e), SagaOutcome::kApplied);
  EXPECT_EQ(*w.policy_saga_.Apply(w.policies_, e), SagaOutcome::kDuplicate);
}

TEST(SagaServicesTest, QuoteSagaReportsAMissingQuote) {
  SagaWorld w;
  DomainEvent e{.event_id = "e1",
                .aggregate_id = "q-404",
                .quote_id = "q-404",
                .aggregate_version = 3,
                .payload = QuoteRejected{.customer_id = "c", .reason = "r"}};
  EXPECT_EQ(w.quote_saga_.Apply(w.quotes_, e).status().code(), absl::StatusCode::kNotFound);
}

TEST(SagaServicesTest, CancelledPolicyOfACountedCustomerIsUncounted) {
  // Not reachable through the rules (a counted policy is never cancelled by them), but a
  // PolicyCancelled of a counted policy must give the slot back exactly once.
  SagaWorld w;
  w.Register("cust-1", 3);
  w.ApproveAndRun("q-1", "cust-1", 1200);
  ASSERT_EQ(w.customers_.customers.at("cust-1").policy_count(), 1);
  DomainEvent cancelled{.event_id = "pol-q-1/cancelled",
                        .aggregate_id = "pol-q-1",
                        .quote_id = "q-1",
                        .aggregate_version = 2,
                        .payload = PolicyCancelled{
                            .policy_id = "pol-q-1", .customer_id = "cust-1", .reason = "manual"}};
  EXPECT_EQ(*w.customer_saga_.Apply(w.customers_, cancelled), SagaOutcome::kApplied);
  EXPECT_EQ(*w.customer_saga_.Apply(w.customers_, cancelled), SagaOutcome::kDuplicate);
  EXPECT_EQ(w.customers_.customers.at("cust-1").policy_count(), 0);
  const DomainEvent& last = w.customers_.outbox.back();
  EXPECT_EQ(std::get<CustomerPolicyCountUpdated>(last.payload).delta, -1);
  // The quote worker ignores the uncount.
  EXPECT_EQ(*w.quote_saga_.Apply(w.quotes_, last), SagaOutcome::kIgnored);
  EXPECT_EQ(w.quotes_.quotes.at("q-1").status(), QuoteStatus::kIssued);
}

}  // namespace
}  // namespace quoteflow
