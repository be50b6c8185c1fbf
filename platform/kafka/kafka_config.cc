#include "platform/kafka/kafka_config.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"

namespace quoteflow::kafka {
namespace {

// Sets `key` to `value`, replacing an earlier value in place or appending.
void SetProperty(std::vector<KafkaProperty>& props, absl::string_view key,
                 absl::string_view value) {
  for (auto& [k, v] : props) {
    if (k == key) {
      v = std::string(value);
      return;
    }
  }
  props.emplace_back(std::string(key), std::string(value));
}

const std::string* FindProperty(const std::vector<KafkaProperty>& props, absl::string_view key) {
  for (const auto& [k, v] : props) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool IsFalse(absl::string_view v) {
  std::string l = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v));
  return l == "false" || l == "0" || l == "no" || l == "off";
}

std::string RedactedValue(absl::string_view key, absl::string_view value) {
  return IsSecretKafkaProperty(key) && !value.empty() ? "***" : RedactSecrets(value);
}

std::string Describe(const std::vector<KafkaProperty>& props) {
  std::string out;
  for (const auto& [k, v] : props) {
    if (!out.empty()) out += ' ';
    absl::StrAppend(&out, k, "=", RedactedValue(k, v));
  }
  return out;
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  log::Level l = level <= 3   ? log::Level::kError
                 : level == 4 ? log::Level::kWarn
                 : level <= 6 ? log::Level::kInfo
                              : log::Level::kDebug;
  log::Write(l, buf, {{"rdkafka_fac", fac}, {"client", rk != nullptr ? rd_kafka_name(rk) : ""}});
}

}  // namespace

absl::StatusOr<std::vector<KafkaProperty>> ParseKafkaProperties(absl::string_view text) {
  std::vector<KafkaProperty> out;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(piece);
    if (trimmed.empty()) continue;
    size_t eq = trimmed.find('=');
    if (eq == absl::string_view::npos) {
      if (out.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("kafka properties: '", trimmed, "' is not key=value"));
      }
      absl::StrAppend(&out.back().second, ",", trimmed);
      continue;
    }
    absl::string_view key = absl::StripAsciiWhitespace(trimmed.substr(0, eq));
    if (key.empty()) {
      return absl::InvalidArgumentError("kafka properties: empty key before '='");
    }
    out.emplace_back(std::string(key),
                     std::string(absl::StripAsciiWhitespace(trimmed.substr(eq + 1))));
  }
  return out;
}

absl::StatusOr<std::vector<KafkaProperty>> ParseKafkaPropertiesFile(absl::string_view contents) {
  std::vector<KafkaProperty> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_no;
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    size_t eq = trimmed.find('=');
    absl::string_view key =
        eq == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(trimmed.substr(0, eq));
    if (key.empty()) {
      // Do not echo the line: it may hold a secret.
      return absl::InvalidArgumentError(
          absl::StrCat("kafka properties file line ", line_no, ": expected key=value"));
    }
    out.emplace_back(std::string(key),
                     std::string(absl::StripAsciiWhitespace(trimmed.substr(eq + 1))));
  }
  return out;
}

bool IsSecretKafkaProperty(absl::string_view key) {
  std::string k = absl::AsciiStrToLower(key);
  return absl::StrContains(k, "password") || absl::StrContains(k, "secret") ||
         k == "sasl.oauthbearer.config" || k == "ssl.key.pem" || k == "ssl_key";
}

std::string RedactKafkaProperties(absl::string_view text) {
  absl::StatusOr<std::vector<KafkaProperty>> props = ParseKafkaProperties(text);
  if (!props.ok()) return "(does not parse; not shown)";
  std::string out;
  for (const auto& [k, v] : *props) {
    if (!out.empty()) out += ',';
    absl::StrAppend(&out, k, "=", RedactedValue(k, v));
  }
  return out;
}

void KafkaSettings::Declare(Config& config) {
  config.Declare(kBootstrapServersFlag, "",
                 "Kafka bootstrap servers, host:port[,host:port...] (Event Hubs: "
                 "NAMESPACE.servicebus.windows.net:9093)");
  config.Declare(kPropertiesFlag, "",
                 "extra librdkafka properties as key=value,key=value (any property passes "
                 "through; a piece without '=' continues the previous value)");
  config.SetRedactor(kPropertiesFlag, &RedactKafkaProperties);
  config.Declare(kPropertiesFileFlag, "",
                 "file of librdkafka key=value lines ('#' comments); use it for values "
                 "containing ',' such as an Event Hubs connection string");
  config.Declare(kSaslPasswordFlag, "",
                 "SASL password (sasl.password); for Event Hubs the namespace connection string",
                 /*secret=*/true);
}

