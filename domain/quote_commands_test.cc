#include "domain/quote_commands.h"

#include "domain/errors.h"
#include "domain/testing/fakes.h"
#include "gtest/gtest.h"

namespace quoteflow {
namespace {

class QuoteCommandsTest : public ::testing::Test {
 protected:
  Quote NewQuote() {
    return commands_.CreateQuote({.customer_id = "cust-456", .premium = 1200}).value();
  }

  testing::InMemoryQuoteRepository repo_;
  testing::FakeClock clock_;
  testing::SequentialIds ids_;
  QuoteCommands commands_{repo_, clock_, ids_};
};

TEST_F(QuoteCommandsTest, ApproveEmitsOneQuoteApprovedEvent) {
  Quote q = NewQuote();
  auto r = commands_.ApproveQuote({.quote_id = q.quote_id(), .request_id = "r1"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->quote.status(), QuoteStatus::kApproved);
  EXPECT_EQ(r->quote.version(), 2);
  std::vector<DomainEvent> outbox = repo_.outbox();
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].event_id, r->event_id);
  EXPECT_STREQ(outbox[0].type(), "QuoteApproved");
  EXPECT_EQ(outbox[0].aggregate_id, q.quote_id());
  EXPECT_EQ(outbox[0].aggregate_version, 2);
  EXPECT_EQ(std::get<QuoteApproved>(outbox[0].payload).premium, 1200);
}

// ApproveQuoteThen settles through `done`, once, with what ApproveQuote returns; a bad command
// is refused before the repository sees it.
TEST_F(QuoteCommandsTest, ApproveQuoteThenHandsTheResultToDone) {
  Quote q = NewQuote();
  std::vector<absl::StatusOr<ApproveQuoteResult>> results;
  auto record = [&](absl::StatusOr<ApproveQuoteResult> r) { results.push_back(std::move(r)); };
  commands_.ApproveQuoteThen({.quote_id = q.quote_id(), .request_id = "r1"}, record);
  commands_.ApproveQuoteThen({.quote_id = q.quote_id(), .request_id = "r1"}, record);
  commands_.ApproveQuoteThen({.quote_id = q.quote_id(), .expected_version = -1}, record);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[0]->quote.status(), QuoteStatus::kApproved);
  ASSERT_EQ(repo_.outbox().size(), 1u);
  EXPECT_EQ(repo_.outbox()[0].event_id, results[0]->event_id);
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(results[1]->event_id, results[0]->event_id);
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repo_.outbox().size(), 1u);
}

TEST_F(QuoteCommandsTest, SameRequestIdReturnsTheOriginalResult) {
  Quote q = NewQuote();
  auto first = commands_.ApproveQuote({.quote_id = q.quote_id(), .request_id = "r1"});
  clock_.Advance(absl::Seconds(1));
  auto again = commands_.ApproveQuote({.quote_id = q.quote_id(), .request_id = "r1"});
  ASSERT_TRUE(first.ok() && again.ok()) << again.status();
  EXPECT_EQ(again->event_id, first->event_id);
  EXPECT_EQ(again->quote, first->quote);
  EXPECT_EQ(repo_.outbox().size(), 1u);
}

TEST_F(QuoteCommandsTest, ApprovingAnApprovedQuoteUnderANewRequestIdFails) {
  Quote q = NewQuote();
  ASSERT_TRUE(commands_.ApproveQuote({.quote_id = q.quote_id(), .request_id = "r1"}).ok());
  auto r = commands_.ApproveQuote({.quote_id = q.quote_id(), .request_id = "r2"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(repo_.outbox().size(), 1u);
}

TEST_F(QuoteCommandsTest, ExpectedVersionMismatchIsAborted) {
  Quote q = NewQuote();
  auto r = commands_.ApproveQuote({.quote_id = q.quote_id(), .expected_version = 7});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(commands_.GetQuote(q.quote_id())->status(), QuoteStatus::kDraft);
  EXPECT_TRUE(repo_.outbox().empty());
  EXPECT_TRUE(commands_.ApproveQuote({.quote_id = q.quote_id(), .expected_version = 1}).ok());
}

TEST_F(QuoteCommandsTest, RequestIdReusedForAnotherQuoteIsInvalid) {
  Quote a = NewQuote();
  Quote b = NewQuote();
  ASSERT_TRUE(commands_.ApproveQuote({.quote_id = a.quote_id(), .request_id = "r1"}).ok());
  auto r = commands_.ApproveQuote({.quote_id = b.quote_id(), .request_id = "r1"});
  EXPECT_EQ(InvalidFieldName(r.status()).value_or(""), "request_id");
}

TEST_F(QuoteCommandsTest, BadFieldsAreNamed) {
  EXPECT_EQ(InvalidFieldName(commands_.ApproveQuote({.quote_id = ""}).status()), "quote_id");
  EXPECT_EQ(
      InvalidFieldName(commands_.ApproveQuote({.quote_id = "q", .request_id = "bad id"}).status()),
      "request_id");
  EXPECT_EQ(
      InvalidFieldName(commands_.ApproveQuote({.quote_id = "q", .expected_version = -1}).status()),
      "expected_version");
  EXPECT_EQ(InvalidFieldName(commands_.CreateQuote({.customer_id = "c", .premium = 0}).status()),
            "premium");
  EXPECT_EQ(commands_.ApproveQuote({.quote_id = "missing"}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(QuoteCommandsTest, CreateWithSameRequestIdReturnsSameQuote) {
  auto a = commands_.CreateQuote({.customer_id = "c", .premium = 5, .request_id = "k"});
  auto b = commands_.CreateQuote({.customer_id = "c", .premium = 5, .request_id = "k"});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->quote_id(), b->quote_id());
}

}  // namespace
}  // namespace quoteflow
