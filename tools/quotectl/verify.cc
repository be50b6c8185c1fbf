#include "tools/quotectl/verify.h"

#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "platform/postgres/pg_errors.h"

namespace quoteflow::quotectl {
namespace {

struct Check {
  const char* name;
  // Returns rows (entity, detail). $1 = the stuck-after interval in seconds.
  const char* sql;
};

// Every query returns (entity text, detail text). The interval parameter is seconds (float8).
constexpr Check kChecks[] = {
    {"issued_without_one_active_policy",
     "SELECT q.quote_id,"
     "       'quote ISSUED with ' || count(p.policy_id) FILTER (WHERE p.status = 'ACTIVE')"
     "       || ' ACTIVE policies (customer ' || q.customer_id || ')'"
     "  FROM quote.quotes q LEFT JOIN policy.policies p ON p.quote_id = q.quote_id"
     " WHERE q.status = 'ISSUED'"
     " GROUP BY q.quote_id, q.customer_id"
     " HAVING count(p.policy_id) FILTER (WHERE p.status = 'ACTIVE') <> 1"
     " ORDER BY q.quote_id"},
    {"active_policy_quote_state",
     "SELECT p.policy_id,"
     "       'policy ACTIVE but its quote ' || p.quote_id || ' is '"
     "       || coalesce(q.status, 'missing')"
     "  FROM policy.policies p LEFT JOIN quote.quotes q ON q.quote_id = p.quote_id"
     " WHERE p.status = 'ACTIVE'"
     "   AND (q.quote_id IS NULL OR q.status NOT IN ('ISSUED', 'APPROVED', 'REJECTED'))"
     " ORDER BY p.policy_id"},
    {"rejected_with_active_policy",
     "SELECT q.quote_id,"
     "       'quote REJECTED (' || q.rejection_reason || ') but policy ' || p.policy_id"
     "       || ' is ACTIVE'"
     "  FROM quote.quotes q JOIN policy.policies p ON p.quote_id = q.quote_id"
     " WHERE q.status = 'REJECTED' AND p.status = 'ACTIVE'"
     " ORDER BY q.quote_id"},
    {"stuck_approved",
     "SELECT q.quote_id,"
     "       'quote APPROVED since ' || to_char(q.updated_at AT TIME ZONE 'UTC',"
     "       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' (' || floor(extract(epoch FROM now() -"
     "       q.updated_at))::bigint || ' s): its saga did not complete'"
     "  FROM quote.quotes q"
     " WHERE q.status = 'APPROVED' AND q.updated_at < now() - make_interval(secs => $1)"
     " ORDER BY q.updated_at, q.quote_id"},
    {"policy_count_mismatch",
     "SELECT c.customer_id,"
     "       'policy_count ' || c.policy_count || ' but ' || count(pc.policy_id)"
     "       || ' policies COUNTED'"
     "  FROM customer.customers c"
     "  LEFT JOIN customer.policy_counts pc"
     "    ON pc.customer_id = c.customer_id AND pc.status = 'COUNTED'"
     " GROUP BY c.customer_id, c.policy_count"
     " HAVING c.policy_count <> count(pc.policy_id)"
     " ORDER BY c.customer_id"},
    {"issued_policy_not_counted",
     "SELECT p.policy_id,"
     "       'policy ACTIVE for ISSUED quote ' || q.quote_id || ' but '"
     "       || coalesce(pc.status, 'unknown') || ' for customer ' || p.customer_id"
     "  FROM policy.policies p"
     "  JOIN quote.quotes q ON q.quote_id = p.quote_id"
     "  LEFT JOIN customer.policy_counts pc ON pc.policy_id = p.policy_id"
     " WHERE p.status = 'ACTIVE' AND q.status = 'ISSUED'"
     "   AND (pc.policy_id IS NULL OR pc.status <> 'COUNTED')"
     " ORDER BY p.policy_id"},
    {"counted_policy_not_active",
     "SELECT pc.policy_id,"
     "       'policy COUNTED for customer ' || pc.customer_id || ' but it is '"
     "       || coalesce(p.status, 'missing')"
     "  FROM customer.policy_counts pc"
     "  LEFT JOIN policy.policies p ON p.policy_id = pc.policy_id"
     " WHERE pc.status = 'COUNTED' AND (p.policy_id IS NULL OR p.status <> 'ACTIVE')"
     "   AND pc.updated_at < now() - make_interval(secs => $1)"
     "   AND (p.updated_at IS NULL OR p.updated_at < now() - make_interval(secs => $1))"
     " ORDER BY pc.policy_id"},
};

int Usage(std::ostream& err, const std::string& message) {
  err << "quotectl verify: " << message
      << "\nusage: quotectl [--database-url URL] verify [--stuck-after=5m] [--max-print=100]\n";
  return 2;
}

}  // namespace

absl::StatusOr<VerifyReport> Verify(const std::string& database_url, const VerifyOptions& options) {
  VerifyReport report;
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(database_url);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot connect to Postgres: ", e.what()));
  }
  try {
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(
        *conn);
    tx.exec("SET LOCAL statement_timeout = '60s'");
    pqxx::row counts = tx.exec1(
        "SELECT (SELECT count(*) FROM quote.quotes), (SELECT count(*) FROM policy.policies),"
        "       (SELECT count(*) FROM customer.customers)");
    report.quotes = counts[0].as<int64_t>();
    report.policies = counts[1].as<int64_t>();
    report.customers = counts[2].as<int64_t>();
    const double stuck_s = absl::ToDoubleSeconds(options.stuck_after);
    for (const Check& check : kChecks) {
      const std::string sql = check.sql;
      pqxx::result rows =
          sql.find("$1") != std::string::npos ? tx.exec_params(sql, stuck_s) : tx.exec(sql);
      report.by_check[check.name] = static_cast<int64_t>(rows.size());
      for (const pqxx::row& row : rows) {
        report.problems.push_back({check.name, row[0].as<std::string>(),
                                   row[1].is_null() ? "" : row[1].as<std::string>()});
      }
    }
    tx.commit();
  } catch (const pqxx::undefined_table& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("a service table is missing (run `quotectl migrate`): ", e.what()));
  } catch (const std::exception& e) {
    return StatusFromPqxx(e, "auditing the saga's aggregates");
  }
  return report;
}

