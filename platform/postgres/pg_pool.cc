#include "platform/postgres/pg_pool.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "platform/config/config.h"
#include "platform/postgres/pg_errors.h"

namespace quoteflow {

absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenPgConnection(const std::string& url,
                                                                   absl::Duration connect_timeout) {
  std::string full = url;
  if (!absl::StrContains(full, "connect_timeout")) {
    absl::StrAppend(&full, absl::StrContains(full, "?") ? "&" : "?", "connect_timeout=",
                    std::max<int64_t>(1, absl::ToInt64Seconds(connect_timeout)));
  }
  try {
    return std::make_unique<pqxx::connection>(full);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", RedactSecrets(url), ": ", e.what()));
  }
}

PgPool::PgPool(PgPoolOptions options) : options_(std::move(options)) {}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(std::move(conn_));
}

namespace {

// `url` with `key=value` added as a URI query parameter, unless it already names `key`.
std::string WithParameter(std::string url, absl::string_view key, int64_t value) {
  if (absl::StrContains(url, absl::StrCat(key, "="))) return url;
  absl::StrAppend(&url, absl::StrContains(url, "?") ? "&" : "?", key, "=", value);
  return url;
}

int64_t WholeSeconds(absl::Duration d) { return std::max<int64_t>(1, absl::ToInt64Seconds(d)); }

}  // namespace

std::string WithClientLiveness(std::string url, const PgLinkLiveness& liveness) {
  if (liveness.tcp_user_timeout > absl::ZeroDuration()) {
    url = WithParameter(url, "tcp_user_timeout",
                        absl::ToInt64Milliseconds(liveness.tcp_user_timeout));
  }
  if (liveness.keepalive_idle > absl::ZeroDuration()) {
    url = WithParameter(url, "keepalives", 1);
    url = WithParameter(url, "keepalives_idle", WholeSeconds(liveness.keepalive_idle));
    url = WithParameter(url, "keepalives_interval", WholeSeconds(liveness.keepalive_interval));
    url = WithParameter(url, "keepalives_count", 3);
  }
  return url;
}

std::string ServerLivenessSql(const PgLinkLiveness& liveness) {
  std::string sql;
  if (liveness.tcp_user_timeout > absl::ZeroDuration()) {
    absl::StrAppend(&sql,
                    "SET tcp_user_timeout = ", absl::ToInt64Milliseconds(liveness.tcp_user_timeout),
                    "; ");
  }
  if (liveness.keepalive_idle > absl::ZeroDuration()) {
    absl::StrAppend(&sql, "SET tcp_keepalives_idle = ", WholeSeconds(liveness.keepalive_idle),
                    "; SET tcp_keepalives_interval = ", WholeSeconds(liveness.keepalive_interval),
                    "; SET tcp_keepalives_count = 3; ");
  }
  return sql;
}

std::string PgPool::ConnectionUrl() const {
  return WithClientLiveness(options_.database_url, options_.liveness);
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Open() {
  auto conn = OpenPgConnection(ConnectionUrl(), options_.connect_timeout);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::nontransaction tx(**conn);
    tx.exec(absl::StrCat(
        "SET statement_timeout = ", absl::ToInt64Milliseconds(options_.statement_timeout),
        "; SET idle_in_transaction_session_timeout = ",
        absl::ToInt64Milliseconds(options_.idle_in_transaction_timeout), "; ",
        ServerLivenessSql(options_.liveness)));
    tx.commit();
    if (options_.on_connect) options_.on_connect(**conn);
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "setting up a database connection");
  }
  return conn;
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire(absl::Time deadline) {
  std::unique_ptr<pqxx::connection> conn;
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || leased_ + static_cast<int>(idle_.size()) < options_.size;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "all ", options_.size, " database connections stayed busy until the deadline"));
    }
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    ++leased_;
  }
  if (conn == nullptr) {
    auto opened = Open();
    if (!opened.ok()) {
      absl::MutexLock lock(&mu_);
      --leased_;
      return opened.status();
    }
    conn = std::move(*opened);
  }
  return Lease(this, std::move(conn));
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn) {
  absl::MutexLock lock(&mu_);
  --leased_;
  if (conn != nullptr && conn->is_open()) idle_.push_back(std::move(conn));
}

absl::Status PgPool::Run(absl::Time deadline, absl::string_view what,
                         const std::function<absl::Status(pqxx::connection&)>& work) {
  auto lease = Acquire(deadline);
  if (!lease.ok()) return lease.status();
  absl::Status status;
  try {
    status = work(**lease);
  } catch (const std::exception& e) {
    status = StatusFromPqxx(e, what);
  }
  if (IsConnectionLoss(status)) lease->MarkBroken();
  return status;
}

}  // namespace quoteflow