absl::StatusOr<KafkaSettings> KafkaSettings::FromConfig(const Config& config) {
  std::vector<KafkaProperty> props;
  if (const std::string& path = config.Get(kPropertiesFileFlag); !path.empty()) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) {
      int err = errno;
      std::string msg =
          absl::StrCat("--", kPropertiesFileFlag, " ", path, ": ", std::strerror(err));
      if (err == ENOENT) return absl::NotFoundError(msg);
      if (err == EACCES) return absl::PermissionDeniedError(msg);
      return absl::InvalidArgumentError(msg);
    }
    std::string contents;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) contents.append(buf, n);
    std::fclose(f);
    absl::StatusOr<std::vector<KafkaProperty>> file_props = ParseKafkaPropertiesFile(contents);
    if (!file_props.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", kPropertiesFileFlag, " ", path, ": ", file_props.status().message()));
    }
    props = *std::move(file_props);
  }
  absl::StatusOr<std::vector<KafkaProperty>> flag_props =
      ParseKafkaProperties(config.Get(kPropertiesFlag));
  if (!flag_props.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", kPropertiesFlag, " (",
                                                   Config::EnvName(kPropertiesFlag),
                                                   "): ", flag_props.status().message()));
  }
  props.insert(props.end(), flag_props->begin(), flag_props->end());
  return KafkaSettings(config.Get(kBootstrapServersFlag), std::move(props),
                       config.Get(kSaslPasswordFlag));
}

absl::StatusOr<std::vector<KafkaProperty>> KafkaSettings::EffectiveProperties(
    KafkaRole role, absl::string_view group_id) const {
  std::vector<KafkaProperty> props;
  if (role == KafkaRole::kProducer) {
    SetProperty(props, "linger.ms", "5");
    SetProperty(props, "allow.auto.create.topics", "false");
  } else {
    // A real broker answers a waiting fetch as soon as data arrives, so a long wait costs no
    // latency; with 5 ms every idle consumer sent ~200 empty fetches a second (~15 % of a core
    // for the broker and workers of an idle `make run`, docs/performance.md).
    SetProperty(props, "fetch.wait.max.ms", "100");
    SetProperty(props, "auto.offset.reset", "earliest");
    // After a silent partition (packets dropped, no RST), workers came back 23-25 s after a
    // 30 s cut healed (chaos NetPartition.WorkerToKafka): a connection attempt made during the
    // cut waits out SYN retransmissions for up to 30 s, and a request sent just before it (the
    // offset commit or metadata refresh that the group's rejoin waits for) waits for TCP's
    // retransmission backoff, ~20 s past the heal, within librdkafka's 60 s request timeout.
    // Attempts of 10 s retried within 2 s, and a connection dropped when a request has no answer
    // within 10 s, bring them back ~1 s after the heal. Broker side, a commit is answered within
    // offsets.commit.timeout.ms (5 s); a fetch's timeout adds its wait to socket.timeout.ms.
    SetProperty(props, "socket.connection.setup.timeout.ms", "10000");
    SetProperty(props, "reconnect.backoff.max.ms", "2000");
    SetProperty(props, "socket.timeout.ms", "10000");
  }
  for (const auto& [k, v] : properties_) SetProperty(props, k, v);
  if (!bootstrap_servers_.empty()) SetProperty(props, "bootstrap.servers", bootstrap_servers_);
  if (!sasl_password_.empty()) SetProperty(props, "sasl.password", sasl_password_);

  const std::string* bootstrap = FindProperty(props, "bootstrap.servers");
  if (bootstrap == nullptr || absl::StripAsciiWhitespace(*bootstrap).empty()) {
    return absl::InvalidArgumentError(absl::StrCat("kafka: no bootstrap servers; set --",
                                                   kBootstrapServersFlag,
                                                   " (KAFKA_BOOTSTRAP_SERVERS)"));
  }
  if (const std::string* v = FindProperty(props, "enable.ssl.certificate.verification");
      v != nullptr && IsFalse(*v)) {
    return absl::InvalidArgumentError(
        "kafka: enable.ssl.certificate.verification=false disables broker certificate checks; "
        "remove it (use ssl.ca.location for a private CA)");
  }
  if (const std::string* v = FindProperty(props, "ssl.endpoint.identification.algorithm");
      v != nullptr && absl::AsciiStrToLower(*v) == "none") {
    return absl::InvalidArgumentError(
        "kafka: ssl.endpoint.identification.algorithm=none disables broker hostname checks; "
        "remove it (the default is https)");
  }

  if (role == KafkaRole::kProducer) {
    // librdkafka 2.0.2 sends gzip, snappy and lz4 batches uncompressed to Kafka >= 4.0 without a
    // word (librdkafka #4956, fixed in 2.11.1): refuse them rather than pretend. zstd works.
    for (const char* codec_key : {"compression.type", "compression.codec"}) {
      if (const std::string* v = FindProperty(props, codec_key); v != nullptr) {
        const std::string codec = absl::AsciiStrToLower(*v);
        if (codec == "gzip" || codec == "snappy" || codec == "lz4") {
          return absl::InvalidArgumentError(absl::StrCat(
              "kafka producer: ", codec_key, "=", *v,
              " is sent uncompressed to Kafka >= 4.0 by librdkafka 2.0.2 (librdkafka issue "
              "#4956); use zstd or none"));
        }
      }
    }
    for (const char* acks_key : {"acks", "request.required.acks"}) {
      if (const std::string* v = FindProperty(props, acks_key);
          v != nullptr && absl::AsciiStrToLower(*v) != "all" && *v != "-1") {
        return absl::InvalidArgumentError(absl::StrCat(
            "kafka producer: ", acks_key, "=", *v,
            " can lose acknowledged events when a leader fails; the idempotent producer "
            "requires acks=all (remove the override)"));
      }
    }
    // Idempotence stays on unless switched off explicitly, for a broker that does not grant it
    // (Azure Event Hubs' Standard tier); the relay then keeps per-key order itself (one in-flight
    // event per aggregate, outbox-relay --max-in-flight-per-key=1).
    if (FindProperty(props, "enable.idempotence") == nullptr) {
      SetProperty(props, "enable.idempotence", "true");
    }
    if (FindProperty(props, "request.required.acks") == nullptr) SetProperty(props, "acks", "all");
  } else {
    if (group_id.empty()) {
      return absl::InvalidArgumentError("kafka consumer: a consumer group id is required");
    }
    for (const char* key : {"enable.auto.commit", "auto.commit.enable"}) {
      if (const std::string* v = FindProperty(props, key); v != nullptr && !IsFalse(*v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kafka consumer: ", key, "=", *v,
            " would commit offsets of events not yet applied (lost on a crash); offsets are "
            "committed after the database transaction (remove the override)"));
      }
    }
    SetProperty(props, "group.id", group_id);
    if (FindProperty(props, "auto.commit.enable") == nullptr) {
      SetProperty(props, "enable.auto.commit", "false");
    }
  }
  return props;
}