int RunVerifyCommand(const std::vector<std::string>& args, const std::string& database_url,
                     std::ostream& out, std::ostream& err) {
  VerifyOptions options;
  for (size_t i = 1; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    std::string value;
    auto take = [&](absl::string_view flag) {
      if (!absl::ConsumePrefix(&arg, flag)) return false;
      if (absl::ConsumePrefix(&arg, "=")) {
        value = std::string(arg);
        return true;
      }
      if (!arg.empty() || i + 1 >= args.size()) return false;
      value = args[++i];
      return true;
    };
    if (take("--stuck-after")) {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
        return Usage(err, absl::StrCat("--stuck-after: '", value, "' is not a duration like 5m"));
      }
      options.stuck_after = d;
    } else if (take("--max-print")) {
      if (!absl::SimpleAtoi(value, &options.max_print) || options.max_print < 0) {
        return Usage(err, absl::StrCat("--max-print: '", value, "' is not a count"));
      }
    } else {
      return Usage(err, absl::StrCat("unknown argument '", args[i], "'"));
    }
  }
  absl::StatusOr<VerifyReport> report = Verify(database_url, options);
  if (!report.ok()) {
    err << "quotectl verify: " << report.status().message() << "\n";
    return 1;
  }
  std::map<std::string, int> printed;
  for (const Inconsistency& p : report->problems) {
    if (printed[p.check]++ < options.max_print) {
      out << p.check << ": " << p.entity << ": " << p.detail << "\n";
    }
  }
  for (const auto& [check, n] : report->by_check) {
    if (n > options.max_print) {
      out << check << ": ... and " << (n - options.max_print) << " more\n";
    }
  }
  std::vector<std::string> nonzero;
  for (const auto& [check, n] : report->by_check) {
    if (n > 0) nonzero.push_back(absl::StrCat(check, "=", n));
  }
  out << "verify: " << report->problems.size() << " inconsistencies"
      << (nonzero.empty() ? "" : absl::StrCat(" (", absl::StrJoin(nonzero, ", "), ")")) << " in "
      << report->quotes << " quotes, " << report->policies << " policies, " << report->customers
      << " customers (stuck after " << absl::FormatDuration(options.stuck_after) << ")\n";
  return report->problems.empty() ? 0 : 1;
}

}  // namespace quoteflow::quotectl
