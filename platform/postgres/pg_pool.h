// A fixed-size pool of libpqxx connections shared by the threads of a server. Connections are
// opened lazily, set up with session settings (statement and idle-in-transaction timeouts) and an
// optional per-connection hook (e.g. to prepare statements), and replaced after they break, so a
// Postgres restart heals without restarting the process. Thread-safe.
#ifndef QUOTEFLOW_PLATFORM_POSTGRES_PG_POOL_H_
#define QUOTEFLOW_PLATFORM_POSTGRES_PG_POOL_H_

#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace quoteflow {

// Liveness of a connection's TCP link, on both ends (libpq's tcp_user_timeout and keepalives,
// unless the URL sets them, and the server's tcp_* settings of the session). Data unacknowledged
// for tcp_user_timeout, or keepalive probes unanswered (after keepalive_idle of silence, every
// keepalive_interval, 3 times), break the connection on either end. Without this, a silent
// partition (packets dropped, no RST) leaves a statement in the socket, and TCP delivers it once
// the network heals, long after the caller was told its call failed: the change is made anyway
// (chaos NetPartition.ApiToPostgres); and the server keeps a vanished client's session, with its
// advisory locks, for the system's 2 h keepalive (NetPartition.RelayToPostgres). Zero: the
// operating system's defaults (minutes to hours).
struct PgLinkLiveness {
  absl::Duration tcp_user_timeout = absl::Seconds(10);
  absl::Duration keepalive_idle = absl::Seconds(5);
  absl::Duration keepalive_interval = absl::Seconds(2);
};

// `url` with the client end of `liveness` as libpq URI parameters (those the URL names are kept).
std::string WithClientLiveness(std::string url, const PgLinkLiveness& liveness);

// The SET statements that give the server's end of a session the bounds of `liveness` ("" for
// none); run once per connection.
std::string ServerLivenessSql(const PgLinkLiveness& liveness);

struct PgPoolOptions {
  std::string database_url;
  int size = 16;
  absl::Duration statement_timeout = absl::Seconds(5);
  absl::Duration idle_in_transaction_timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(3);
  // A broken link fails the call UNAVAILABLE and the connection is replaced.
  PgLinkLiveness liveness;
  // Runs once on each new connection.
  std::function<void(pqxx::connection&)> on_connect;
};

class PgPool {
 public:
  // A borrowed connection; returns to the pool when destroyed. Call MarkBroken() after an error
  // that lost the connection, so that it is replaced.
  class Lease {
   public:
    // The moved-from lease gives nothing back to the pool when it goes.
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    void MarkBroken() { conn_.reset(); }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  explicit PgPool(PgPoolOptions options);

  // A connection, opening one if needed. DEADLINE_EXCEEDED when none frees up before `deadline`
  // (RESOURCE_EXHAUSTED if the pool is simply full), UNAVAILABLE when Postgres cannot be reached.
  absl::StatusOr<Lease> Acquire(absl::Time deadline);

  // Runs `work` with a connection; if it fails because the connection broke, the connection is
  // discarded. `work` must catch nothing from pqxx itself: exceptions are mapped with `what`.
  // Errors: whatever `work` returns, plus Acquire's.
  absl::Status Run(absl::Time deadline, absl::string_view what,
                   const std::function<absl::Status(pqxx::connection&)>& work);

  const PgPoolOptions& options() const { return options_; }

 private:
  void Release(std::unique_ptr<pqxx::connection> conn);
  // options_.database_url plus the TCP liveness parameters it does not set itself.
  std::string ConnectionUrl() const;
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open();

  PgPoolOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int leased_ ABSL_GUARDED_BY(mu_) = 0;  // connections handed out
};

// Opens one connection outside any pool (CLI tools, relays). UNAVAILABLE on failure.
absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenPgConnection(const std::string& url,
                                                                   absl::Duration connect_timeout);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_POSTGRES_PG_POOL_H_
