// The ledger checker fed synthetic facts (no services): a healthy run passes, and each invariant
// fires on the violation it exists for — the negative controls of I1 to I5.
#include "tests/chaos/ledger.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace quoteflow::chaos {
namespace {

WireRecord Wire(const std::string& topic, int64_t offset, const std::string& key,
                const std::string& event_id, const std::string& type, const std::string& quote,
                int64_t version) {
  return WireRecord{.topic = topic,
                    .partition = 0,
                    .offset = offset,
                    .key = key,
                    .event_id = event_id,
                    .type = type,
                    .aggregate_id = key,
                    .quote_id = quote,
                    .version = version};
}

// Two sagas as a healthy run leaves them: q1 issued (policy ACTIVE, customer c1 counts it), q2
// compensated (its premium is above the underwriting limit: the policy side declined it).
class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reference_.max_policies = {{"c1", 3}};
    options_.reference = &reference_;
    approvals_ = {
        {.index = 0, .customer_id = "c1", .premium = 100, .quote_id = "q1", .acked = true,
         .event_id = "q1-approved", .event_ids_seen = {"q1-approved"}},
        {.index = 1, .customer_id = "c1", .premium = 2000000, .quote_id = "q2", .acked = true,
         .event_id = "q2-approved", .event_ids_seen = {"q2-approved"}},
    };
    f_.quotes = {{"q1", {"c1", 100, "ISSUED", ""}}, {"q2", {"c1", 2000000, "REJECTED", "limit"}}};
    f_.approve_event_by_quote = {{"q1", "q1-approved"}, {"q2", "q2-approved"}};
    f_.wire = {
        Wire("quotes", 0, "q1", "q1-approved", "QuoteApproved", "q1", 2),
        Wire("quotes", 1, "q2", "q2-approved", "QuoteApproved", "q2", 2),
        Wire("quotes", 2, "q2", "q2/rejected", "QuoteRejected", "q2", 3),
        Wire("policies", 0, "pol-q1", "pol-q1/created", "PolicyCreated", "q1", 1),
        Wire("customers", 0, "c1", "c1/pol-q1/counted", "CustomerPolicyCountUpdated", "q1", 2),
    };
    f_.inbox = {{"policy-worker", "q1-approved", 1},       {"policy-worker", "q2-approved", 2},
                {"customer-worker", "pol-q1/created", 3},  {"quote-worker", "q2/rejected", 4},
                {"quote-worker", "c1/pol-q1/counted", 5}};
    f_.policies = {{"pol-q1", {"pol-q1", "q1", "c1", "ACTIVE"}}};
    f_.declined = {"q2"};
    f_.customers = {{"c1", {3, 1}}};
    f_.counts = {{"pol-q1", "c1", "q1", "COUNTED"}};
  }

  LedgerReport Judge() const { return JudgeLedger(options_, approvals_, f_); }

  // The line of `invariant` ("I2", ...).
  static const InvariantLine& Line(const LedgerReport& r, const std::string& invariant) {
    static const InvariantLine kMissing{.name = "missing"};
    for (const InvariantLine& l : r.lines) {
      if (absl::StartsWith(l.name, invariant + " ")) return l;
    }
    ADD_FAILURE() << "no line for " << invariant;
    return kMissing;
  }

  // Only `invariant` fails.
  static void ExpectOnlyFails(const LedgerReport& r, const std::string& invariant) {
    EXPECT_FALSE(r.ok()) << r.ToString();
    for (const InvariantLine& l : r.lines) {
      EXPECT_EQ(l.ok, !absl::StartsWith(l.name, invariant + " ")) << r.ToString();
    }
  }

  void RemoveWire(const std::string& event_id) {
    f_.wire.erase(std::remove_if(f_.wire.begin(), f_.wire.end(),
                                 [&](const WireRecord& w) { return w.event_id == event_id; }),
                  f_.wire.end());
  }
  void RemoveInbox(const std::string& event_id) {
    f_.inbox.erase(std::remove_if(f_.inbox.begin(), f_.inbox.end(),
                                  [&](const InboxRow& i) { return i.event_id == event_id; }),
                   f_.inbox.end());
  }

  Reference reference_;
  LedgerOptions options_;
  std::vector<Approval> approvals_;
  LedgerFacts f_;
};

