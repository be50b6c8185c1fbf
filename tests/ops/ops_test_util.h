// Helpers of the operators' kit e2e tests (ops_kit_e2e_test, ops_kit_orchestration_e2e_test):
//
//  - HttpGet(): a plain HTTP GET of a process's /metrics, /healthz or /readyz.
//  - MetricNames() / WriteScrapedMetricNames(): the metric names a live /metrics exposition
//    carries, written as "<binary> <metric name>" lines for tests/ops/promql_check.py, which
//    checks that every name the alert rules and the dashboard read is really exported.
//  - ParseRunbook() / RunbookRunner: the commands of docs/runbook.md. A block fenced as
//    "```sh tested=<mode>[,<mode>...]:<name>" is a test step: the runner executes it with
//    `bash -c 'set -euo pipefail; ...'` (stderr merged into stdout, under coreutils' timeout) and
//    the environment the test gives, so the document and the tests cannot drift apart. NotRun()
//    lists the blocks of the runner's mode that no test executed.
//
// Thread-safety: RunbookRunner is not thread-safe (one test thread); the functions are.
#ifndef QUOTEFLOW_TESTS_OPS_OPS_TEST_UTIL_H_
#define QUOTEFLOW_TESTS_OPS_OPS_TEST_UTIL_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quoteflow::ops_testing {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET `path` from 127.0.0.1:`port` over HTTP/1.0 (5 s socket timeout); nullopt when the
// connection fails or the answer is not HTTP.
std::optional<HttpResponse> HttpGet(int port, const std::string& path);

// The value of the sample `series` (metric name plus label set exactly as exposed, e.g.
// `quoteflow_outbox_parked_rows` or `x{a="b"}`), if the exposition has it.
std::optional<double> Sample(absl::string_view exposition, absl::string_view series);

// The metric names of a Prometheus text exposition: every sample's name (histograms: the _bucket,
// _sum and _count samples) and every name of a `# TYPE` line.
std::set<std::string> MetricNames(absl::string_view exposition);

// Writes "<binary> <metric name>" lines (sorted) for each (binary, exposition) to `path`, after a
// comment line saying what the file is; replaces the file atomically (write, then rename).
// INTERNAL when the file cannot be written.
absl::Status WriteScrapedMetricNames(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& scrapes);

struct RunbookBlock {
  std::string name;
  std::vector<std::string> modes;
  std::string script;
  int line = 0;  // of the opening fence, 1-based
};

// The tested blocks of a runbook in Markdown. INVALID_ARGUMENT (naming the line) for an `sh` block
// without a well-formed `tested=<modes>:<name>` tag, a duplicate name, or an unclosed fence.
absl::StatusOr<std::vector<RunbookBlock>> ParseRunbook(absl::string_view markdown);

struct BlockResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

class RunbookRunner {
 public:
  // Reads and parses `runbook_path`; `mode` selects the blocks this runner owns; `env` is given
  // to every block (DATABASE_URL, QUOTECTL, ...). Call ok() before use.
  RunbookRunner(const std::string& runbook_path, std::string mode,
                std::vector<std::pair<std::string, std::string>> env);

  // OK when the runbook was read and parsed, else why not.
  const absl::Status& status() const { return status_; }

  // Runs block `name` with the runner's environment plus `extra` (which wins) and waits for it
  // (`timeout`). NOT_FOUND for an unknown block, FAILED_PRECONDITION for a block of another mode,
  // DEADLINE_EXCEEDED when it did not finish (it is stopped, with every process it started; a
  // block that itself exits 124 reads as this too), errors of starting bash.
  absl::StatusOr<BlockResult> Run(
      const std::string& name, const std::vector<std::pair<std::string, std::string>>& extra = {},
      absl::Duration timeout = absl::Seconds(120));

  // The blocks of this runner's mode that Run() never started.
  std::vector<std::string> NotRun() const;
  // The text of block `name` ("" when unknown), for failure messages.
  std::string Script(const std::string& name) const;

 private:
  std::string mode_;
  std::vector<std::pair<std::string, std::string>> env_;
  absl::Status status_;
  std::map<std::string, RunbookBlock> blocks_;
  std::set<std::string> run_;
};

}  // namespace quoteflow::ops_testing

#endif  // QUOTEFLOW_TESTS_OPS_OPS_TEST_UTIL_H_
