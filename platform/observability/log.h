// Structured logging: one JSON object per line on stderr ({"ts","level","msg","component",
// ...fields}), or a human-readable line when QUOTEFLOW_LOG_FORMAT=text. Thread-safe: each line is
// written with one write(2). Never pass secrets as fields; config printing redacts them before they
// reach here.
#ifndef QUOTEFLOW_PLATFORM_OBSERVABILITY_LOG_H_
#define QUOTEFLOW_PLATFORM_OBSERVABILITY_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace quoteflow::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// One key/value of a log line. Numbers are written as JSON numbers.
struct Field {
  Field(absl::string_view k, absl::string_view v) : key(k), value(v), quoted(true) {}
  Field(absl::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  Field(absl::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  Field(absl::string_view k, long long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, unsigned long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, double v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  std::string key;
  std::string value;
  bool quoted;
};

// Sets the "component" written on every line (the binary's name) and the minimum level.
// Call once from main() before any thread logs.
void Init(absl::string_view component, Level min_level = Level::kInfo);

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields = {});
// True when lines of `level` are written: guards per-message lines whose fields cost to build.
bool Enabled(Level level);
inline void Debug(absl::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, m, f);
}
inline void Info(absl::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(absl::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(absl::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

// Appends `s` to `out` as the inside of a JSON string (quotes, backslashes, control bytes escaped;
// invalid UTF-8 bytes replaced by U+FFFD).
void AppendJsonEscaped(std::string& out, absl::string_view s);

}  // namespace quoteflow::log

#endif  // QUOTEFLOW_PLATFORM_OBSERVABILITY_LOG_H_