TEST_F(LedgerTest, AHealthyRunHoldsEveryInvariant) {
  LedgerReport r = Judge();
  EXPECT_TRUE(r.ok()) << r.ToString();
  ASSERT_EQ(r.lines.size(), 5u);
  EXPECT_EQ(r.totals.at("acked"), 2);
  EXPECT_EQ(r.totals.at("missing"), 0);
  EXPECT_EQ(r.totals.at("reordered"), 0);
  EXPECT_EQ(r.totals.at("double-applied"), 0);
}

// Duplicates on the wire are expected and harmless (at-least-once): still healthy, and counted.
TEST_F(LedgerTest, ADuplicateOnTheWireIsCountedNotAViolation) {
  f_.wire.push_back(Wire("quotes", 3, "q2", "q2/rejected", "QuoteRejected", "q2", 3));
  LedgerReport r = Judge();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(r.totals.at("dup-wire"), 1);
}

// I1: an acknowledged approval whose quote row and event are gone.
TEST_F(LedgerTest, I1FiresOnAnAcknowledgedApprovalThatWasLost) {
  approvals_.push_back({.index = 2, .customer_id = "c1", .premium = 300, .quote_id = "q3",
                        .acked = true, .event_id = "q3-approved",
                        .event_ids_seen = {"q3-approved"}});
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I1");
  EXPECT_TRUE(absl::StrContains(Line(r, "I1").counts, "acked-but-lost=1")) << r.ToString();
}

// I2: the relay deleted an outbox row it never published (the policy's creation is in the
// final state, its event nowhere). The consumer downstream applied it anyway only in this
// synthetic world, so that I2 alone fires.
TEST_F(LedgerTest, I2FiresOnAnUnpublishedRowDeleted) {
  RemoveWire("pol-q1/created");
  RemoveInbox("pol-q1/created");
  LedgerReport r = Judge();
  EXPECT_FALSE(Line(r, "I2").ok) << r.ToString();
  EXPECT_TRUE(absl::StrContains(Line(r, "I2").counts, "missing=1")) << r.ToString();
}

// I2: a row still pending in an outbox when the run is judged (not published yet).
TEST_F(LedgerTest, I2FiresOnARowStillPending) {
  f_.outbox.push_back({.schema = "policy", .event_id = "pol-q9/created", .type = "PolicyCreated",
                       .aggregate_id = "pol-q9", .version = 1});
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I2");
  EXPECT_TRUE(absl::StrContains(Line(r, "I2").counts, "outbox-pending=1")) << r.ToString();
}

// I3: two events of one key swapped on the wire.
TEST_F(LedgerTest, I3FiresOnTwoEventsOfOneKeySwappedOnTheWire) {
  for (WireRecord& w : f_.wire) {
    if (w.event_id == "q2-approved") w.offset = 2;
    if (w.event_id == "q2/rejected") w.offset = 1;
  }
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I3");
  EXPECT_TRUE(absl::StrContains(Line(r, "I3").counts, "reordered-on-wire=1")) << r.ToString();
}

// I3: one consumer applied a later version of an aggregate before an earlier one, in one batch
// (one transaction: received_at is the same for both; applied_seq still tells them apart).
TEST_F(LedgerTest, I3FiresOnEventsOfOneAggregateAppliedOutOfOrderInsideABatch) {
  f_.wire.push_back(Wire("quotes", 3, "q1", "q1-later", "QuoteApproved", "q1", 4));
  f_.inbox.push_back({"policy-worker", "q1-later", 0});  // applied before q1-approved (1)
  LedgerReport r = Judge();
  EXPECT_FALSE(Line(r, "I3").ok) << r.ToString();
  EXPECT_TRUE(absl::StrContains(Line(r, "I3").counts, "reordered-applied=1")) << r.ToString();
}

// I4: an event applied twice around the inbox (the count went up twice for one policy).
TEST_F(LedgerTest, I4FiresOnAnEventAppliedTwice) {
  f_.customers["c1"].policy_count = 2;
  LedgerReport r = Judge();
  EXPECT_FALSE(Line(r, "I4").ok) << r.ToString();
  EXPECT_TRUE(absl::StrContains(Line(r, "I4").counts, "double-applied=1")) << r.ToString();
}

// I5: a saga left open (its last event never applied: the quote stays APPROVED).
TEST_F(LedgerTest, I5FiresOnASagaLeftOpen) {
  f_.quotes["q1"].status = "APPROVED";
  LedgerReport r = Judge();
  EXPECT_FALSE(Line(r, "I5").ok) << r.ToString();
  EXPECT_TRUE(absl::StrContains(Line(r, "I5").counts, "open=1")) << r.ToString();
}

