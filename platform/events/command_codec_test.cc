#include "platform/events/command_codec.h"

#include <gtest/gtest.h>

#include "platform/events/event_codec.h"

namespace quoteflow {
namespace {

TEST(CommandCodecTest, RoundTripsEveryCommand) {
  const absl::Time t = absl::FromUnixMicros(1'800'000'000'123'456);
  for (CommandPayload p : std::vector<CommandPayload>{
           CreatePolicy{"pol-q1", "c1", 1200, 2}, UpdateCustomerPolicyCount{"c1", "pol-q1", -1},
           CancelPolicy{"pol-q1", "c1", "why \"quoted\""}, RejectQuote{"c1", "pol-q1", "no"},
           IssueQuote{"c1", "pol-q1"}}) {
    SagaCommand c{.command_id = "q1/saga/x/1", .quote_id = "q1", .issued_at = t, .payload = p};
    std::string json = EncodeCommandEnvelope(c);
    absl::StatusOr<SagaCommand> back = DecodeCommandEnvelope(json);
    ASSERT_TRUE(back.ok()) << back.status() << " " << json;
    EXPECT_EQ(back->command_id, c.command_id);
    EXPECT_EQ(back->quote_id, "q1");
    EXPECT_EQ(back->issued_at, t);
    EXPECT_EQ(back->payload.index(), p.index());
    EXPECT_EQ(EncodeCommandEnvelope(*back), json);
    // A command is not an event.
    EXPECT_FALSE(DecodeEnvelope(json).ok());
  }
}

TEST(CommandCodecTest, ReadsTheSeedsExample) {
  absl::StatusOr<SagaCommand> c = DecodeCommandEnvelope(
      R"({"commandID":"command-1","quoteID":"quote-123","commandType":"CreatePolicy",)"
      R"("data":{"premium":1200,"customerId":"cust-456"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(std::get<CreatePolicy>(c->payload).premium, 1200);
  EXPECT_EQ(std::get<CreatePolicy>(c->payload).customer_id, "cust-456");
}

// Found by the command_envelope fuzzer (tests/fuzz/corpus/command_envelope/regress-*): an issuedAt
// finer than microseconds did not survive encode + decode.
TEST(CommandCodecTest, TruncatesIssuedAtToMicroseconds) {
  absl::StatusOr<SagaCommand> c =
      DecodeCommandEnvelope(R"({"commandID":"c","commandType":"IssueQuote","quoteID":"q",)"
                            R"("issuedAt":"2026-11-26T11:39:01.0123456789Z","data":{}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(FormatRfc3339(c->issued_at), "2026-11-26T11:39:01.012345Z");
  absl::StatusOr<SagaCommand> again = DecodeCommandEnvelope(EncodeCommandEnvelope(*c));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->issued_at, c->issued_at);
}

TEST(CommandCodecTest, RejectsAnIssuedAtOutOfRange) {
  absl::StatusOr<SagaCommand> c =
      DecodeCommandEnvelope(R"({"commandID":"c","commandType":"IssueQuote","quoteID":"q",)"
                            R"("issuedAt":"292277026596-12-04T15:30:08Z","data":{}})");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
}

TEST(CommandCodecTest, RejectsBadEnvelopes) {
  for (const char* json : {"", "{", R"({"commandType":"CreatePolicy","quoteID":"q"})",
                           R"({"commandID":"c","commandType":"Nope","quoteID":"q"})",
                           R"({"commandID":"c","commandType":"CreatePolicy"})",
                           R"({"commandID":"c","commandType":"IssueQuote","quoteID":"q",)"
                           R"("issuedAt":"yesterday"})",
                           R"({"eventID":"e","eventType":"QuoteApproved","aggregateID":"q"})"}) {
    EXPECT_EQ(DecodeCommandEnvelope(json).status().code(), absl::StatusCode::kInvalidArgument)
        << json;
  }
}

}  // namespace
}  // namespace quoteflow
