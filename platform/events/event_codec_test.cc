#include "platform/events/event_codec.h"

#include "gtest/gtest.h"

namespace quoteflow {
namespace {

DomainEvent Sample(EventPayload payload) {
  return DomainEvent{.event_id = "e-1",
                     .aggregate_id = "agg-1",
                     .quote_id = "q-1",
                     .aggregate_version = 2,
                     .occurred_at = absl::FromUnixMicros(1'700'000'000'123'456),
                     .payload = std::move(payload)};
}

TEST(EventCodecTest, EncodesTheSeedEnvelope) {
  std::string json = EncodeEnvelope(Sample(QuoteApproved{"cust-456", 1200}));
  EXPECT_EQ(json,
            R"({"eventID":"e-1","eventType":"QuoteApproved","quoteID":"q-1","aggregateID":"agg-1",)"
            R"("aggregateVersion":2,"occurredAt":"2023-11-14T22:13:20.123456Z",)"
            R"("data":{"customerId":"cust-456","premium":"1200"}})");
}

TEST(EventCodecTest, EveryPayloadRoundTrips) {
  std::vector<EventPayload> payloads = {
      QuoteApproved{"c", 5},
      QuoteRejected{"c", "premium over limit", "p-1"},
      PolicyCreated{"p", "c", 7},
      PolicyCancelled{"p", "c", "customer at maximum"},
      CustomerPolicyCountUpdated{"c", "p", 3, 1},
      CustomerPolicyCountRejected{"c", "p", "not registered"},
  };
  for (const EventPayload& p : payloads) {
    DomainEvent in = Sample(p);
    auto out = DecodeEnvelope(EncodeEnvelope(in));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->event_id, in.event_id);
    EXPECT_STREQ(out->type(), in.type());
    EXPECT_EQ(out->aggregate_version, 2);
    EXPECT_EQ(out->occurred_at, in.occurred_at);
    EXPECT_EQ(EncodeEnvelope(*out), EncodeEnvelope(in));
  }
}

TEST(EventCodecTest, AcceptsNumbersForInt64AndEscapesStrings) {
  auto e = DecodeEnvelope(
      R"({"eventID":"e\"1","eventType":"QuoteApproved","quoteID":"q","aggregateID":"q",)"
      R"("aggregateVersion":"3","occurredAt":"2024-01-01T00:00:00Z","data":{"premium":1200}})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(std::get<QuoteApproved>(e->payload).premium, 1200);
  EXPECT_EQ(e->event_id, "e\"1");
  EXPECT_NE(EncodeEnvelope(*e).find(R"("eventID":"e\"1")"), std::string::npos);
}

TEST(EventCodecTest, RejectsBadInputWithAReason) {
  struct Case {
    const char* json;
    const char* want;
  };
  for (
      const Case& c : {
          Case{"not json", "not a valid event envelope"},
          Case{
              R"({"eventType":"QuoteApproved","aggregateID":"a","occurredAt":"2024-01-01T00:00:00Z"})",
              "eventID"},
          Case{
              R"({"eventID":"e","eventType":"Nope","aggregateID":"a","occurredAt":"2024-01-01T00:00:00Z"})",
              "unknown eventType"},
          Case{
              R"({"eventID":"e","eventType":"QuoteApproved","aggregateID":"a","occurredAt":"yesterday"})",
              "RFC 3339"},
          Case{
              R"({"eventID":"e","eventType":"QuoteApproved","aggregateID":"a","occurredAt":"2024-01-01T00:00:00Z","data":{"premium":"x"}})",
              "does not match"},
      }) {
    auto e = DecodeEnvelope(c.json);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(e.status().message().find(c.want), absl::string_view::npos) << e.status();
  }
}

}  // namespace
}  // namespace quoteflow
