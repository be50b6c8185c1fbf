// BenchFlags: the command-line flags of the benchmark tools (`--name=value`, `--name value`, or a
// bare `--name` meaning "true"), with typed getters that report bad values. The bench tools do not
// use platform/config's Config on purpose: Config also reads an environment variable per flag,
// and generic names (RATE, COUNT, SIZE) would silently pick up unrelated settings.
//
// Thread-safety: immutable after Parse(); const methods are safe from any thread.
#ifndef QUOTEFLOW_TESTS_BENCH_BENCH_FLAGS_H_
#define QUOTEFLOW_TESTS_BENCH_BENCH_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quoteflow::bench {

class BenchFlags {
 public:
  // Parses argv[first..]. Words that do not start with "--" are positional. INVALID_ARGUMENT for
  // "--" alone or an empty flag name.
  static absl::StatusOr<BenchFlags> Parse(int argc, char** argv, int first = 1);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def) const;
  // INVALID_ARGUMENT naming the flag when the value does not parse.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t def) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double def) const;
  absl::StatusOr<absl::Duration> GetDuration(const std::string& name, absl::Duration def) const;
  absl::StatusOr<bool> GetBool(const std::string& name, bool def) const;
  // A comma-separated list of integers ("1,16,64").
  absl::StatusOr<std::vector<int>> GetIntList(const std::string& name, std::vector<int> def) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace quoteflow::bench

#endif  // QUOTEFLOW_TESTS_BENCH_BENCH_FLAGS_H_
