// Fuzz entry points for configuration parsing: Config::Parse with an argv and environment decoded
// from the bytes, with the property that nothing printed about the configuration depends on a
// secret's value (FuzzConfigParse, see CheckSecretsAreNotPrinted), the Kafka properties parsers
// (FuzzKafkaProperties) and RedactSecrets on text that holds a password (FuzzRedactSecrets).
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "platform/config/config.h"
#include "platform/kafka/kafka_config.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"

namespace quoteflow::fuzz {
namespace {

using absl::StatusCode;

// The options of a typical binary (quote-api's, a secret token, the Kafka settings).
void DeclareOptions(Config& config) {
  config.Declare("grpc-address", "127.0.0.1:50051", "address");
  config.Declare("database-url", "postgresql://quoteflow@127.0.0.1:5432/quoteflow", "url");
  config.Declare("db-pool-size", "16", "int");
  config.Declare("statement-timeout", "5s", "duration");
  config.Declare("migrate", "false", "bool");
  config.Declare("api-token", "", "secret", /*secret=*/true);
  kafka::KafkaSettings::Declare(config);
}

constexpr const char* kOptions[] = {"grpc-address",
                                    "database-url",
                                    "db-pool-size",
                                    "statement-timeout",
                                    "migrate",
                                    "api-token",
                                    "kafka-bootstrap-servers",
                                    "kafka-properties",
                                    "kafka-properties-file",
                                    "kafka-sasl-password"};

void ClearEnvironment() {
  for (const char* name : kOptions) unsetenv(Config::EnvName(name).c_str());
}

bool IsTrimmed(absl::string_view s) { return absl::StripAsciiWhitespace(s) == s; }

// Everything a binary prints about its configuration: the "effective configuration" line
// (Describe()), the getters' errors, and what the Kafka settings built from it print (their
// redacted descriptions, as given and per role, and their errors).
struct Printed {
  std::string describe;
  std::vector<std::string> getter_errors;  // per secret-bearing option and getter; "" when OK
  std::string kafka_error;                 // FromConfig's
  std::string kafka_given;                 // DescribeRedacted()
  std::vector<std::string> kafka_roles;    // per role: DescribeRedacted(role) and the error
};

// The options whose values are or hold secrets.
constexpr const char* kSecretBearingOptions[] = {"api-token", "kafka-sasl-password",
                                                 "kafka-properties"};

// Parses a configuration given as one --name=value flag per option and prints it.
Printed PrintConfiguration(const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<std::string> args = {"fuzz"};
  for (const auto& [name, value] : values) args.push_back(absl::StrCat("--", name, "=", value));
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Config config("fuzz", "fuzzed configuration");
  DeclareOptions(config);
  absl::StatusOr<std::vector<std::string>> positional =
      config.Parse(static_cast<int>(args.size()), argv.data());
  FUZZ_CHECK(positional.ok(),
             "the configuration as flags does not parse: ", positional.status().ToString());
  Printed out;
  out.describe = config.Describe();
  // The other options are the same in both printouts, and so are their getters' errors.
  for (const char* name : kSecretBearingOptions) {
    for (const absl::Status& s :
         {config.GetInt(name, -1000, 1000).status(), config.GetDuration(name).status(),
          config.GetBool(name).status()}) {
      out.getter_errors.push_back(std::string(s.message()));
    }
  }
  absl::StatusOr<kafka::KafkaSettings> settings = kafka::KafkaSettings::FromConfig(config);
  if (!settings.ok()) {
    out.kafka_error = settings.status().ToString();
    return out;
  }
  out.kafka_given = settings->DescribeRedacted();
  for (kafka::KafkaRole role : {kafka::KafkaRole::kProducer, kafka::KafkaRole::kConsumer}) {
    out.kafka_roles.push_back(settings->DescribeRedacted(role, "group"));
    out.kafka_roles.push_back(settings->EffectiveProperties(role, "group").status().ToString());
  }
  return out;
}

// A replacement for the secret `value`: distinct from it, and from the other replacements.
std::string Canary(absl::string_view value, int n) {
  std::string canary = absl::StrCat("QfCanary", n, "x9f3b7c1e");
  if (canary == value) canary += "z";
  return canary;
}

// The secrets' property: nothing printed depends on the value of a secret. The configuration is
// printed twice, once with its secrets (the secret options and the values of secret Kafka
// properties) and once with each replaced by a canary; the two printouts must be the same. A
// secret shown in clear, or in part, or one that changes what else is shown, makes them differ;
// a secret that merely equals public text (a property name, "servers=local" within
// "bootstrap.servers=localhost") does not, so the property has no false positives.
void CheckSecretsAreNotPrinted(const Config& config) {
  std::vector<std::pair<std::string, std::string>> given;
  std::vector<std::pair<std::string, std::string>> replaced;
  int n = 0;
  for (const char* name : kOptions) {
    std::string value = config.Get(name);
    std::string other = value;
    if ((absl::string_view(name) == "api-token" ||
         absl::string_view(name) == "kafka-sasl-password") &&
        !value.empty()) {
      other = Canary(value, n++);
    } else if (absl::string_view(name) == "kafka-properties") {
      absl::StatusOr<std::vector<kafka::KafkaProperty>> props = kafka::ParseKafkaProperties(value);
      if (props.ok()) {
        std::vector<std::string> as_given;
        std::vector<std::string> with_canaries;
        for (const auto& [key, v] : *props) {
          as_given.push_back(absl::StrCat(key, "=", v));
          with_canaries.push_back(absl::StrCat(
              key, "=", kafka::IsSecretKafkaProperty(key) && !v.empty() ? Canary(v, n++) : v));
        }
        value = absl::StrJoin(as_given, ",");
        other = absl::StrJoin(with_canaries, ",");
      }
    }
    given.emplace_back(name, std::move(value));
    replaced.emplace_back(name, std::move(other));
  }
  if (n == 0) return;  // no secret set: the two printouts would be the same configuration
  const Printed a = PrintConfiguration(given);
  const Printed b = PrintConfiguration(replaced);
  FUZZ_CHECK(a.describe == b.describe, "Describe() depends on a secret:\n  ", a.describe, "\n  ",
             b.describe);
  for (size_t i = 0; i < a.getter_errors.size(); ++i) {
    // Whether a value parses as a number may depend on it; what an error shows may not.
    if (a.getter_errors[i].empty() || b.getter_errors[i].empty()) continue;
    FUZZ_CHECK(a.getter_errors[i] == b.getter_errors[i],
               "a getter's error depends on a secret:\n  ", a.getter_errors[i], "\n  ",
               b.getter_errors[i]);
  }
  FUZZ_CHECK(a.kafka_error == b.kafka_error, "a Kafka settings error depends on a secret:\n  ",
             a.kafka_error, "\n  ", b.kafka_error);
  FUZZ_CHECK(a.kafka_given == b.kafka_given, "DescribeRedacted() depends on a secret:\n  ",
             a.kafka_given, "\n  ", b.kafka_given);
  FUZZ_CHECK(
      a.kafka_roles == b.kafka_roles, "DescribeRedacted(role) or an error depends on a secret:\n  ",
      absl::StrJoin(a.kafka_roles, "\n  "), "\n vs\n  ", absl::StrJoin(b.kafka_roles, "\n  "));
}

}  // namespace

void FuzzConfigParse(absl::string_view data) {
  ClearEnvironment();
  // NUL-separated pieces: "\x01<option index><value>" sets an environment variable, anything else
  // is an argv element.
  std::vector<std::string> args = {"fuzz"};
  for (absl::string_view piece : absl::StrSplit(data, '\0')) {
    if (piece.size() >= 2 && piece[0] == '\x01') {
      const char* name = kOptions[static_cast<uint8_t>(piece[1]) % std::size(kOptions)];
      setenv(Config::EnvName(name).c_str(), std::string(piece.substr(2)).c_str(), 1);
    } else if (piece != "--help" && piece != "-h" && args.size() < 64) {  // --help exits
      args.emplace_back(piece);
    }
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  Config config("fuzz", "fuzzed configuration");
  DeclareOptions(config);
  absl::StatusOr<std::vector<std::string>> positional =
      config.Parse(static_cast<int>(args.size()), argv.data());
  ClearEnvironment();
  if (!positional.ok()) {
    FUZZ_CHECK(positional.status().code() == StatusCode::kInvalidArgument,
               positional.status().ToString());
    return;
  }
  for (const char* name : kOptions) {
    for (const absl::Status& s :
         {config.GetInt(name, -1000, 1000).status(), config.GetDuration(name).status(),
          config.GetBool(name).status()}) {
      FUZZ_CHECK(s.ok() || s.code() == StatusCode::kInvalidArgument, name, ": ", s.ToString());
    }
  }
  const std::string described = config.Describe();
  for (const char* secret : {"api-token", "kafka-sasl-password"}) {
    if (!config.Get(secret).empty()) {
      FUZZ_CHECK(absl::StrContains(described, absl::StrCat(secret, "=***")), secret,
                 " shown by Describe(): ", described);
    }
  }

  if (!config.Get("kafka-properties-file").empty()) return;  // would read a fuzzed path
  absl::StatusOr<kafka::KafkaSettings> settings = kafka::KafkaSettings::FromConfig(config);
  if (!settings.ok()) {
    FUZZ_CHECK(settings.status().code() == StatusCode::kInvalidArgument,
               settings.status().ToString());
  } else {
    for (kafka::KafkaRole role : {kafka::KafkaRole::kProducer, kafka::KafkaRole::kConsumer}) {
      absl::StatusOr<std::vector<kafka::KafkaProperty>> effective =
          settings->EffectiveProperties(role, "group");
      FUZZ_CHECK(effective.ok() || effective.status().code() == StatusCode::kInvalidArgument,
                 effective.status().ToString());
    }
  }
  CheckSecretsAreNotPrinted(config);
}

void FuzzKafkaProperties(absl::string_view data) {
  // The same bytes as a --kafka-properties value and as a properties file.
  absl::StatusOr<std::vector<kafka::KafkaProperty>> inline_props =
      kafka::ParseKafkaProperties(data);
  if (inline_props.ok()) {
    std::vector<std::string> pieces;
    for (const auto& [key, value] : *inline_props) {
      FUZZ_CHECK(!key.empty() && IsTrimmed(key) && IsTrimmed(value) &&
                     !absl::StrContains(key, '=') && !absl::StrContains(key, ','),
                 "bad property '", key, "'='", value, "'");
      pieces.push_back(absl::StrCat(key, "=", value));
    }
    const std::string joined = absl::StrJoin(pieces, ",");
    auto again = kafka::ParseKafkaProperties(joined);
    FUZZ_CHECK(again.ok() && *again == *inline_props, "properties do not round-trip via '", joined,
               "'");
  } else {
    FUZZ_CHECK(inline_props.status().code() == StatusCode::kInvalidArgument,
               inline_props.status().ToString());
  }

  absl::StatusOr<std::vector<kafka::KafkaProperty>> file_props =
      kafka::ParseKafkaPropertiesFile(data);
  if (file_props.ok()) {
    std::string joined;
    for (const auto& [key, value] : *file_props) {
      FUZZ_CHECK(!key.empty() && IsTrimmed(key) && IsTrimmed(value) &&
                     !absl::StrContains(key, '=') && !absl::StrContains(key, '\n') &&
                     !absl::StrContains(value, '\n') && key[0] != '#',
                 "bad file property '", key, "'='", value, "'");
      absl::StrAppend(&joined, key, "=", value, "\n");
    }
    auto again = kafka::ParseKafkaPropertiesFile(joined);
    FUZZ_CHECK(again.ok() && *again == *file_props, "file properties do not round-trip");
  } else {
    // The line may hold a secret: the error names its number only.
    const size_t lines = static_cast<size_t>(std::count(data.begin(), data.end(), '\n')) + 1;
    bool known_message = false;
    for (size_t n = 1; n <= lines && !known_message; ++n) {
      known_message = file_props.status().message() ==
                      absl::StrCat("kafka properties file line ", n, ": expected key=value");
    }
    FUZZ_CHECK(file_props.status().code() == StatusCode::kInvalidArgument && known_message,
               "file error echoes input: ", file_props.status().ToString());
  }
}

void FuzzRedactSecrets(absl::string_view data) {
  ByteReader in(data);
  const uint8_t mode = in.Byte();
  auto without = [](std::string s, absl::string_view banned) {
    s.erase(
        std::remove_if(s.begin(), s.end(), [&](char c) { return absl::StrContains(banned, c); }),
        s.end());
    return s;
  };
  std::string text;
  std::string password;
  if (mode % 3 == 0) {
    // prefix scheme://user:password@rest: libpq ends the user info at the first '@' or '/', and
    // the password runs from the first ':' in it to that '@'.
    std::string prefix = in.String();
    std::string scheme = in.String(16);
    scheme.erase(std::remove_if(scheme.begin(), scheme.end(),
                                [](char c) { return !absl::ascii_isalpha(c); }),
                 scheme.end());
    if (scheme.empty()) scheme = "postgresql";
    const std::string user = without(in.String(32), ":@/");
    password = without(in.String(64), "@/");
    text = absl::StrCat(prefix, scheme, "://", user, ":", password, "@", in.Rest());
  } else if (mode % 3 == 1) {
    // prefix password=value<separator>suffix, as in libpq key/value strings.
    std::string prefix = in.String();
    password = without(in.String(64), " ;,&");
    static constexpr absl::string_view kSeparators[] = {" ", ";", ",", "&", ""};
    const absl::string_view separator = kSeparators[in.Byte() % std::size(kSeparators)];
    const char* key = in.Bool() ? "Password=" : "password=";
    text = absl::StrCat(prefix, key, password, separator, in.Rest());
  } else {
    text = in.Rest();
  }
  const std::string redacted = RedactSecrets(text);
  if (password.size() < 4 || absl::StrContains(password, '*')) return;
  // Only a password that occurs once in the input can be told apart from the rest of the text.
  const size_t first = text.find(password);
  if (text.find(password, first + 1) != std::string::npos) return;
  FUZZ_CHECK(!absl::StrContains(redacted, password), "password '", password, "' survives in '",
             redacted, "' (input '", text, "')");
}

}  // namespace quoteflow::fuzz
