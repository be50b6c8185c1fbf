// The chaos suite's ledger checker: after a run, it gathers every fact about the run and checks
// the invariants I1-I5 of DESIGN.md section 2 against them:
//   - the client's ledger: every ApproveQuote the load driver saw OK (quote id, QuoteApproved
//     event id, customer, premium) and every one it gave up on;
//   - the database: quotes, approve request records, outbox rows still pending (or parked),
//     every inbox row per consumer, policies, declined quotes, customers and policy count entries;
//   - Kafka: every record of the run's three topics read back from the first stored offset, by
//     event id (ce_id header) with its key, type, partition, offset and aggregate version.
// JudgeLedger() returns one line per invariant with its counts (expected, found, missing,
// duplicated-on-wire, double-applied, reordered, ...) and whether it was violated; a final state
// can also be compared with a reference computed from the inputs (ExpectedOutcome).
//
// Thread-safety: CollectLedgerFacts() and JudgeLedger() are called from one thread after the load
// stopped; JudgeLedger is a pure function of its arguments.
#ifndef QUOTEFLOW_TESTS_CHAOS_LEDGER_H_
#define QUOTEFLOW_TESTS_CHAOS_LEDGER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quoteflow::chaos {

// One ApproveQuote as the client saw it.
struct Approval {
  int index = 0;                         // position in the load
  std::string customer_id;               // input
  int64_t premium = 0;                   // input
  std::string quote_id;                  // from CreateQuote ("" when the quote was never created)
  bool acked = false;                    // ApproveQuote returned OK (at least once)
  std::string event_id;                  // the QuoteApproved event id it returned
  std::set<std::string> event_ids_seen;  // every event id any OK reply carried
};

// One Kafka record of the run.
struct WireRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string event_id;
  std::string type;
  std::string aggregate_id;
  std::string quote_id;
  int64_t version = 0;
};

struct Topics {
  std::string quotes = "quotes";
  std::string policies = "policies";
  std::string customers = "customers";
  // Orchestration only (consumers/orchestrator/saga_topics.h, with the run's prefix).
  std::string policy_commands = "policy-commands";
  std::string customer_commands = "customer-commands";
  std::string quote_commands = "quote-commands";
  std::string saga_replies = "saga-replies";
};

// Reads every stored record of `topic` from its first offset to the high watermark.
absl::StatusOr<std::vector<WireRecord>> ReadTopic(const std::string& bootstrap,
                                                  const std::string& topic,
                                                  absl::Duration timeout = absl::Seconds(60));

struct QuoteRow {
  std::string customer_id;
  int64_t premium = 0;
  std::string status;
  std::string reason;
};
struct OutboxRow {
  std::string schema, event_id, type, aggregate_id, error;
  int64_t version = 0;
  bool parked = false;
};
struct InboxRow {
  std::string consumer, event_id;
  int64_t applied_seq = 0;  // <schema>.inbox.applied_seq: the order of application, exact
};
struct PolicyRow {
  std::string policy_id, quote_id, customer_id, status;
};
struct CustomerRow {
  int64_t max_policies = 0, policy_count = 0;
};
struct CountRow {
  std::string policy_id, customer_id, quote_id, status;
};

// Everything the checker judges, gathered from Postgres and Kafka (CollectLedgerFacts), or built by
// hand: the unit tests feed JudgeLedger synthetic facts.
struct LedgerFacts {
  std::map<std::string, QuoteRow> quotes;
  std::map<std::string, std::string> approve_event_by_quote;  // quote.requests
  std::vector<OutboxRow> outbox;
  std::vector<InboxRow> inbox;
  std::map<std::string, PolicyRow> policies;  // by policy id
  std::set<std::string> declined;
  std::map<std::string, CustomerRow> customers;
  std::vector<CountRow> counts;
  std::vector<WireRecord> wire;
  // Orchestration: each saga's state by quote id, and the id of every command its history says
  // was sent (saga.history, outcome "sent").
  std::map<std::string, std::string> saga_states;
  std::set<std::string> sent_commands;
};


// The expected final state, computed from the inputs without running anything ("the run without
// kills"): per customer, its maximum (0: not registered); the underwriting limit.
struct Reference {
  std::map<std::string, int64_t> max_policies;
  int64_t underwriting_limit = 1000000;
};

struct InvariantLine {
  std::string name;  // "I1 atomicity", ...
  bool ok = true;
  std::string counts;                 // "expected=... found=... missing=..."
  std::vector<std::string> examples;  // a few offending ids, for the failure message
};

struct LedgerReport {
  std::vector<InvariantLine> lines;
  bool ok() const;
  // One line per invariant: "<name> PASS|FAIL <counts>".
  std::string ToString() const;
  // "acked=... lost=... missing=... dup-wire=... double-applied=... reordered=..." (for CHAOS).
  std::string Summary() const;
  std::map<std::string, int64_t> totals;  // the numbers Summary() prints, by name
};

struct LedgerOptions {
  std::string database_url;
  std::string bootstrap_servers;
  Topics topics;
  // Parked outbox rows expected (scenario 8): they are reported, not counted as pending.
  bool allow_parked = false;
  // Event ids that were inserted by the test itself (poison, oversized): ignored by I1/I5.
  std::set<std::string> foreign_event_ids;
  // Compare the final state with this reference (I5), when set.
  const Reference* reference = nullptr;
  // The saga ran by orchestration: I2 expects every sent command and the reply of every applied
  // one on the wire, I4 every command applied by its participant and every reply by the
  // orchestrator, I5 every saga COMPLETED or COMPENSATED.
  bool orchestration = false;
};

// Gathers the facts. Errors: UNAVAILABLE / INTERNAL when Postgres or Kafka cannot be read (the run
// cannot be judged).
absl::StatusOr<LedgerFacts> CollectLedgerFacts(const LedgerOptions& options);

// Checks I1-I5 against `facts` (options.database_url and bootstrap_servers are not used).
LedgerReport JudgeLedger(const LedgerOptions& options, const std::vector<Approval>& approvals,
                         const LedgerFacts& facts);

// CollectLedgerFacts, then JudgeLedger.
absl::StatusOr<LedgerReport> CheckLedger(const LedgerOptions& options,
                                         const std::vector<Approval>& approvals);

}  // namespace quoteflow::chaos

#endif  // QUOTEFLOW_TESTS_CHAOS_LEDGER_H_
