#include "outbox-relay/outbox_admin.h"

#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "domain/status_macros.h"
#include "outbox-relay/outbox_store.h"
#include "outbox-relay/relay_config.h"
#include "platform/postgres/outbox_doorbell.h"
#include "platform/postgres/pg_errors.h"

namespace quoteflow::relay {
namespace {

constexpr char kRfc3339[] = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";

std::string Ts(const std::string& column) {
  return absl::StrCat("coalesce(to_char(", column, " AT TIME ZONE 'UTC', ", kRfc3339, "), '')");
}

// Connects and checks the outbox table exists. Errors as documented for ListParked.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Open(const std::string& database_url,
                                                       const std::string& schema) {
  RETURN_IF_ERROR(ValidateSchemaName(schema));
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(database_url);
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "connecting to Postgres");
  }
  RETURN_IF_ERROR(CheckOutboxTable(*conn, schema));
  return conn;
}

// NOT_FOUND or FAILED_PRECONDITION for a seq that matched no parked row.
absl::Status NotParked(pqxx::transaction_base& tx, const std::string& outbox, int64_t seq) {
  pqxx::result r = tx.exec_params(absl::StrCat("SELECT 1 FROM ", outbox, " WHERE seq = $1"), seq);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("no outbox row with seq ", seq));
  return absl::FailedPreconditionError(absl::StrCat("outbox row ", seq, " is not parked"));
}

}  // namespace

absl::StatusOr<std::vector<ParkedRow>> ListParked(const std::string& database_url,
                                                  const std::string& schema, int limit) {
  ASSIGN_OR_RETURN(auto conn, Open(database_url, schema));
  std::vector<ParkedRow> rows;
  try {
    std::string outbox = absl::StrCat(conn->quote_name(schema), ".outbox");
    pqxx::nontransaction tx(*conn);
    for (const auto& r : tx.exec_params(
             absl::StrCat("SELECT o.seq, o.event_id, o.event_type, o.aggregate_type, o.aggregate_id, "
                          "coalesce(o.topic, ''), o.attempts, coalesce(o.last_error, ''), ",
                          Ts("o.created_at"), ", ", Ts("o.parked_at"),
                          ", octet_length(o.payload), (SELECT count(*) FROM ", outbox,
                          " b WHERE b.aggregate_id = o.aggregate_id AND b.seq > o.seq) FROM ", outbox,
                          " o WHERE o.parked_at IS NOT NULL ORDER BY o.seq LIMIT $1"),
             limit)) {
      ParkedRow p;
      p.seq = r[0].as<int64_t>();
      p.event_id = r[1].as<std::string>();
      p.event_type = r[2].as<std::string>();
      p.aggregate_type = r[3].as<std::string>();
      p.aggregate_id = r[4].as<std::string>();
      p.topic = r[5].as<std::string>();
      p.attempts = r[6].as<int>();
      p.last_error = r[7].as<std::string>();
      p.created_at = r[8].as<std::string>();
      p.parked_at = r[9].as<std::string>();
      p.payload_bytes = r[10].as<int64_t>();
      p.blocked_rows = r[11].as<int64_t>();
      rows.push_back(std::move(p));
    }
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "listing parked outbox rows");
  }
  return rows;
}

absl::Status RetryParked(const std::string& database_url, const std::string& schema, int64_t seq) {
  ASSIGN_OR_RETURN(auto conn, Open(database_url, schema));
  try {
    std::string outbox = absl::StrCat(conn->quote_name(schema), ".outbox");
    pqxx::work tx(*conn);
    pqxx::result r = tx.exec_params(absl::StrCat("UPDATE ", outbox,
                                                 " SET parked_at = NULL, attempts = 0, retries = "
                                                 "0, next_attempt_at = NULL WHERE seq = $1 AND "
                                                 "parked_at IS NOT NULL "
                                                 "RETURNING seq"),
                                    seq);
    if (r.empty()) return NotParked(tx, outbox, seq);
    tx.commit();
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, absl::StrCat("retrying outbox row ", seq));
  }
  // Wake the relays after the commit, never inside it (migrations/0007_outbox_doorbell.sql). A
  // lost NOTIFY only delays the row until the relays' fallback poll: not an error of the command.
  (void)NotifyOutboxRelays(*conn, schema);
  return absl::OkStatus();
}

absl::Status DropParked(const std::string& database_url, const std::string& schema, int64_t seq) {
  ASSIGN_OR_RETURN(auto conn, Open(database_url, schema));
  try {
    std::string outbox = absl::StrCat(conn->quote_name(schema), ".outbox");
    pqxx::work tx(*conn);
    pqxx::result r = tx.exec_params(
        absl::StrCat("DELETE FROM ", outbox, " WHERE seq = $1 AND parked_at IS NOT NULL RETURNING seq"),
        seq);
    if (r.empty()) return NotParked(tx, outbox, seq);
    tx.commit();
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, absl::StrCat("dropping outbox row ", seq));
  }
  // Rows of the aggregate that waited behind the dropped one can go now.
  (void)NotifyOutboxRelays(*conn, schema);
  return absl::OkStatus();
}

