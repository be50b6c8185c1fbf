// `.quoteflow/local.env`: the addresses of a running local system, in shell syntax, for humans
// (`source .quoteflow/local.env`) and for scripts and tests (ParseLocalEnv, or any `KEY=value`
// reader after stripping `export `). Format, one variable per line:
//
//   # comment lines
//   export KEY=value            (value single-quoted only if it holds characters the shell expands)
//   ...
//   export PATH="$PATH:/abs/.quoteflow/bin"     (always the last line; appended, so a real grpcurl
//                                                on PATH wins over the shim in .quoteflow/bin)
//
// The file is written atomically (a temporary file in the same directory, fsync, rename), so a
// reader sees either no file or the whole file.
//
// Thread-safety: stateless functions, thread-safe.
#ifndef QUOTEFLOW_TOOLS_LOCAL_LOCAL_ENV_H_
#define QUOTEFLOW_TOOLS_LOCAL_LOCAL_ENV_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace quoteflow::local {

// The file's text: `comment` lines (each prefixed with "# "), then `export KEY=value` for each of
// `vars` in order, then the PATH line appending `bin_dir`.
std::string FormatLocalEnv(const std::vector<std::string>& comment,
                           const std::vector<std::pair<std::string, std::string>>& vars,
                           const std::string& bin_dir);

// Quotes `value` for a POSIX shell when needed ('...' with embedded quotes as '\'').
std::string ShellQuote(absl::string_view value);

// Parses text written by FormatLocalEnv (comments and blank lines skipped, `export ` optional,
// single quotes removed). PATH is returned as written (e.g. "$PATH:/x/bin", without the double
// quotes). INVALID_ARGUMENT naming the line for anything else.
absl::StatusOr<std::map<std::string, std::string>> ParseLocalEnv(absl::string_view text);

// Writes `content` to `path` through `path`.tmp + fsync + rename. Errors: the errno of the failed
// step as an absl status (PERMISSION_DENIED, NOT_FOUND for a missing directory, ...).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

}  // namespace quoteflow::local

#endif  // QUOTEFLOW_TOOLS_LOCAL_LOCAL_ENV_H_
