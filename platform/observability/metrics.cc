#include "platform/observability/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace quoteflow::metrics {
namespace {

bool ValidMetricName(absl::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ValidLabelName(absl::string_view n) {
  if (n.empty() || n.substr(0, 2) == "__" || n == "le") return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"), or "" when there are no labels.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     absl::string_view extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "{" : ",", names[i], "=\"", EscapeLabelValue(values[i]),
                    "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "{" : ",", extra);
  if (!out.empty()) out += "}";
  return out;
}

}  // namespace

void FatalMetricError(absl::string_view metric, absl::string_view what) {
  std::fprintf(stderr, "metrics: %.*s: %.*s\n", static_cast<int>(metric.size()), metric.data(),
               static_cast<int>(what.size()), what.data());
  std::abort();
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // `le` semantics: v goes into the first bucket whose bound is >= v.
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double>* const kBuckets = new std::vector<double>{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *kBuckets;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integral values (counters) as integers: "1000000", not "1e+06".
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[64];
  // Shortest representation that reads back as the same double ("0.005", "1e+21").
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string EscapeLabelValue(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Registry::Entry& Registry::Register(const std::string& name, Type type,
                                    const std::vector<std::string>& label_names, bool callback) {
  if (!ValidMetricName(name)) FatalMetricError(name, "invalid metric name");
  for (const std::string& l : label_names) {
    if (!ValidLabelName(l)) FatalMetricError(name, absl::StrCat("invalid label name '", l, "'"));
  }
  auto [it, inserted] = entries_.try_emplace(name);
  Entry& e = it->second;
  if (!inserted) {
    if (e.type != type || e.label_names != label_names || callback || e.read != nullptr ||
        e.read_family != nullptr) {
      FatalMetricError(name, "registered twice with another type, labels or as a callback");
    }
    return e;
  }
  e.type = type;
  e.label_names = label_names;
  return e;
}

CounterFamily& Registry::AddCounter(const std::string& name, const std::string& help,
                                    const std::vector<std::string>& label_names) {
  absl::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kCounter, label_names, false);
  if (e.counter == nullptr) {
    e.counter = std::make_unique<CounterFamily>(name, help, label_names,
                                                [] { return std::make_unique<Counter>(); });
  }
  return *e.counter;
}

GaugeFamily& Registry::AddGauge(const std::string& name, const std::string& help,
                                const std::vector<std::string>& label_names) {
  absl::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kGauge, label_names, false);
  if (e.gauge == nullptr) {
    e.gauge = std::make_unique<GaugeFamily>(name, help, label_names,
                                            [] { return std::make_unique<Gauge>(); });
  }
  return *e.gauge;
}

HistogramFamily& Registry::AddHistogram(const std::string& name, const std::string& help,
                                        const std::vector<std::string>& label_names,
                                        std::vector<double> bounds) {
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      FatalMetricError(name, "a histogram name must not end in _bucket, _sum or _count");
    }
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      FatalMetricError(name, "histogram bounds must be strictly increasing");
    }
  }
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  absl::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kHistogram, label_names, false);
  if (e.histogram == nullptr) {
    e.histogram = std::make_unique<HistogramFamily>(
        name, help, label_names, [bounds] { return std::make_unique<Histogram>(bounds); });
  }
  return *e.histogram;
}

void Registry::AddCounterCallback(const std::string& name, const std::string& help,
                                  std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kCounter, {}, true);
  e.read = std::move(read);
  e.help = help;
}

void Registry::AddGaugeCallback(const std::string& name, const std::string& help,
                                std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kGauge, {}, true);
  e.read = std::move(read);
  e.help = help;
}

void Registry::AddGaugeFamilyCallback(const std::string& name, const std::string& help,
                                      const std::vector<std::string>& label_names,
                                      std::function<std::vector<LabeledValue>()> read) {
  absl::MutexLock lock(&mu_);
  Entry& e = Register(name, Type::kGauge, label_names, true);
  e.read_family = std::move(read);
  e.help = help;
}

std::string Registry::Serialize() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, e] : entries_) {
    const std::string& help = e.counter     ? e.counter->help()
                              : e.gauge     ? e.gauge->help()
                              : e.histogram ? e.histogram->help()
                                            : e.help;
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ",
                    TypeName(e.type), "\n");
    if (e.read) {
      absl::StrAppend(&out, name, " ", FormatValue(e.read()), "\n");
    } else if (e.read_family) {
      std::vector<LabeledValue> samples = e.read_family();
      for (const LabeledValue& v : samples) {
        if (v.label_values.size() != e.label_names.size()) {
          FatalMetricError(name, "wrong number of label values");
        }
      }
      for (const LabeledValue& v : samples) {
        absl::StrAppend(&out, name, LabelSet(e.label_names, v.label_values), " ",
                        FormatValue(v.value), "\n");
      }
    } else if (e.counter) {
      e.counter->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
        absl::StrAppend(&out, name, LabelSet(e.label_names, values), " ", FormatValue(c.Value()),
                        "\n");
      });
    } else if (e.gauge) {
      e.gauge->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
        absl::StrAppend(&out, name, LabelSet(e.label_names, values), " ", FormatValue(g.Value()),
                        "\n");
      });
    } else if (e.histogram) {
      e.histogram->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
        const Histogram::Snapshot s = h.Read();
        for (size_t i = 0; i <= h.bounds().size(); ++i) {
          const std::string le =
              i < h.bounds().size() ? FormatValue(h.bounds()[i]) : std::string("+Inf");
          absl::StrAppend(&out, name, "_bucket",
                          LabelSet(e.label_names, values, absl::StrCat("le=\"", le, "\"")), " ",
                          s.cumulative[i], "\n");
        }
        const std::string labels = LabelSet(e.label_names, values);
        absl::StrAppend(&out, name, "_sum", labels, " ", FormatValue(s.sum), "\n", name, "_count",
                        labels, " ", s.cumulative.back(), "\n");
      });
    }
  }
  return out;
}

}  // namespace quoteflow::metrics
