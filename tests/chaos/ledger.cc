#include "tests/chaos/ledger.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "domain/saga_orchestration.h"
#include "platform/events/event_codec.h"
#include "platform/kafka/kafka_config.h"
#include "platform/messaging/kafka_admin_util.h"

namespace quoteflow::chaos {
namespace {

namespace mi = ::quoteflow::messaging::internal;

constexpr size_t kExamples = 5;

void Example(InvariantLine& line, const std::string& what) {
  if (line.examples.size() < kExamples) line.examples.push_back(what);
}

absl::Status ReadDatabase(const std::string& url, bool orchestration, LedgerFacts& f) {
  try {
    pqxx::connection c(url);
    pqxx::work tx(c);  // one snapshot (the run has stopped; nothing writes any more)
    for (const pqxx::row& r : tx.exec(
             "SELECT quote_id, customer_id, premium, status, rejection_reason FROM quote.quotes")) {
      f.quotes[r[0].as<std::string>()] = QuoteRow{r[1].as<std::string>(), r[2].as<int64_t>(),
                                                  r[3].as<std::string>(), r[4].as<std::string>()};
    }
    for (const pqxx::row& r : tx.exec("SELECT quote_id, coalesce(event_id, '') FROM quote.requests"
                                      " WHERE operation = 'approve'")) {
      f.approve_event_by_quote[r[0].as<std::string>()] = r[1].as<std::string>();
    }
    std::vector<std::string> schemas = {"quote", "policy", "customer"};
    if (orchestration) schemas.push_back("saga");
    for (const std::string& schema : schemas) {
      for (const pqxx::row& r :
           tx.exec(absl::StrCat("SELECT event_id, event_type, aggregate_id, aggregate_version,"
                                " parked_at IS NOT NULL, coalesce(last_error, '') FROM ",
                                schema, ".outbox"))) {
        f.outbox.push_back(OutboxRow{schema, r[0].as<std::string>(), r[1].as<std::string>(),
                                     r[2].as<std::string>(), r[5].as<std::string>(),
                                     r[3].as<int64_t>(), r[4].as<bool>()});
      }
      for (const pqxx::row& r :
           tx.exec(absl::StrCat("SELECT consumer, event_id, applied_seq FROM ", schema,
                                ".inbox"))) {
        f.inbox.push_back(
            InboxRow{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>()});
      }
    }
    for (const pqxx::row& r :
         tx.exec("SELECT policy_id, quote_id, customer_id, status FROM policy.policies")) {
      f.policies[r[0].as<std::string>()] =
          PolicyRow{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                    r[3].as<std::string>()};
    }
    for (const pqxx::row& r : tx.exec("SELECT quote_id FROM policy.declined_quotes")) {
      f.declined.insert(r[0].as<std::string>());
    }
    for (const pqxx::row& r :
         tx.exec("SELECT customer_id, max_policies, policy_count FROM customer.customers")) {
      f.customers[r[0].as<std::string>()] = CustomerRow{r[1].as<int64_t>(), r[2].as<int64_t>()};
    }
    for (const pqxx::row& r :
         tx.exec("SELECT policy_id, customer_id, quote_id, status FROM customer.policy_counts")) {
      f.counts.push_back(CountRow{r[0].as<std::string>(), r[1].as<std::string>(),
                                  r[2].as<std::string>(), r[3].as<std::string>()});
    }
    if (orchestration) {
      for (const pqxx::row& r : tx.exec("SELECT quote_id, state FROM saga.sagas")) {
        f.saga_states[r[0].as<std::string>()] = r[1].as<std::string>();
      }
      for (const pqxx::row& r : tx.exec("SELECT detail FROM saga.history WHERE outcome = 'sent'")) {
        f.sent_commands.insert(r[0].as<std::string>());
      }
    }
    tx.commit();
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
  return absl::OkStatus();
}

template <typename K>
int64_t Size(const K& k) {
  return static_cast<int64_t>(k.size());
}

}  // namespace

absl::StatusOr<std::vector<WireRecord>> ReadTopic(const std::string& bootstrap,
                                                  const std::string& topic,
                                                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  kafka::KafkaSettings settings(bootstrap, {});
  absl::StatusOr<kafka::HandlePtr> rk = mi::NewAdminConsumer(settings, "chaos-ledger-reader");
  if (!rk.ok()) return rk.status();
  absl::StatusOr<int> partitions = mi::PartitionCount(rk->get(), topic, timeout);
  if (!partitions.ok()) return partitions.status();
  absl::StatusOr<std::vector<mi::Watermarks>> marks =
      mi::QueryWatermarks(rk->get(), topic, *partitions, timeout);
  if (!marks.ok()) return marks.status();
  std::map<int32_t, mi::Watermarks> ranges;
  for (int p = 0; p < *partitions; ++p) {
    if ((*marks)[p].high > (*marks)[p].low) ranges[p] = (*marks)[p];
  }
  std::vector<WireRecord> out;
  if (ranges.empty()) return out;
  absl::StatusOr<std::vector<kafka::MessagePtr>> msgs =
      mi::ReadRanges(rk->get(), topic, ranges, deadline);
  if (!msgs.ok()) return msgs.status();
  for (const kafka::MessagePtr& m : *msgs) {
    WireRecord w;
    w.topic = topic;
    w.partition = m->partition;
    w.offset = m->offset;
    if (m->key != nullptr) w.key.assign(static_cast<const char*>(m->key), m->key_len);
    w.event_id = mi::MessageHeader(m.get(), "ce_id");
    w.type = mi::MessageHeader(m.get(), "ce_type");
    if (m->payload != nullptr) {
      absl::StatusOr<DomainEvent> e =
          DecodeEnvelope(absl::string_view(static_cast<const char*>(m->payload), m->len));
      if (e.ok()) {
        if (w.event_id.empty()) w.event_id = e->event_id;
        if (w.type.empty()) w.type = e->type();
        w.aggregate_id = e->aggregate_id;
        w.quote_id = e->quote_id;
        w.version = e->aggregate_version;
      }
    }
    out.push_back(std::move(w));
  }
  rd_kafka_consumer_close(rk->get());
  return out;
}

bool LedgerReport::ok() const {
  return std::all_of(lines.begin(), lines.end(), [](const InvariantLine& l) { return l.ok; });
}

std::string LedgerReport::ToString() const {
  std::string out;
  for (const InvariantLine& l : lines) {
    absl::StrAppend(&out, l.name, " ", l.ok ? "PASS" : "FAIL", " ", l.counts);
    if (!l.examples.empty()) absl::StrAppend(&out, " e.g. ", absl::StrJoin(l.examples, " "));
    out += "\n";
  }
  return out;
}

std::string LedgerReport::Summary() const {
  std::vector<std::string> parts;
  for (const auto& [name, value] : totals) parts.push_back(absl::StrCat(name, "=", value));
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<LedgerFacts> CollectLedgerFacts(const LedgerOptions& options) {
  LedgerFacts f;
  if (absl::Status s = ReadDatabase(options.database_url, options.orchestration, f); !s.ok()) {
    return s;
  }
  const Topics& t = options.topics;
  std::vector<std::string> topics = {t.quotes, t.policies, t.customers};
  if (options.orchestration) {
    topics.insert(topics.end(),
                  {t.policy_commands, t.customer_commands, t.quote_commands, t.saga_replies});
  }
  for (const std::string& topic : topics) {
    absl::StatusOr<std::vector<WireRecord>> recs = ReadTopic(options.bootstrap_servers, topic);
    if (!recs.ok()) return recs.status();
    f.wire.insert(f.wire.end(), recs->begin(), recs->end());
  }
  return f;
}

absl::StatusOr<LedgerReport> CheckLedger(const LedgerOptions& options,
                                         const std::vector<Approval>& approvals) {
  absl::StatusOr<LedgerFacts> facts = CollectLedgerFacts(options);
  if (!facts.ok()) return facts.status();
  return JudgeLedger(options, approvals, *facts);
}

LedgerReport JudgeLedger(const LedgerOptions& options, const std::vector<Approval>& approvals,
                         const LedgerFacts& f) {
  const auto foreign = [&](const std::string& id) {
    return options.foreign_event_ids.count(id) > 0;
  };

  // Indexes.
  std::map<std::string, const WireRecord*> wire_first;  // event id -> first record
  std::map<std::string, int64_t> wire_copies;
  for (const WireRecord& w : f.wire) {
    if (++wire_copies[w.event_id] == 1) wire_first[w.event_id] = &w;
  }
  std::map<std::string, const OutboxRow*> outbox_by_id;
  int64_t pending = 0, parked = 0;
  for (const OutboxRow& o : f.outbox) {
    outbox_by_id[o.event_id] = &o;
    if (o.parked) {
      ++parked;
    } else {
      ++pending;
    }
  }
  const auto in_flow = [&](const std::string& id) {
    return wire_first.count(id) > 0 || outbox_by_id.count(id) > 0;
  };
  std::set<std::string> approved;  // quotes that left DRAFT
  for (const auto& [id, q] : f.quotes) {
    if (q.status != "DRAFT") approved.insert(id);
  }

  LedgerReport report;

  // ---- I1 atomicity ----
  {
    InvariantLine l{.name = "I1 atomicity"};
    int64_t acked = 0, found = 0, lost = 0, inconsistent = 0, without_event = 0, orphan = 0;
    for (const Approval& a : approvals) {
      if (!a.acked) continue;
      ++acked;
      if (a.event_ids_seen.size() > 1) {
        ++inconsistent;
        Example(l, "replies-differ:" + a.quote_id);
      }
      auto q = f.quotes.find(a.quote_id);
      auto r = f.approve_event_by_quote.find(a.quote_id);
      if (q != f.quotes.end() && q->second.status != "DRAFT" &&
          r != f.approve_event_by_quote.end() && r->second == a.event_id && in_flow(a.event_id)) {
        ++found;
      } else {
        ++lost;
        Example(l, "acked-but-lost:" + a.quote_id);
      }
    }
    for (const std::string& q : approved) {
      auto r = f.approve_event_by_quote.find(q);
      if (r == f.approve_event_by_quote.end() || !in_flow(r->second)) {
        ++without_event;
        Example(l, "approved-without-event:" + q);
      }
    }
    std::set<std::string> approve_events;
    for (const auto& [q, e] : f.approve_event_by_quote) approve_events.insert(e);
    auto check_orphan = [&](const std::string& id, const std::string& type,
                            const std::string& quote) {
      if (type != "QuoteApproved" || foreign(id)) return;
      if (approved.count(quote) == 0 || approve_events.count(id) == 0) {
        ++orphan;
        Example(l, "event-without-approval:" + id);
      }
    };
    for (const auto& [id, w] : wire_first) check_orphan(id, w->type, w->aggregate_id);
    for (const OutboxRow& o : f.outbox) check_orphan(o.event_id, o.type, o.aggregate_id);
    l.ok = lost == 0 && inconsistent == 0 && without_event == 0 && orphan == 0;
    l.counts = absl::StrCat("expected=", acked, " found=", found, " acked-but-lost=", lost,
                            " approved=", Size(approved), " approved-without-event=", without_event,
                            " event-without-approval=", orphan, " replies-differ=", inconsistent);
    report.totals["acked"] = acked;
    report.totals["lost"] = lost + without_event + orphan + inconsistent;
    report.lines.push_back(std::move(l));
  }

  // ---- I2 no loss ----
  std::set<std::string> expected;  // every event the final state says was emitted
  {
    InvariantLine l{.name = "I2 no-loss"};
    for (const std::string& q : approved) {
      auto r = f.approve_event_by_quote.find(q);
      if (r != f.approve_event_by_quote.end()) expected.insert(r->second);
    }
    if (options.orchestration) {
      // Every command sent, and the reply of every command a participant applied.
      for (const std::string& c : f.sent_commands) expected.insert(c);
      for (const InboxRow& i : f.inbox) {
        if (f.sent_commands.count(i.event_id)) expected.insert(ReplyEventId(i.event_id));
      }
    } else {
      for (const auto& [pid, p] : f.policies) {
        expected.insert(pid + "/created");
        if (p.status == "CANCELLED") {
          expected.insert(pid + "/cancelled");
          expected.insert(p.quote_id + "/rejected");
        }
      }
      for (const std::string& q : f.declined) expected.insert(q + "/rejected");
      for (const CountRow& c : f.counts) {
        const std::string base = c.customer_id + "/" + c.policy_id;
        if (c.status == "COUNTED") expected.insert(base + "/counted");
        if (c.status == "REJECTED") expected.insert(base + "/count-rejected");
      }
    }
    int64_t found = 0, missing = 0, still_pending = 0;
    for (const std::string& id : expected) {
      if (wire_first.count(id)) {
        ++found;
      } else {
        ++missing;
        if (outbox_by_id.count(id)) ++still_pending;
        Example(l, id);
      }
    }
    int64_t dup = 0;
    for (const auto& [id, n] : wire_copies) dup += n - 1;
    int64_t parked_unexpected = options.allow_parked ? 0 : parked;
    l.ok = missing == 0 && pending == 0 && parked_unexpected == 0;
    l.counts = absl::StrCat("expected=", Size(expected), " found=", found, " missing=", missing,
                            " (still-in-outbox=", still_pending, ") outbox-pending=", pending,
                            " outbox-parked=", parked, " wire-records=", Size(f.wire),
                            " duplicated-on-wire=", dup);
    report.totals["missing"] = missing + pending + parked_unexpected;
    report.totals["dup-wire"] = dup;
    report.lines.push_back(std::move(l));
  }

  // ---- I3 order ----
  {
    InvariantLine l{.name = "I3 order"};
    // Per topic and key, the versions of each aggregate (a key can carry several aggregates: the
    // replies of one saga are keyed by its quote id).
    std::map<std::tuple<std::string, std::string, std::string>, std::vector<const WireRecord*>>
        by_key;
    for (const WireRecord& w : f.wire) by_key[{w.topic, w.key, w.aggregate_id}].push_back(&w);
    int64_t keys = 0, reordered = 0, split = 0;
    for (auto& [key, recs] : by_key) {
      std::sort(recs.begin(), recs.end(), [](const WireRecord* a, const WireRecord* b) {
        return std::tie(a->partition, a->offset) < std::tie(b->partition, b->offset);
      });
      std::set<std::string> seen;
      int64_t last = -1;
      bool bad = false;
      for (const WireRecord* r : recs) {
        if (r->partition != recs.front()->partition) split += 1;
        if (!seen.insert(r->event_id).second) continue;  // a later copy: expected, harmless
        if (foreign(r->event_id)) continue;
        if (r->version < last) bad = true;
        last = std::max(last, r->version);
      }
      if (seen.size() > 1) ++keys;
      if (bad) {
        ++reordered;
        Example(l, std::get<0>(key) + "/" + std::get<1>(key));
      }
    }
    // Applied order: per consumer and aggregate, a higher version never applied before a lower.
    std::map<std::pair<std::string, std::string>, std::vector<std::pair<int64_t, int64_t>>> applied;
    for (const InboxRow& i : f.inbox) {
      auto w = wire_first.find(i.event_id);
      if (w == wire_first.end() || foreign(i.event_id)) continue;
      applied[{i.consumer, w->second->aggregate_id}].push_back(
          {w->second->version, i.applied_seq});
    }
    int64_t applied_reordered = 0;
    for (auto& [key, v] : applied) {
      std::sort(v.begin(), v.end());
      for (size_t k = 1; k < v.size(); ++k) {
        if (v[k].first > v[k - 1].first && v[k].second < v[k - 1].second) {
          ++applied_reordered;
          Example(l, "applied:" + key.first + ":" + key.second);
          break;
        }
      }
    }
    l.ok = reordered == 0 && applied_reordered == 0 && split == 0;
    l.counts = absl::StrCat(
        "expected=", keys, " keys-with-several-events reordered-on-wire=", reordered,
        " reordered-applied=", applied_reordered, " key-split-across-partitions=", split);
    report.totals["reordered"] = reordered + applied_reordered + split;
    report.lines.push_back(std::move(l));
  }

  // ---- I4 exactly-once effect ----
  {
    InvariantLine l{.name = "I4 exactly-once"};
    // Which consumer must have applied a record: by its type in choreography, by its topic (the
    // participant of a command topic, the orchestrator for replies and approvals) in orchestration.
    const std::map<std::string, std::set<std::string>> wants = {
        {"policy-worker", {"QuoteApproved", "CustomerPolicyCountRejected"}},
        {"customer-worker", {"PolicyCreated", "PolicyCancelled"}},
        {"quote-worker", {"QuoteRejected", "CustomerPolicyCountUpdated"}}};
    const std::map<std::string, std::string> consumer_of_topic = {
        {options.topics.policy_commands, "policy-worker"},
        {options.topics.customer_commands, "customer-worker"},
        {options.topics.quote_commands, "quote-worker"},
        {options.topics.saga_replies, "saga-orchestrator"}};
    const auto consumers_of = [&](const WireRecord& w) {
      std::vector<std::string> out;
      if (options.orchestration) {
        auto c = consumer_of_topic.find(w.topic);
        if (c != consumer_of_topic.end()) out.push_back(c->second);
        if (w.topic == options.topics.quotes && w.type == "QuoteApproved") {
          out.push_back("saga-orchestrator");
        }
        return out;
      }
      for (const auto& [consumer, types] : wants) {
        if (types.count(w.type)) out.push_back(consumer);
      }
      return out;
    };
    std::set<std::pair<std::string, std::string>> inbox;
    int64_t phantom = 0;
    for (const InboxRow& i : f.inbox) {
      inbox.insert({i.consumer, i.event_id});
      if (!wire_first.count(i.event_id) && !foreign(i.event_id)) {
        ++phantom;
        Example(l, "applied-but-never-on-wire:" + i.event_id);
      }
    }
    int64_t should = 0, applied = 0, not_applied = 0;
    for (const auto& [id, w] : wire_first) {
      if (foreign(id)) continue;
      for (const std::string& consumer : consumers_of(*w)) {
        ++should;
        if (inbox.count({consumer, id})) {
          ++applied;
        } else {
          ++not_applied;
          Example(l, "not-applied:" + consumer + ":" + id);
        }
      }
    }
    // Double application shows in the state: counts that do not match their entries/policies,
    // and compensations emitted for sagas that succeeded.
    std::map<std::string, int64_t> counted, active;
    for (const CountRow& c : f.counts) {
      if (c.status == "COUNTED") ++counted[c.customer_id];
    }
    for (const auto& [pid, p] : f.policies) {
      if (p.status == "ACTIVE") ++active[p.customer_id];
    }
    int64_t double_applied = 0;
    for (const auto& [cid, c] : f.customers) {
      if (c.policy_count != counted[cid] || c.policy_count != active[cid] ||
          c.policy_count > c.max_policies) {
        ++double_applied;
        Example(l, absl::StrCat("count:", cid, "=", c.policy_count, "/counted=", counted[cid],
                                "/active=", active[cid]));
      }
    }
    int64_t compensations = 0, bad_compensations = 0;
    for (const auto& [id, w] : wire_first) {
      if (w->type == "QuoteRejected" && !foreign(id)) {
        ++compensations;
        auto q = f.quotes.find(w->aggregate_id);
        if (q != f.quotes.end() && q->second.status == "ISSUED") {
          ++bad_compensations;
          Example(l, "compensated-issued-quote:" + w->aggregate_id);
        }
      }
      if (w->type == "PolicyCancelled" && !foreign(id)) {
        auto p = f.policies.find(w->aggregate_id);
        if (p != f.policies.end() && p->second.status == "ACTIVE") {
          ++bad_compensations;
          Example(l, "cancelled-active-policy:" + w->aggregate_id);
        }
      }
    }
    l.ok = not_applied == 0 && phantom == 0 && double_applied == 0 && bad_compensations == 0;
    l.counts = absl::StrCat("expected=", should, " applied=", applied, " missing=", not_applied,
                            " inbox-rows=", Size(f.inbox), " double-applied=", double_applied,
                            " phantom=", phantom, " compensations=", compensations,
                            " wrong-compensations=", bad_compensations);
    report.totals["double-applied"] = double_applied + phantom + bad_compensations;
    report.totals["not-applied"] = not_applied;
    report.lines.push_back(std::move(l));
  }

  // ---- I5 saga completion (and the reference final state) ----
  {
    InvariantLine l{.name = "I5 completion"};
    std::map<std::string, const PolicyRow*> policy_by_quote;
    for (const auto& [pid, p] : f.policies) policy_by_quote[p.quote_id] = &p;
    std::map<std::string, std::string> count_by_policy;
    for (const CountRow& c : f.counts) count_by_policy[c.policy_id] = c.status;
    int64_t issued = 0, rejected = 0, open = 0, inconsistent = 0;
    for (const std::string& q : approved) {
      const QuoteRow& row = f.quotes.at(q);
      auto p = policy_by_quote.find(q);
      const bool active = p != policy_by_quote.end() && p->second->status == "ACTIVE";
      const std::string entry =
          p == policy_by_quote.end() ? "" : count_by_policy[p->second->policy_id];
      if (row.status == "ISSUED") {
        ++issued;
        if (!active || entry != "COUNTED") {
          ++inconsistent;
          Example(l, "issued-without-counted-policy:" + q);
        }
      } else if (row.status == "REJECTED") {
        ++rejected;
        if (active || entry == "COUNTED") {
          ++inconsistent;
          Example(l, "rejected-with-active-policy:" + q);
        }
      } else {
        ++open;
        Example(l, "open:" + q + ":" + row.status);
      }
      if (options.orchestration) {
        auto saga = f.saga_states.find(q);
        const std::string state = saga == f.saga_states.end() ? "none" : saga->second;
        const std::string want = row.status == "ISSUED"     ? "COMPLETED"
                                 : row.status == "REJECTED" ? "COMPENSATED"
                                                            : "";
        if (state != want) {
          ++open;
          Example(l, "saga:" + q + ":" + state);
        }
      }
    }
    int64_t mismatch = 0;
    if (options.reference != nullptr) {
      // Eligible (premium within the limit, customer registered) approved quotes per customer;
      // a customer issues min(max, eligible) of them, everything else is REJECTED.
      std::map<std::string, int64_t> eligible, issued_by_customer;
      for (const std::string& q : approved) {
        const QuoteRow& row = f.quotes.at(q);
        auto max = options.reference->max_policies.find(row.customer_id);
        const bool registered = max != options.reference->max_policies.end() && max->second > 0;
        const bool within = row.premium <= options.reference->underwriting_limit;
        if (registered && within) {
          ++eligible[row.customer_id];
        } else if (row.status != "REJECTED") {
          ++mismatch;
          Example(l, "should-be-rejected:" + q);
        }
        if (row.status == "ISSUED") ++issued_by_customer[row.customer_id];
      }
      for (const auto& [cid, max] : options.reference->max_policies) {
        const int64_t want = std::min(max, eligible[cid]);
        auto c = f.customers.find(cid);
        const int64_t count = c == f.customers.end() ? 0 : c->second.policy_count;
        if (issued_by_customer[cid] != want || count != want) {
          ++mismatch;
          Example(l, absl::StrCat("customer:", cid, " issued=", issued_by_customer[cid],
                                  " count=", count, " want=", want));
        }
      }
    }
    l.ok = open == 0 && inconsistent == 0 && mismatch == 0;
    l.counts = absl::StrCat("expected=", Size(approved), " issued=", issued, " rejected=", rejected,
                            " open=", open, " inconsistent=", inconsistent,
                            options.reference ? absl::StrCat(" reference-mismatch=", mismatch)
                                              : std::string(" reference=none"));
    report.totals["issued"] = issued;
    report.totals["rejected"] = rejected;
    report.totals["open"] = open + inconsistent;
    report.totals["ref-mismatch"] = mismatch;
    report.lines.push_back(std::move(l));
  }
  return report;
}

}  // namespace quoteflow::chaos
