#include "tools/local/local_env.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace quoteflow::local {
namespace {

bool IsPlainShellWord(absl::string_view value) {
  if (value.empty()) return false;
  for (char c : value) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                    c == '.' || c == '/' || c == ':' || c == ',' || c == '@' || c == '%' ||
                    c == '+' || c == '=';
    if (!ok) return false;
  }
  return true;
}

bool IsEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

absl::Status ErrnoStatus(int err, absl::string_view what) { return absl::ErrnoToStatus(err, what); }

}  // namespace

std::string ShellQuote(absl::string_view value) {
  if (IsPlainShellWord(value)) return std::string(value);
  return absl::StrCat("'", absl::StrReplaceAll(value, {{"'", "'\\''"}}), "'");
}

std::string FormatLocalEnv(const std::vector<std::string>& comment,
                           const std::vector<std::pair<std::string, std::string>>& vars,
                           const std::string& bin_dir) {
  std::string out;
  for (const std::string& line : comment) absl::StrAppend(&out, "# ", line, "\n");
  for (const auto& [key, value] : vars)
    absl::StrAppend(&out, "export ", key, "=", ShellQuote(value), "\n");
  // Inside double quotes only $ ` " \ are special.
  std::string escaped;
  for (char c : bin_dir) {
    if (c == '$' || c == '`' || c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  absl::StrAppend(&out, "export PATH=\"$PATH:", escaped, "\"\n");
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseLocalEnv(absl::string_view text) {
  std::map<std::string, std::string> vars;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    absl::ConsumePrefix(&line, "export ");
    const size_t eq = line.find('=');
    const absl::string_view key = line.substr(0, eq == absl::string_view::npos ? 0 : eq);
    if (eq == absl::string_view::npos || !IsEnvName(key)) {
      return absl::InvalidArgumentError(absl::StrCat("local.env line ", number, ": ", line));
    }
    absl::string_view raw = line.substr(eq + 1);
    std::string value;
    if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
      raw = raw.substr(1, raw.size() - 2);
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
        value += raw[i];
      }
    } else {
      // Concatenated plain and '...' pieces, as ShellQuote writes them.
      bool quoted = false;
      for (size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '\'') {
          quoted = !quoted;
        } else if (!quoted && c == '\\' && i + 1 < raw.size()) {
          value += raw[++i];
        } else {
          value += c;
        }
      }
      if (quoted) {
        return absl::InvalidArgumentError(
            absl::StrCat("local.env line ", number, ": unterminated quote"));
      }
    }
    vars[std::string(key)] = std::move(value);
  }
  return vars;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", tmp));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return ErrnoStatus(err, absl::StrCat("write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("fsync ", tmp));
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace quoteflow::local
