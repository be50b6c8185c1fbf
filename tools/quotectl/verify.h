// `quotectl verify`: a consistency audit of the saga's aggregates across the quote, policy and
// customer schemas, read in ONE repeatable-read, read-only transaction (a consistent snapshot; it
// takes no locks that writers wait for). It assumes the three schemas are reachable through one
// --database-url (one database, a schema per service, as deployed here).
//
// Checks (the name prefixes each reported line):
//   issued_without_one_active_policy   an ISSUED quote without exactly one ACTIVE policy
//   active_policy_quote_state          an ACTIVE policy whose quote is missing or DRAFT
//   rejected_with_active_policy        a REJECTED quote with an ACTIVE policy
//   stuck_approved                     a quote APPROVED longer than --stuck-after (default 5m): its
//                                      saga did not complete (I5)
//   policy_count_mismatch              a customer whose policy_count differs from its COUNTED rows
//                                      in customer.policy_counts
//   issued_policy_not_counted          the ACTIVE policy of an ISSUED quote not COUNTED for its
//                                      customer
//   counted_policy_not_active          a COUNTED policy that is missing or not ACTIVE (only rows
//                                      last changed before --stuck-after: a cancellation in flight
//                                      is not reported)
//
// Usage: quotectl [--database-url URL] verify [--stuck-after=DURATION] [--max-print=N]
// Output: one line per inconsistency (at most --max-print, default 100, per check), then a summary
// line. Exit codes: 0 no inconsistency; 1 inconsistencies found, or the audit could not run (the
// error on stderr); 2 usage error.
//
// Thread-safety: stateless functions; each call opens its own connection.
#ifndef QUOTEFLOW_TOOLS_QUOTECTL_VERIFY_H_
#define QUOTEFLOW_TOOLS_QUOTECTL_VERIFY_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quoteflow::quotectl {

struct VerifyOptions {
  absl::Duration stuck_after = absl::Minutes(5);
  int max_print = 100;  // lines printed per check
};

struct Inconsistency {
  std::string check;   // e.g. "stuck_approved"
  std::string entity;  // the quote, policy or customer id
  std::string detail;  // human-readable
};

struct VerifyReport {
  std::vector<Inconsistency> problems;
  int64_t quotes = 0;  // rows examined
  int64_t policies = 0;
  int64_t customers = 0;
  // Problems per check (every check present, 0 included).
  std::map<std::string, int64_t> by_check;
};

// Runs every check. Errors: UNAVAILABLE when Postgres cannot be reached; FAILED_PRECONDITION when
// a schema or table is missing (run `quotectl migrate`); INTERNAL for other database errors.
absl::StatusOr<VerifyReport> Verify(const std::string& database_url, const VerifyOptions& options);

// The command: `args` = {"verify", flags...}. Returns the exit code (see above).
int RunVerifyCommand(const std::vector<std::string>& args, const std::string& database_url,
                     std::ostream& out, std::ostream& err);

}  // namespace quoteflow::quotectl

#endif  // QUOTEFLOW_TOOLS_QUOTECTL_VERIFY_H_