// One saga by orchestration as a healthy run leaves it: q1 issued through its three steps, each a
// command to a participant and its reply to the orchestrator (all replies keyed by the quote id).
class OrchestrationLedgerTest : public LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    options_.orchestration = true;
    approvals_.resize(1);
    f_.quotes.erase("q2");
    f_.approve_event_by_quote.erase("q2");
    f_.declined.clear();
    f_.wire = {Wire("quotes", 0, "q1", "q1-approved", "QuoteApproved", "q1", 2)};
    f_.inbox = {{"saga-orchestrator", "q1-approved", 1}};
    int64_t offset = 0, seq = 2;
    for (const auto& [step, topic, participant, target, reply_type, aggregate, version] :
         std::vector<std::tuple<std::string, std::string, std::string, std::string, std::string,
                                std::string, int64_t>>{
             {"create-policy", "policy-commands", "policy-worker", "pol-q1", "PolicyCreated",
              "pol-q1", 1},
             {"count-policy", "customer-commands", "customer-worker", "c1",
              "CustomerPolicyCountUpdated", "c1", 7},
             {"issue-quote", "quote-commands", "quote-worker", "q1", "QuoteIssued", "q1", 3}}) {
      const std::string command = "q1/saga/" + step + "/1";
      f_.sent_commands.insert(command);
      f_.wire.push_back(Wire(topic, 0, target, command, "Command", "q1", 0));
      WireRecord reply = Wire("saga-replies", offset++, "q1", command + "/reply", reply_type,
                              "q1", version);
      reply.aggregate_id = aggregate;
      f_.wire.push_back(reply);
      f_.inbox.push_back({participant, command, seq++});
      f_.inbox.push_back({"saga-orchestrator", command + "/reply", seq++});
    }
    f_.saga_states = {{"q1", "COMPLETED"}};
  }

  void RemoveCommand(const std::string& command) {
    f_.sent_commands.erase(command);
    RemoveWire(command);
    RemoveWire(command + "/reply");
    RemoveInbox(command);
    RemoveInbox(command + "/reply");
  }
};

TEST_F(OrchestrationLedgerTest, AHealthyRunHoldsEveryInvariant) {
  LedgerReport r = Judge();
  EXPECT_TRUE(r.ok()) << r.ToString();
  EXPECT_TRUE(absl::StrContains(Line(r, "I2").counts, "expected=7 found=7")) << r.ToString();
  EXPECT_TRUE(absl::StrContains(Line(r, "I4").counts, "expected=7 applied=7")) << r.ToString();
}

// I2: the history says a command was sent; it never reached the wire.
TEST_F(OrchestrationLedgerTest, I2FiresOnASentCommandNeverPublished) {
  RemoveWire("q1/saga/issue-quote/1");
  RemoveInbox("q1/saga/issue-quote/1");
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I2");
  EXPECT_TRUE(absl::StrContains(Line(r, "I2").counts, "missing=1")) << r.ToString();
}

// I2: a participant applied a command; its reply never reached the wire.
TEST_F(OrchestrationLedgerTest, I2FiresOnAReplyNeverPublished) {
  RemoveWire("q1/saga/count-policy/1/reply");
  RemoveInbox("q1/saga/count-policy/1/reply");
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I2");
}

// I4: a reply on the wire that the orchestrator never applied.
TEST_F(OrchestrationLedgerTest, I4FiresOnAReplyTheOrchestratorNeverApplied) {
  RemoveInbox("q1/saga/create-policy/1/reply");
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I4");
  EXPECT_TRUE(absl::StrContains(Line(r, "I4").counts, "missing=1")) << r.ToString();
}

// I5: the quote is ISSUED but its saga never recorded the end (or the reverse: a saga stuck).
TEST_F(OrchestrationLedgerTest, I5FiresOnASagaThatDidNotEnd) {
  f_.saga_states["q1"] = "ISSUE_REQUESTED";
  LedgerReport r = Judge();
  ExpectOnlyFails(r, "I5");
  EXPECT_TRUE(absl::StrContains(Line(r, "I5").examples.front(), "saga:q1:ISSUE_REQUESTED"))
      << r.ToString();
}

}  // namespace
}  // namespace quoteflow::chaos