absl::StatusOr<OutboxStatus> GetOutboxStatus(const std::string& database_url,
                                             const std::string& schema) {
  ASSIGN_OR_RETURN(auto conn, Open(database_url, schema));
  OutboxStatus s;
  try {
    std::string outbox = absl::StrCat(conn->quote_name(schema), ".outbox");
    pqxx::nontransaction tx(*conn);
    pqxx::row r = tx.exec1(absl::StrCat(
        "SELECT count(*) FILTER (WHERE parked_at IS NULL), count(*) FILTER (WHERE parked_at IS NOT "
        "NULL), coalesce(extract(epoch FROM clock_timestamp() - min(created_at) FILTER (WHERE "
        "parked_at IS NULL)), 0)::float8 FROM ",
        outbox));
    s.backlog = r[0].as<int64_t>();
    s.parked = r[1].as<int64_t>();
    s.oldest_age_seconds = r[2].as<double>();
    if (tx.exec1("SELECT to_regclass('public.quoteflow_outbox_relays') IS NOT NULL")[0].as<bool>()) {
      for (const auto& row : tx.exec_params(
               absl::StrCat("SELECT relay_id, backend_pid, array_to_string(shards, ','), published, "
                            "parked, ",
                            Ts("started_at"), ", ", Ts("heartbeat_at"),
                            " FROM public.quoteflow_outbox_relays WHERE schema_name = $1 ORDER BY "
                            "relay_id"),
               schema)) {
        RelayReplica rr;
        rr.relay_id = row[0].as<std::string>();
        rr.backend_pid = row[1].as<int>();
        for (absl::string_view piece : absl::StrSplit(row[2].as<std::string>(), ',', absl::SkipEmpty())) {
          int shard = 0;
          if (absl::SimpleAtoi(piece, &shard)) rr.shards.push_back(shard);
        }
        rr.published = row[3].as<int64_t>();
        rr.parked = row[4].as<int64_t>();
        rr.started_at = row[5].as<std::string>();
        rr.heartbeat_at = row[6].as<std::string>();
        s.relays.push_back(std::move(rr));
      }
    }
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "reading outbox status");
  }
  return s;
}

int RunOutboxCommand(const std::vector<std::string>& args_in, const std::string& database_url,
                     const std::string& schema, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "outbox") args.erase(args.begin());
  const char* usage =
      "usage: outbox parked [LIMIT] | outbox retry SEQ | outbox drop SEQ | outbox stats\n";
  if (args.empty()) {
    err << usage;
    return 2;
  }
  const std::string& cmd = args[0];
  auto fail = [&](const absl::Status& s) {
    err << "outbox " << cmd << ": " << s.ToString() << "\n";
    return 1;
  };
  if (cmd == "parked" && args.size() <= 2) {
    int limit = 100;
    if (args.size() == 2 && (!absl::SimpleAtoi(args[1], &limit) || limit < 1)) {
      err << usage;
      return 2;
    }
    absl::StatusOr<std::vector<ParkedRow>> rows = ListParked(database_url, schema, limit);
    if (!rows.ok()) return fail(rows.status());
    out << "SEQ\tEVENT_TYPE\tAGGREGATE\tATTEMPTS\tBLOCKED\tPARKED_AT\tLAST_ERROR\n";
    for (const ParkedRow& p : *rows) {
      out << p.seq << "\t" << p.event_type << "\t" << p.aggregate_type << "/" << p.aggregate_id << "\t"
          << p.attempts << "\t" << p.blocked_rows << "\t" << p.parked_at << "\t" << p.last_error << "\n";
    }
    out << rows->size() << " parked row(s) in " << schema << ".outbox\n";
    return 0;
  }
  if ((cmd == "retry" || cmd == "drop") && args.size() == 2) {
    int64_t seq = 0;
    if (!absl::SimpleAtoi(args[1], &seq)) {
      err << usage;
      return 2;
    }
    absl::Status s = cmd == "retry" ? RetryParked(database_url, schema, seq)
                                    : DropParked(database_url, schema, seq);
    if (!s.ok()) return fail(s);
    out << (cmd == "retry" ? "row " : "dropped row ") << seq
        << (cmd == "retry" ? " is back in the queue\n" : "\n");
    return 0;
  }
  if (cmd == "stats" && args.size() == 1) {
    absl::StatusOr<OutboxStatus> s = GetOutboxStatus(database_url, schema);
    if (!s.ok()) return fail(s.status());
    out << schema << ".outbox backlog=" << s->backlog << " parked=" << s->parked
        << " oldest_unpublished_age_s=" << s->oldest_age_seconds << "\n";
    for (const RelayReplica& r : s->relays) {
      out << "relay " << r.relay_id << " pid=" << r.backend_pid << " shards=" << r.shards.size() << " ["
          << absl::StrJoin(r.shards, ",") << "] published=" << r.published << " parked=" << r.parked
          << " heartbeat_at=" << r.heartbeat_at << "\n";
    }
    return 0;
  }
  err << usage;
  return 2;
}

}  // namespace quoteflow::relay
