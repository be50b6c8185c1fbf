// The outbox writer on a real PostgreSQL: rows held by PendingOutboxRows go in at Flush, in the
// order they were added, with the same columns as InsertOutboxRow writes, whatever the text holds.
#include "platform/postgres/outbox_writer.h"

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "platform/events/event_codec.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

const OutboxTarget kPolicy{.schema = "policy", .source = "/quoteflow/test"};
const OutboxTarget kCustomer{.schema = "customer", .source = "/quoteflow/test"};
constexpr char kTrace[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// The text a JSON envelope or an array literal must carry through unchanged.
constexpr char kAwkwardText[] = "a \"quoted\" \\ back,slash {brace} NULL é";

DomainEvent Cancelled(const std::string& id, int64_t version) {
  DomainEvent e;
  e.event_id = id;
  e.aggregate_id = "p-1";
  e.quote_id = "q-1";
  e.aggregate_version = version;
  e.occurred_at = absl::FromUnixMicros(1767225600123456 + version);
  e.payload = PolicyCancelled{"p-1", "c-1", kAwkwardText};
  return e;
}

class OutboxWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::ResetDatabase().ok()); }

  // Every column but seq of `schema`.outbox's rows, in seq order, one string per row.
  std::vector<std::string> Rows(const std::string& schema) {
    pqxx::connection c(testing::Env().database_url());
    pqxx::work tx(c);
    std::vector<std::string> rows;
    for (const pqxx::row& r : tx.exec(absl::StrCat(
             "SELECT concat_ws('|', event_id, event_type, aggregate_type, aggregate_id,"
             " aggregate_version, quote_id, coalesce(topic, '<null>'), payload, source,"
             " traceparent, (extract(epoch FROM occurred_at) * 1000000)::bigint) FROM ",
             schema, ".outbox ORDER BY seq"))) {
      rows.push_back(r[0].as<std::string>());
    }
    return rows;
  }
};

TEST_F(OutboxWriterTest, PendingRowsGoInAtFlushInOrderAsInsertOutboxRowWritesThem) {
  pqxx::connection c(testing::Env().database_url());
  {
    pqxx::work tx(c);
    PendingOutboxRows pending;
    EXPECT_TRUE(pending.empty());
    // Interleaved schemas, a topic and none, an explicit trace and none.
    pending.Add(kPolicy, Cancelled("e-1", 1), kTrace);
    pending.Add(kCustomer, Cancelled("e-2", 2), kTrace, "saga-replies");
    pending.Add(kPolicy, Cancelled("e-3", 3), kTrace, "saga-replies");
    pending.Add(kPolicy, Cancelled("e-4", 4));
    EXPECT_FALSE(pending.empty());
    EXPECT_TRUE(Rows("policy").empty());
    pending.Flush(tx);
    EXPECT_TRUE(pending.empty());
    pending.Flush(tx);  // nothing left: writes nothing
    tx.commit();
  }
  const std::vector<std::string> flushed_policy = Rows("policy");
  const std::vector<std::string> flushed_customer = Rows("customer");
  ASSERT_EQ(flushed_policy.size(), 3u);
  ASSERT_EQ(flushed_customer.size(), 1u);

  // The same events one statement each.
  ASSERT_TRUE(testing::ResetDatabase().ok());
  {
    pqxx::work tx(c);
    InsertOutboxRow(tx, kPolicy, Cancelled("e-1", 1), kTrace);
    InsertOutboxRow(tx, kCustomer, Cancelled("e-2", 2), kTrace, "saga-replies");
    InsertOutboxRow(tx, kPolicy, Cancelled("e-3", 3), kTrace, "saga-replies");
    tx.commit();
  }
  const std::vector<std::string> inserted_policy = Rows("policy");
  EXPECT_EQ(flushed_policy[0], inserted_policy[0]);
  EXPECT_EQ(flushed_policy[1], inserted_policy[1]);
  EXPECT_EQ(flushed_customer, Rows("customer"));
  // The row without a trace got a new one; the rest is as written.
  EXPECT_TRUE(absl::StartsWith(flushed_policy[2], "e-4|")) << flushed_policy[2];
  EXPECT_FALSE(absl::StrContains(flushed_policy[2], kTrace));

  // The payload decodes to the event written, awkward text and all.
  pqxx::work tx(c);
  const std::string payload =
      tx.exec1("SELECT payload FROM policy.outbox WHERE event_id = 'e-1'")[0].as<std::string>();
  absl::StatusOr<DomainEvent> decoded = DecodeEnvelope(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(std::get<PolicyCancelled>(decoded->payload).reason, kAwkwardText);
  EXPECT_EQ(decoded->occurred_at, Cancelled("e-1", 1).occurred_at);
}

TEST_F(OutboxWriterTest, WriteOutboxRowHoldsTheRowOnlyWhenGivenPendingRows) {
  pqxx::connection c(testing::Env().database_url());
  pqxx::work tx(c);
  WriteOutboxRow(tx, nullptr, kPolicy, Cancelled("now", 1));
  PendingOutboxRows pending;
  WriteOutboxRow(tx, &pending, kPolicy, Cancelled("later", 2));
  EXPECT_EQ(tx.exec1("SELECT string_agg(event_id, ',') FROM policy.outbox")[0].as<std::string>(),
            "now");
  pending.Flush(tx);
  EXPECT_EQ(tx.exec1("SELECT string_agg(event_id, ',' ORDER BY seq) FROM policy.outbox")[0]
                .as<std::string>(),
            "now,later");
}

}  // namespace
}  // namespace quoteflow
