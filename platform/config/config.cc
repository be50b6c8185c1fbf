#include "platform/config/config.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "platform/observability/log.h"

namespace quoteflow {

std::string Config::EnvName(absl::string_view flag_name) {
  std::string env = absl::AsciiStrToUpper(flag_name);
  absl::StrReplaceAll({{"-", "_"}}, &env);
  return env;
}

void Config::Declare(const std::string& name, std::string default_value, std::string help,
                     bool secret) {
  Option& o = options_[name];
  o.value = default_value;
  o.default_value = std::move(default_value);
  o.help = std::move(help);
  o.secret = secret;
}

void Config::SetRedactor(const std::string& name,
                         std::function<std::string(absl::string_view)> redact) {
  auto it = options_.find(name);
  if (it == options_.end()) {
    std::fprintf(stderr, "BUG: SetRedactor(%s) before Declare()\n", name.c_str());
    std::abort();
  }
  it->second.redact = std::move(redact);
}

absl::StatusOr<std::vector<std::string>> Config::Parse(int argc, char** argv) {
  for (auto& [name, o] : options_) {
    if (const char* env = std::getenv(EnvName(name).c_str())) {
      o.value = env;
      o.source = "env";
    }
  }
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(Usage().c_str(), stdout);
      std::exit(0);
    }
    if (!absl::ConsumePrefix(&arg, "--")) {
      positional.emplace_back(arg);
      continue;
    }
    std::string name;
    std::string value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      name = std::string(arg);
      if (i + 1 >= argc)
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    auto it = options_.find(name);
    if (it == options_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see ", program_, " --help)"));
    }
    it->second.value = std::move(value);
    it->second.source = "flag";
  }
  return positional;
}

const Config::Option& Config::Find(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end()) {
    std::fprintf(stderr, "BUG: option %s was never declared\n", name.c_str());
    std::abort();
  }
  return it->second;
}

const std::string& Config::Get(const std::string& name) const { return Find(name).value; }

std::string Config::Shown(const std::string& name) const {
  const Option& o = Find(name);
  if (o.secret && !o.value.empty()) return "***";
  return o.redact ? o.redact(o.value) : RedactSecrets(o.value);
}

absl::StatusOr<int64_t> Config::GetInt(const std::string& name, int64_t min, int64_t max) const {
  int64_t v = 0;
  if (!absl::SimpleAtoi(Get(name), &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " (", EnvName(name), ")='",
                                                   Shown(name), "' must be an integer in [", min,
                                                   ", ", max, "]"));
  }
  return v;
}

absl::StatusOr<absl::Duration> Config::GetDuration(const std::string& name) const {
  absl::Duration d;
  if (!absl::ParseDuration(Get(name), &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " (", EnvName(name), ")='",
                                                   Shown(name),
                                                   "' must be a duration like 250ms, 5s or 2m"));
  }
  return d;
}

absl::StatusOr<bool> Config::GetBool(const std::string& name) const {
  std::string v = absl::AsciiStrToLower(Get(name));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off" || v.empty()) return false;
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, " (", EnvName(name), ")='", Shown(name), "' must be true or false"));
}

std::string Config::Describe() const {
  std::string out;
  for (const auto& [name, o] : options_) {
    if (!out.empty()) out += ' ';
    absl::StrAppend(&out, name, "=", Shown(name));
  }
  return out;
}

void Config::LogEffective() const {
  log::Info("effective configuration", {{"config", Describe()}});
}

std::string Config::Usage() const {
  std::string out =
      absl::StrCat(program_, ": ", summary_, "\n\nOptions (flag / environment variable):\n");
  for (const auto& [name, o] : options_) {
    absl::StrAppend(
        &out, "  --", name, " / ", EnvName(name), "\n      ", o.help,
        o.default_value.empty() ? "" : absl::StrCat(" (default: ", o.default_value, ")"), "\n");
  }
  return out;
}

std::string RedactSecrets(absl::string_view text) {
  // Every secret's [begin, end) in `text`, found on the original text and replaced in one pass, so
  // that one rule's replacement cannot hide the evidence the other rule looks for (a URL's
  // redaction swallowing a "password=" key and leaving its value in clear).
  std::vector<std::pair<size_t, size_t>> spans;
  // user:password@ in every URL of the text (a list of URLs, or a URL after one without a
  // password, must not leak the later ones).
  for (size_t scheme = text.find("://"); scheme != absl::string_view::npos;
       scheme = text.find("://", scheme + 3)) {
    const size_t at = text.find('@', scheme + 3);
    const size_t colon = text.find(':', scheme + 3);
    if (at != absl::string_view::npos && colon != absl::string_view::npos && colon < at) {
      spans.emplace_back(colon + 1, at);
    }
  }
  // password=... / sasl.password=... in key/value strings.
  for (absl::string_view key : {"password=", "Password="}) {
    for (size_t pos = text.find(key); pos != absl::string_view::npos;
         pos = text.find(key, pos + 1)) {
      const size_t start = pos + key.size();
      spans.emplace_back(start, std::min(text.find_first_of(" ;,&", start), text.size()));
    }
  }
  std::sort(spans.begin(), spans.end());
  std::string out;
  size_t copied = 0;
  for (size_t i = 0; i < spans.size();) {
    const size_t begin = spans[i].first;
    size_t end = spans[i].second;
    for (++i; i < spans.size() && spans[i].first <= end; ++i) end = std::max(end, spans[i].second);
    absl::StrAppend(&out, text.substr(copied, begin - copied), "***");
    copied = end;
  }
  absl::StrAppend(&out, text.substr(copied));
  return out;
}

}  // namespace quoteflow
