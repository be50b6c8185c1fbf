#include "platform/postgres/outbox_doorbell.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "platform/observability/log.h"
#include "platform/postgres/pg_errors.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow {
namespace {
constexpr char kNotifyStatement[] = "quoteflow_outbox_doorbell";
}  // namespace

std::string OutboxChannel(absl::string_view schema) { return absl::StrCat(schema, "_outbox"); }

absl::Status NotifyOutboxRelays(pqxx::connection_base& conn, absl::string_view schema) {
  try {
    // One statement outside any explicit transaction: its own transaction. The local setting is
    // still in force when that transaction commits, so the commit does not wait for its WAL flush
    // (a NOTIFY lost in a crash only delays a relay until its poll).
    pqxx::nontransaction tx(conn);
    tx.exec_params("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')",
                   OutboxChannel(schema));
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, absl::StrCat("notifying the ", schema, " outbox relays"));
  }
  return absl::OkStatus();
}

PgOutboxDoorbell::PgOutboxDoorbell(PgOutboxDoorbellOptions options)
    : options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

PgOutboxDoorbell::~PgOutboxDoorbell() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  thread_.join();
}

void PgOutboxDoorbell::HandToThread() {
  if (!pending_) {
    pending_ = true;
    cv_.Signal();
  }
}

void PgOutboxDoorbell::Ring() {
  ++stats_.rings;
  absl::MutexLock lock(&mu_);
  HandToThread();
}

absl::Status PgOutboxDoorbell::RingOn(pqxx::connection_base& conn) {
  ++stats_.rings;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (pending_ || now < last_send_ + options_.min_interval) {
      HandToThread();
      return absl::OkStatus();
    }
    last_send_ = now;  // claimed: the thread sends no other before the interval is over
  }
  absl::Status s = NotifyOutboxRelays(conn, options_.schema);
  if (s.ok()) {
    ++stats_.notifies;
    return s;
  }
  // The thread's own connection tries (its send is due an interval after the claim).
  absl::MutexLock lock(&mu_);
  HandToThread();
  return IsConnectionLoss(s) ? s : absl::OkStatus();
}

void PgOutboxDoorbell::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!pending_ && !stop_) cv_.Wait(&mu_);
      if (!pending_) return;  // stopping, nothing to send
      // Coalesce: at most one NOTIFY per min_interval, counting RingOn's (not waited out when
      // stopping). A RingOn may claim a send meanwhile: the deadline is read again each time.
      while (!stop_ && absl::Now() < last_send_ + options_.min_interval) {
        cv_.WaitWithDeadline(&mu_, last_send_ + options_.min_interval);
      }
      // Cleared before sending: a ring from now on gets a NOTIFY that starts after it.
      pending_ = false;
      last_send_ = absl::Now();
    }
    Send();
  }
}

void PgOutboxDoorbell::Send() {
  if (conn_ == nullptr) {
    if (absl::Now() < reconnect_at_) {
      ++stats_.dropped;
      return;
    }
    absl::StatusOr<std::unique_ptr<pqxx::connection>> conn =
        OpenPgConnection(options_.database_url, options_.connect_timeout);
    if (conn.ok()) {
      try {
        // Every statement of this session is a NOTIFY in its own transaction: none waits for its
        // commit's WAL flush, and the statement is parsed and planned once.
        pqxx::nontransaction tx(**conn);
        tx.exec("SET synchronous_commit = off; SET statement_timeout = 2000");
        (*conn)->prepare(kNotifyStatement, "SELECT pg_notify($1, '')");
        conn_ = *std::move(conn);
      } catch (const std::exception& e) {
        conn = StatusFromPqxx(e, "setting up the outbox doorbell's connection");
      }
    }
    if (!conn.ok()) {
      ++stats_.dropped;
      reconnect_at_ = absl::Now() + options_.retry_after;
      log::Warn("outbox doorbell: cannot connect; relays fall back to polling",
                {{"schema", options_.schema}, {"error", conn.status().ToString()}});
      return;
    }
  }
  absl::Status s;
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec_prepared(kNotifyStatement, OutboxChannel(options_.schema));
  } catch (const std::exception& e) {
    s = StatusFromPqxx(e, absl::StrCat("notifying the ", options_.schema, " outbox relays"));
  }
  if (!s.ok()) {
    ++stats_.dropped;
    conn_.reset();
    reconnect_at_ = absl::Now() + options_.retry_after;
    log::Warn("outbox doorbell: NOTIFY failed; relays fall back to polling",
              {{"schema", options_.schema}, {"error", s.ToString()}});
    return;
  }
  ++stats_.notifies;
}

}  // namespace quoteflow
