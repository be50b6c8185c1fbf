#include "platform/observability/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace quoteflow::log {
namespace {

// Set once in Init() before threads start; read-only afterwards.
std::string& Component() {
  static std::string component = "quoteflow";
  return component;
}
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_text{false};

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t Utf8Length(absl::string_view s, size_t i) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  }
  return n;
}

}  // namespace

void Init(absl::string_view component, Level min_level) {
  Component() = std::string(component);
  g_min_level = static_cast<int>(min_level);
  const char* fmt = std::getenv("QUOTEFLOW_LOG_FORMAT");
  g_text = fmt != nullptr && std::strcmp(fmt, "text") == 0;
  if (const char* lvl = std::getenv("QUOTEFLOW_LOG_LEVEL")) {
    for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
      if (std::strcmp(lvl, LevelName(l)) == 0) g_min_level = static_cast<int>(l);
    }
  }
}

void AppendJsonEscaped(std::string& out, absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c >= 0x80) {
      size_t n = Utf8Length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  line.reserve(128);
  if (g_text) {
    absl::StrAppend(&line, ts, " ", LevelName(level), " ", Component(), ": ", msg);
    for (const Field& f : fields) absl::StrAppend(&line, " ", f.key, "=", f.value);
  } else {
    absl::StrAppend(&line, "{\"ts\":\"", ts, "\",\"level\":\"", LevelName(level),
                    "\",\"component\":\"");
    AppendJsonEscaped(line, Component());
    line += "\",\"msg\":\"";
    AppendJsonEscaped(line, msg);
    line += '"';
    for (const Field& f : fields) {
      line += ",\"";
      AppendJsonEscaped(line, f.key);
      line += "\":";
      if (f.quoted) {
        line += '"';
        AppendJsonEscaped(line, f.value);
        line += '"';
      } else {
        line += f.value;
      }
    }
    line += '}';
  }
  line += '\n';
  // One write(2) per line keeps lines from different threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace quoteflow::log
