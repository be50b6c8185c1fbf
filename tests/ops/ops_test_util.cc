#include "tests/ops/ops_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "platform/process/child_process.h"

namespace quoteflow::ops_testing {

std::optional<HttpResponse> HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return std::nullopt;
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return std::nullopt;
  }
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) raw.append(buf, n);
  close(fd);
  const size_t header_end = raw.find("\r\n\r\n");
  HttpResponse response;
  std::vector<std::string> status_line = absl::StrSplit(raw.substr(0, raw.find("\r\n")), ' ');
  if (header_end == std::string::npos || status_line.size() < 2 ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return std::nullopt;
  }
  response.body = raw.substr(header_end + 4);
  return response;
}

std::optional<double> Sample(absl::string_view exposition, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return std::nullopt;
}

std::set<std::string> MetricNames(absl::string_view exposition) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(exposition, '\n', absl::SkipWhitespace())) {
    if (absl::ConsumePrefix(&line, "# TYPE ")) {
      names.insert(std::string(line.substr(0, line.find(' '))));
    } else if (!absl::StartsWith(line, "#")) {
      names.insert(std::string(line.substr(0, line.find_first_of("{ "))));
    }
  }
  return names;
}

absl::Status WriteScrapedMetricNames(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& scrapes) {
  std::set<std::string> lines;
  for (const auto& [binary, exposition] : scrapes) {
    for (const std::string& name : MetricNames(exposition)) {
      lines.insert(absl::StrCat(binary, " ", name));
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "# Metric names from live /metrics scrapes (<binary> <name>), written by a "
           "tests/ops e2e test at "
        << absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()) << "\n";
    for (const std::string& line : lines) out << line << "\n";
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RunbookBlock>> ParseRunbook(absl::string_view markdown) {
  std::vector<RunbookBlock> blocks;
  std::set<std::string> names;
  std::optional<RunbookBlock> open;  // a tested block being read
  bool in_other_fence = false;       // inside a fence that is not a tested block
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    ++line_no;
    const bool fence = absl::StartsWith(line, "```");
    // CommonMark: a closing fence is backticks only (an info string makes it content).
    const absl::string_view bare = absl::StripTrailingAsciiWhitespace(line);
    const bool closing = fence && bare.find_first_not_of('`') == absl::string_view::npos;
    if (open.has_value()) {
      if (closing) {
        blocks.push_back(*std::move(open));
        open.reset();
      } else {
        absl::StrAppend(&open->script, line, "\n");
      }
      continue;
    }
    if (in_other_fence) {
      if (closing) in_other_fence = false;
      continue;
    }
    if (!fence) continue;
    std::vector<absl::string_view> info =
        absl::StrSplit(absl::StripAsciiWhitespace(line.substr(3)), ' ', absl::SkipWhitespace());
    if (info.empty() || info[0] != "sh") {
      in_other_fence = true;
      continue;
    }
    absl::string_view tag = info.size() == 2 ? info[1] : "";
    if (!absl::ConsumePrefix(&tag, "tested=") || tag.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_no, ": an sh block needs a tag tested=<modes>:<name>, got '", line, "'"));
    }
    RunbookBlock block;
    block.line = line_no;
    block.name = std::string(tag.substr(tag.find(':') + 1));
    block.modes = absl::StrSplit(tag.substr(0, tag.find(':')), ',', absl::SkipEmpty());
    if (block.name.empty() || block.modes.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": empty mode or name in '", line, "'"));
    }
    if (!names.insert(block.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": a second block named ", block.name));
    }
    open = std::move(block);
  }
  if (open.has_value() || in_other_fence) {
    return absl::InvalidArgumentError("the runbook ends inside a fenced block");
  }
  return blocks;
}

RunbookRunner::RunbookRunner(const std::string& runbook_path, std::string mode,
                             std::vector<std::pair<std::string, std::string>> env)
    : mode_(std::move(mode)), env_(std::move(env)) {
  std::ifstream in(runbook_path);
  if (!in) {
    status_ = absl::NotFoundError(absl::StrCat("cannot read ", runbook_path));
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<RunbookBlock>> blocks = ParseRunbook(text.str());
  if (!blocks.ok()) {
    status_ =
        absl::InvalidArgumentError(absl::StrCat(runbook_path, ": ", blocks.status().message()));
    return;
  }
  for (RunbookBlock& b : *blocks) blocks_[b.name] = std::move(b);
}

absl::StatusOr<BlockResult> RunbookRunner::Run(
    const std::string& name, const std::vector<std::pair<std::string, std::string>>& extra,
    absl::Duration timeout) {
  if (!status_.ok()) return status_;
  auto it = blocks_.find(name);
  if (it == blocks_.end()) {
    return absl::NotFoundError(absl::StrCat("the runbook has no block tested=...:", name));
  }
  const RunbookBlock& block = it->second;
  if (std::find(block.modes.begin(), block.modes.end(), mode_) == block.modes.end()) {
    return absl::FailedPreconditionError(absl::StrCat("block ", name, " is tested in mode(s) ",
                                                      absl::StrJoin(block.modes, ","), ", not ",
                                                      mode_));
  }
  run_.insert(name);
  std::vector<std::pair<std::string, std::string>> env = env_;
  env.insert(env.end(), extra.begin(), extra.end());
  // coreutils' timeout runs bash in a process group of its own and, at the deadline, signals the
  // whole group (the block's commands too, not only bash), SIGKILL 5 s later if still needed.
  auto child = process::ChildProcess::Start(
      {.path = "/usr/bin/timeout",
       .args = {"--kill-after=5", absl::StrCat(absl::ToDoubleSeconds(timeout), "s"), "/bin/bash",
                "-c", absl::StrCat("set -euo pipefail\nexec 2>&1\n", block.script)},
       .env = env,
       .capture_stdout = true});
  if (!child.ok()) return child.status();
  constexpr int kTimedOut = 124;  // timeout's exit status when it stopped the block
  const absl::Time deadline = absl::Now() + timeout + absl::Seconds(10);
  BlockResult result;
  while (true) {
    absl::StatusOr<std::string> line = (*child)->ReadLine(deadline);
    if (!line.ok()) {
      if (absl::IsDeadlineExceeded(line.status())) {
        return absl::DeadlineExceededError(absl::StrCat("block ", name, " still running after ",
                                                        absl::FormatDuration(timeout), ":\n",
                                                        result.output));
      }
      break;  // EOF
    }
    absl::StrAppend(&result.output, *line, "\n");
  }
  absl::StatusOr<int> code = (*child)->Wait(deadline);
  if (!code.ok()) return code.status();
  if (*code == kTimedOut || *code == 128 + 9) {
    return absl::DeadlineExceededError(absl::StrCat("block ", name, " still running after ",
                                                    absl::FormatDuration(timeout), ":\n",
                                                    result.output));
  }
  result.exit_code = *code;
  return result;
}

std::vector<std::string> RunbookRunner::NotRun() const {
  std::vector<std::string> missing;
  for (const auto& [name, block] : blocks_) {
    if (std::find(block.modes.begin(), block.modes.end(), mode_) != block.modes.end() &&
        run_.count(name) == 0) {
      missing.push_back(name);
    }
  }
  return missing;
}

std::string RunbookRunner::Script(const std::string& name) const {
  auto it = blocks_.find(name);
  return it == blocks_.end() ? "" : it->second.script;
}

}  // namespace quoteflow::ops_testing