absl::StatusOr<ConfPtr> KafkaSettings::Build(KafkaRole role, absl::string_view group_id) const {
  ASSIGN_OR_RETURN(std::vector<KafkaProperty> props, EffectiveProperties(role, group_id));
  ConfPtr conf(rd_kafka_conf_new());
  RouteKafkaLogs(conf.get());
  for (const auto& [k, v] : props) {
    char errstr[512];
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      if (IsSecretKafkaProperty(k)) {
        return absl::InvalidArgumentError(
            absl::StrCat("kafka property '", k, "': rejected by librdkafka (value not shown)"));
      }
      return absl::InvalidArgumentError(absl::StrCat("kafka property '", k, "': ", errstr));
    }
  }
  return conf;
}

absl::Status KafkaSettings::Validate() const {
  RETURN_IF_ERROR(Build(KafkaRole::kProducer).status());
  return Build(KafkaRole::kConsumer, "validate").status();
}

std::string KafkaSettings::DescribeRedacted() const {
  std::vector<KafkaProperty> props;
  props.emplace_back("bootstrap.servers", bootstrap_servers_);
  props.insert(props.end(), properties_.begin(), properties_.end());
  if (!sasl_password_.empty()) props.emplace_back("sasl.password", sasl_password_);
  return Describe(props);
}

std::string KafkaSettings::DescribeRedacted(KafkaRole role, absl::string_view group_id) const {
  absl::StatusOr<std::vector<KafkaProperty>> props = EffectiveProperties(role, group_id);
  if (!props.ok()) return std::string(props.status().message());
  return Describe(*props);
}

absl::StatusOr<HandlePtr> NewKafkaHandle(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("rd_kafka_new: ", errstr));
  }
  conf.release();  // owned by rk now
  return HandlePtr(rk);
}

void RouteKafkaLogs(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, &LogCallback); }

}  // namespace quoteflow::kafka
