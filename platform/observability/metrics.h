// A small Prometheus metrics registry: counters, gauges and histograms (fixed buckets), each a
// family with label names and one child per label-value combination, plus callback metrics whose
// value is read at scrape time (for counters a component already keeps, e.g. RelayStats).
// Serialize() writes the text exposition format 0.0.4 (what /metrics serves, see metrics_server.h).
//
// Usage: main() owns one Registry; components get families from it once and cache the children:
//
//   metrics::CounterFamily& rpcs = registry.AddCounter("quoteflow_x_total", "help", {"method"});
//   metrics::Counter& c = rpcs.WithLabels({"/pkg.Svc/Call"});  // stable reference, cache it
//   c.Increment();                                             // one relaxed atomic add
//
// Thread-safety: everything is thread-safe. Counter/Gauge/Histogram updates are lock-free atomics;
// WithLabels() takes a reader lock on the family (a writer lock only the first time a combination
// is seen); Serialize() locks the registry and each family briefly, and calls the callbacks while
// holding the registry lock (callbacks must not touch the registry).
//
// Errors: registering an invalid metric or label name, a name already registered with another type
// or other label names, or passing the wrong number of label values, is a programming error: the
// process aborts with a message naming the metric (it happens at start, never at run time with
// valid code).
#ifndef QUOTEFLOW_PLATFORM_OBSERVABILITY_METRICS_H_
#define QUOTEFLOW_PLATFORM_OBSERVABILITY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace quoteflow::metrics {

// A monotonically increasing value (Prometheus "counter").
class Counter {
 public:
  // `v` must be >= 0 (negative increments are ignored).
  void Increment(double v = 1) {
    if (v >= 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (Prometheus "gauge").
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (Prometheus "histogram": cumulative `le` buckets, _sum,
// _count). A scrape reads the buckets one by one, so it may see an observation in the count but
// not yet in the sum; every bucket, _count and +Inf are consistent with each other.
class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 1 ms to 10 s.
const std::vector<double>& DefaultLatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// One sample of a labelled callback metric: the label values (one per label name, in order) and
// the value.
struct LabeledValue {
  std::vector<std::string> label_values;
  double value = 0;
};

// Common part of the families: name, help, label names, children by label values.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values (one per label name, in order), created on first use. The
  // reference stays valid as long as the registry.
  T& WithLabels(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls `fn(values, child)` for each child in label-value order, under the family's reader lock.
  void ForEach(const std::function<void(const std::vector<std::string>&, const T&)>& fn) const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers (or returns the already registered, identical) family. Counter names should end in
  // "_total"; histogram names must not end in _bucket/_sum/_count.
  CounterFamily& AddCounter(const std::string& name, const std::string& help,
                            const std::vector<std::string>& label_names = {});
  GaugeFamily& AddGauge(const std::string& name, const std::string& help,
                        const std::vector<std::string>& label_names = {});
  HistogramFamily& AddHistogram(const std::string& name, const std::string& help,
                                const std::vector<std::string>& label_names,
                                std::vector<double> bounds = DefaultLatencyBuckets());

  // A metric without labels whose value `read` returns at scrape time (e.g. an atomic a component
  // keeps). `read` must be thread-safe and must not call the registry. A counter's `read` must be
  // monotonic.
  void AddCounterCallback(const std::string& name, const std::string& help,
                          std::function<double()> read);
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::function<double()> read);
  // A gauge family whose children `read` returns at scrape time: a child that `read` no longer
  // returns is no longer exposed (e.g. a partition the consumer lost in a rebalance). Samples are
  // exposed in the order `read` returns them (e.g. partitions in numeric order); a sample with the
  // wrong number of label values is a programming error (abort, as WithLabels); `read` must not
  // return two samples with the same label values. Same rules for `read` as above.
  void AddGaugeFamilyCallback(const std::string& name, const std::string& help,
                              const std::vector<std::string>& label_names,
                              std::function<std::vector<LabeledValue>()> read);

  // The text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4), families sorted
  // by name, children by label values.
  std::string Serialize() const;

 private:
  struct Entry {
    Type type;
    std::vector<std::string> label_names;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
    std::function<double()> read;                            // callback metrics
    std::function<std::vector<LabeledValue>()> read_family;  // labelled callback metrics
    std::string help;
  };
  Entry& Register(const std::string& name, Type type, const std::vector<std::string>& label_names,
                  bool callback) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// Content-Type of Serialize()'s text.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Formatting helpers of the exposition format (exposed for tests): a sample value ("3", "0.25",
// "+Inf", "NaN"), a label value escaped (\\, \", \n), a HELP text escaped (\\, \n).
std::string FormatValue(double v);
std::string EscapeLabelValue(absl::string_view v);
std::string EscapeHelp(absl::string_view v);

// --- template implementation ---

[[noreturn]] void FatalMetricError(absl::string_view metric, absl::string_view what);

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    FatalMetricError(name_, "wrong number of label values");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& child = children_[values];
  if (child == nullptr) child = make_();
  return *child;
}

template <typename T>
void Family<T>::ForEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, child] : children_) fn(values, *child);
}

}  // namespace quoteflow::metrics

#endif  // QUOTEFLOW_PLATFORM_OBSERVABILITY_METRICS_H_
