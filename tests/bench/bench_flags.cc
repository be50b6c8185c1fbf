#include "tests/bench/bench_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace quoteflow::bench {

absl::StatusOr<BenchFlags> BenchFlags::Parse(int argc, char** argv, int first) {
  BenchFlags flags;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string body = arg.substr(2);
    if (body.empty()) return absl::InvalidArgumentError("'--' alone is not a flag");
    std::string name = body, value = "true";
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      value = argv[++i];
    }
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("bad flag '", arg, "'"));
    flags.values_[name] = value;
  }
  return flags;
}

std::string BenchFlags::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

absl::StatusOr<int64_t> BenchFlags::GetInt(const std::string& name, int64_t def) const {
  if (!Has(name)) return def;
  int64_t v = 0;
  if (!absl::SimpleAtoi(Get(name, ""), &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be an integer"));
  }
  return v;
}

absl::StatusOr<double> BenchFlags::GetDouble(const std::string& name, double def) const {
  if (!Has(name)) return def;
  double v = 0;
  if (!absl::SimpleAtod(Get(name, ""), &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a number"));
  }
  return v;
}

absl::StatusOr<absl::Duration> BenchFlags::GetDuration(const std::string& name,
                                                       absl::Duration def) const {
  if (!Has(name)) return def;
  absl::Duration d;
  if (!absl::ParseDuration(Get(name, ""), &d)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a duration like 10s"));
  }
  return d;
}

absl::StatusOr<bool> BenchFlags::GetBool(const std::string& name, bool def) const {
  if (!Has(name)) return def;
  bool v = false;
  if (!absl::SimpleAtob(Get(name, ""), &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be true or false"));
  }
  return v;
}

absl::StatusOr<std::vector<int>> BenchFlags::GetIntList(const std::string& name,
                                                        std::vector<int> def) const {
  if (!Has(name)) return def;
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(Get(name, ""), ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a list like 1,16,64"));
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace quoteflow::bench
