// Configuration for every binary: each option is a flag `--some-name=value` and an environment
// variable `SOME_NAME` with the same name; a flag wins over the environment, which wins over the
// default. Build a Config in main(), Declare() options, Parse(), then read them. Not thread-safe
// while parsing; read-only (thread-safe) afterwards.
#ifndef QUOTEFLOW_PLATFORM_CONFIG_CONFIG_H_
#define QUOTEFLOW_PLATFORM_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quoteflow {

class Config {
 public:
  explicit Config(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  // Declares an option named like "database-url" (env DATABASE_URL). `secret` values are redacted
  // wherever the configuration is printed.
  void Declare(const std::string& name, std::string default_value, std::string help,
               bool secret = false);

  // How the value of the declared option `name` is shown (by Describe() and in the getters'
  // errors) when it holds secrets among public text, such as the Kafka properties: `redact`
  // returns the text to show. Without one, a value is shown through RedactSecrets(); a secret
  // option's value is never shown (***).
  void SetRedactor(const std::string& name, std::function<std::string(absl::string_view)> redact);

  // Reads argv and the environment. Returns the positional arguments (those not starting with --).
  // INVALID_ARGUMENT for an unknown flag or a flag without a value. `--help` prints usage and exits
  // 0.
  absl::StatusOr<std::vector<std::string>> Parse(int argc, char** argv);

  const std::string& Get(const std::string& name) const;
  // The getters' errors show the value as Describe() does (a secret's as ***).
  // INVALID_ARGUMENT naming the option when the value is not an integer in [min, max].
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t min, int64_t max) const;
  // Durations like "250ms", "5s", "2m"; INVALID_ARGUMENT otherwise or when negative.
  absl::StatusOr<absl::Duration> GetDuration(const std::string& name) const;
  absl::StatusOr<bool> GetBool(const std::string& name) const;

  // "name=value" pairs of the effective configuration, secrets and URL passwords redacted.
  std::string Describe() const;
  // Logs Describe() at info level as one line ("effective configuration").
  void LogEffective() const;
  std::string Usage() const;

  static std::string EnvName(absl::string_view flag_name);

 private:
  struct Option {
    std::string value;
    std::string default_value;
    std::string help;
    bool secret = false;
    std::function<std::string(absl::string_view)> redact;  // empty: RedactSecrets
    std::string source = "default";
  };
  const Option& Find(const std::string& name) const;
  // The value of `name` as it may be printed.
  std::string Shown(const std::string& name) const;
  std::string program_;
  std::string summary_;
  std::map<std::string, Option> options_;
};

// Replaces the password of every URL ("postgresql://u:secret@h/db" -> "postgresql://u:***@h/db")
// and the value of every "password=..." / "Password=..." key/value pair with ***.
std::string RedactSecrets(absl::string_view text);

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_CONFIG_CONFIG_H_
