#include "platform/postgres/migrations.h"

#include <algorithm>
#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"
#include "platform/postgres/pg_errors.h"
#include "platform/postgres/pg_pool.h"

namespace quoteflow {
namespace {

// Arbitrary constant: the advisory lock every migration runner takes.
constexpr int64_t kMigrationLockKey = 0x71666d6967;  // "qfmig"

struct Applied {
  std::string name;
  std::string checksum;
};

std::map<int, Applied> ReadApplied(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  std::map<int, Applied> applied;
  pqxx::result exists = tx.exec("SELECT to_regclass('public.quoteflow_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return applied;
  for (const auto& row :
       tx.exec("SELECT version, name, checksum FROM public.quoteflow_migrations")) {
    applied[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return applied;
}

std::string Md5(pqxx::connection& conn, const char* sql) {
  pqxx::nontransaction tx(conn);
  return tx.exec_params("SELECT md5($1)", sql)[0][0].as<std::string>();
}

// Compares the recorded migrations with `files`; fills `pending`.
absl::Status Compare(pqxx::connection& conn, const std::map<int, Applied>& applied,
                     std::span<const MigrationFile> files,
                     std::vector<const MigrationFile*>* pending, MigrationReport* report) {
  std::map<int, const MigrationFile*> known;
  for (const MigrationFile& f : files) known[f.version] = &f;
  for (const auto& [version, a] : applied) {
    if (!known.count(version)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database has migration ", a.name,
                       " which this binary does not know; it is older "
                       "than the schema, upgrade it"));
    }
  }
  for (const MigrationFile& f : files) {
    auto it = applied.find(f.version);
    if (it == applied.end()) {
      pending->push_back(&f);
      continue;
    }
    if (Md5(conn, f.sql) != it->second.checksum) {
      return absl::FailedPreconditionError(
          absl::StrCat("migration ", f.name,
                       " was edited after it was applied (its md5 differs from the one "
                       "recorded in public.quoteflow_migrations); restore the applied text and put "
                       "the change in "
                       "a new migration"));
    }
    report->already_applied.push_back(f.name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& database_url,
                                                std::span<const MigrationFile> files) {
  ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn,
                   OpenPgConnection(database_url, absl::Seconds(5)));
  MigrationReport report;
  try {
    {
      pqxx::nontransaction tx(*conn);
      tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS public.quoteflow_migrations ("
          " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
    }
    std::vector<const MigrationFile*> pending;
    RETURN_IF_ERROR(Compare(*conn, ReadApplied(*conn), files, &pending, &report));
    for (const MigrationFile* f : pending) {
      try {
        pqxx::work tx(*conn);
        tx.exec(f->sql);
        tx.exec_params(
            "INSERT INTO public.quoteflow_migrations (version, name, checksum) VALUES ($1, $2, "
            "md5($3))",
            f->version, f->name, f->sql);
        tx.commit();
      } catch (const pqxx::sql_error& e) {
        return absl::InternalError(absl::StrCat("migration ", f->name, " failed: ", e.what()));
      }
      log::Info("migration applied", {{"migration", f->name}});
      report.applied.push_back(f->name);
    }
    pqxx::nontransaction tx(*conn);
    tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "applying migrations");
  }
  return report;
}

absl::Status ApplyMigrations(const std::string& database_url) {
  return ApplyMigrations(database_url, EmbeddedMigrations()).status();
}

absl::Status CheckMigrations(const std::string& database_url) {
  ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn,
                   OpenPgConnection(database_url, absl::Seconds(5)));
  try {
    std::vector<const MigrationFile*> pending;
    MigrationReport report;
    RETURN_IF_ERROR(Compare(*conn, ReadApplied(*conn), EmbeddedMigrations(), &pending, &report));
    if (!pending.empty()) {
      std::vector<std::string> names;
      for (const MigrationFile* f : pending) names.push_back(f->name);
      return absl::FailedPreconditionError(
          absl::StrCat("the database schema is not current: pending migrations ",
                       absl::StrJoin(names, ", "), "; run `quotectl migrate`"));
    }
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "checking migrations");
  }
  return absl::OkStatus();
}

absl::Status PrepareSchema(const std::string& database_url, bool migrate, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    absl::Status s = migrate ? ApplyMigrations(database_url) : CheckMigrations(database_url);
    if (s.code() != absl::StatusCode::kUnavailable || absl::Now() + backoff > deadline) return s;
    log::Warn("waiting for Postgres", {{"error", s.ToString()}});
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

}  // namespace quoteflow
