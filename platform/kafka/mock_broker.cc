#include "platform/kafka/mock_broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"

namespace quoteflow::kafka {
namespace {

// Kafka protocol api keys (the protocol's numbering; librdkafka's RD_KAFKAP_* constants are in a
// private header).
struct ApiKeyName {
  const char* name;
  int16_t key;
};
constexpr ApiKeyName kApiKeys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Offset", 2},
    {"Metadata", 3},
    {"LeaderAndIsr", 4},
    {"StopReplica", 5},
    {"UpdateMetadata", 6},
    {"ControlledShutdown", 7},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"GroupCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersion", 18},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"DeleteRecords", 21},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"WriteTxnMarkers", 27},
    {"TxnOffsetCommit", 28},
    {"DescribeAcls", 29},
    {"CreateAcls", 30},
    {"DeleteAcls", 31},
    {"DescribeConfigs", 32},
    {"AlterConfigs", 33},
    {"AlterReplicaLogDirs", 34},
    {"DescribeLogDirs", 35},
    {"SaslAuthenticate", 36},
    {"CreatePartitions", 37},
    {"CreateDelegationToken", 38},
    {"RenewDelegationToken", 39},
    {"ExpireDelegationToken", 40},
    {"DescribeDelegationToken", 41},
    {"DeleteGroups", 42},
    {"ElectLeaders", 43},
    {"IncrementalAlterConfigs", 44},
    {"AlterPartitionReassignments", 45},
    {"ListPartitionReassignments", 46},
    {"OffsetDelete", 47},
};

constexpr int16_t kMetadataApiKey = 3;
constexpr int16_t kMetadataMaxVersion = 4;

absl::Status KafkaError(absl::string_view what, rd_kafka_resp_err_t err) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", rd_kafka_err2name(err), " (", rd_kafka_err2str(err), ")"));
}

absl::StatusOr<int> ParseInt(absl::string_view text, absl::string_view what, int min, int max) {
  int v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", text, "' is not an integer in [", min, ", ", max, "]"));
  }
  return v;
}

// librdkafka 2.0.2's mock thread sometimes misses the wakeup for a command (topic create,
// broker up/down, rtt, leader, destroy) and only serves it at its next 1 s poll timeout: measured,
// about one call in three took 1000 ms. While a command runs, a ScopedWaker opens and closes a
// TCP connection to each mock listener every 2 ms; every accept wakes the mock thread, which then
// serves the pending command, so commands take milliseconds. The connections carry no request.
class ScopedWaker {
 public:
  explicit ScopedWaker(const std::vector<int>& ports) : ports_(ports) {
    if (!ports_.empty()) thread_ = std::thread([this] { Run(); });
  }
  ~ScopedWaker() {
    done_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    while (!done_.load()) {
      for (int port : ports_) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        struct sockaddr_in addr;
        std::memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        (void)connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
        close(fd);
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  std::vector<int> ports_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Ports of "127.0.0.1:1234,127.0.0.1:5678".
std::vector<int> PortsOf(absl::string_view bootstrap_servers) {
  std::vector<int> ports;
  for (absl::string_view server : absl::StrSplit(bootstrap_servers, ',', absl::SkipEmpty())) {
    int port = 0;
    size_t colon = server.rfind(':');
    if (colon != absl::string_view::npos && absl::SimpleAtoi(server.substr(colon + 1), &port)) {
      ports.push_back(port);
    }
  }
  return ports;
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

absl::StatusOr<int16_t> ParseKafkaApiKey(absl::string_view name) {
  int number = 0;
  if (absl::SimpleAtoi(name, &number)) {
    if (number < 0 || number > 100) {
      return absl::InvalidArgumentError(absl::StrCat("api key ", number, " out of range"));
    }
    return static_cast<int16_t>(number);
  }
  absl::string_view base = name;
  absl::ConsumeSuffix(&base, "Request");
  absl::ConsumeSuffix(&base, "request");
  for (const ApiKeyName& k : kApiKeys) {
    if (absl::EqualsIgnoreCase(base, k.name)) return k.key;
  }
  std::vector<std::string> names;
  for (const ApiKeyName& k : kApiKeys) names.emplace_back(k.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown request type '", name, "' (known: ", absl::StrJoin(names, " "), ")"));
}

absl::StatusOr<rd_kafka_resp_err_t> ParseKafkaError(absl::string_view name) {
  const struct rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  int number = 0;
  if (absl::SimpleAtoi(name, &number)) {
    for (size_t i = 0; i < count; ++i) {
      if (descs[i].name != nullptr && descs[i].code == number) return descs[i].code;
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown kafka error code ", number));
  }
  absl::string_view base = name;
  if (!absl::ConsumePrefix(&base, "RD_KAFKA_RESP_ERR_")) {
    absl::ConsumePrefix(&base, "rd_kafka_resp_err_");
  }
  for (size_t i = 0; i < count; ++i) {
    if (descs[i].name != nullptr && absl::EqualsIgnoreCase(base, descs[i].name)) {
      return descs[i].code;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown kafka error '", name, "' (use a name like NOT_LEADER_FOR_PARTITION or a number)"));
}

absl::StatusOr<std::unique_ptr<MockBroker>> MockBroker::Start(const Options& options) {
  if (options.brokers < 1 || options.brokers > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("mock broker count ", options.brokers, " not in [1, 64]"));
  }
  ConfPtr conf(rd_kafka_conf_new());
  RouteKafkaLogs(conf.get());
  // The hosting handle never connects anywhere: drop its "no bootstrap.servers" warning.
  rd_kafka_conf_set_log_cb(
      conf.get(), [](const rd_kafka_t*, int level, const char* fac, const char* buf) {
        if (absl::string_view(fac) == "CONFWARN" && absl::StrContains(buf, "bootstrap.servers"))
          return;
        log::Write(level <= 3   ? log::Level::kError
                   : level == 4 ? log::Level::kWarn
                   : level <= 6 ? log::Level::kInfo
                                : log::Level::kDebug,
                   buf, {{"rdkafka_fac", fac}, {"client", "mock-cluster"}});
      });
  char errstr[512];
  if (rd_kafka_conf_set(conf.get(), "client.id", "quoteflow-mock-cluster", errstr,
                        sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    return absl::InternalError(errstr);
  }
  absl::StatusOr<HandlePtr> rk = NewKafkaHandle(RD_KAFKA_PRODUCER, std::move(conf));
  if (!rk.ok()) return absl::InternalError(rk.status().message());

  auto broker = std::unique_ptr<MockBroker>(new MockBroker());
  broker->rk_ = *std::move(rk);
  broker->cluster_ = rd_kafka_mock_cluster_new(broker->rk_.get(), options.brokers);
  if (broker->cluster_ == nullptr) {
    return absl::InternalError("rd_kafka_mock_cluster_new failed (see the rdkafka log lines)");
  }
  broker->bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(broker->cluster_);
  broker->ports_ = PortsOf(broker->bootstrap_servers_);
  ScopedWaker waker(broker->ports_);
  // The mock advertises Metadata v0-v2 only, and before v4 a Metadata request has no
  // AllowAutoTopicCreation flag, so the mock auto-creates every topic a client asks about. Its
  // handler parses v4 (the flag) correctly; advertising v4 makes unknown topics a real error for
  // clients with allow.auto.create.topics=false (and auto-creation opt-in, as on real Kafka).
  if (rd_kafka_resp_err_t err =
          rd_kafka_mock_set_apiversion(broker->cluster_, kMetadataApiKey, 0, kMetadataMaxVersion)) {
    return absl::InternalError(
        absl::StrCat("enable Metadata v", kMetadataMaxVersion, ": ", rd_kafka_err2name(err)));
  }
  broker->broker_count_ = options.brokers;
  for (const TopicSpec& t : options.topics) {
    // Replication is capped by the broker count: 3 when there are enough brokers.
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
        broker->cluster_, t.name.c_str(), t.partitions, std::min(3, options.brokers));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(
          absl::StrCat("create topic ", t.name, ": ", rd_kafka_err2name(err)));
    }
  }
  return broker;
}

MockBroker::~MockBroker() {
  if (cluster_ != nullptr) {
    ScopedWaker waker(ports_);
    rd_kafka_mock_cluster_destroy(cluster_);
  }
  cluster_ = nullptr;
  rk_.reset();
}

absl::StatusOr<int32_t> MockBroker::ParseBrokerId(absl::string_view text, bool allow_all) const {
  int id = 0;
  if (absl::SimpleAtoi(text, &id) &&
      ((allow_all && id == -1) || (id >= 1 && id <= broker_count_))) {
    return id;
  }
  return absl::InvalidArgumentError(absl::StrCat("broker id '", text, "' must be in [1, ",
                                                 broker_count_, "]", allow_all ? " or -1" : ""));
}

absl::Status MockBroker::Execute(absl::string_view command) {
  std::vector<std::string> args =
      absl::StrSplit(command, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
  if (args.empty()) return absl::InvalidArgumentError("empty command");
  absl::MutexLock lock(&mu_);
  absl::Status s;
  {
    ScopedWaker waker(ports_);
    s = ExecuteLocked(args);
  }
  if (s.ok()) {
    log::Info("control command", {{"command", command}});
  } else {
    log::Warn("control command failed", {{"command", command}, {"error", s.message()}});
  }
  return s;
}

absl::Status MockBroker::ExecuteLocked(const std::vector<std::string>& args) {
  const std::string& cmd = args[0];
  auto want = [&](size_t n, absl::string_view usage) -> absl::Status {
    if (args.size() != n + 1) return absl::InvalidArgumentError(absl::StrCat("usage: ", usage));
    return absl::OkStatus();
  };
  if (cmd == "ping") {
    RETURN_IF_ERROR(want(0, "ping"));
    return absl::OkStatus();
  }
  if (cmd == "broker-down" || cmd == "broker-up") {
    RETURN_IF_ERROR(want(1, absl::StrCat(cmd, " ID|-1")));
    ASSIGN_OR_RETURN(int32_t id, ParseBrokerId(args[1], /*allow_all=*/true));
    rd_kafka_resp_err_t err = cmd == "broker-down" ? rd_kafka_mock_broker_set_down(cluster_, id)
                                                   : rd_kafka_mock_broker_set_up(cluster_, id);
    if (err) return KafkaError(cmd, err);
    return absl::OkStatus();
  }
  if (cmd == "rtt") {
    RETURN_IF_ERROR(want(2, "rtt ID|-1 MS"));
    ASSIGN_OR_RETURN(int32_t id, ParseBrokerId(args[1], /*allow_all=*/true));
    ASSIGN_OR_RETURN(int ms, ParseInt(args[2], "rtt", 0, 600000));
    if (rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_rtt(cluster_, id, ms)) {
      return KafkaError(cmd, err);
    }
    return absl::OkStatus();
  }
  if (cmd == "errors") {
    RETURN_IF_ERROR(want(3, "errors REQUEST COUNT ERROR"));
    ASSIGN_OR_RETURN(int16_t api_key, ParseKafkaApiKey(args[1]));
    ASSIGN_OR_RETURN(int count, ParseInt(args[2], "count", 1, 100000));
    ASSIGN_OR_RETURN(rd_kafka_resp_err_t error, ParseKafkaError(args[3]));
    std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(count), error);
    rd_kafka_mock_push_request_errors_array(cluster_, api_key, errors.size(), errors.data());
    return absl::OkStatus();
  }
  if (cmd == "clear-errors") {
    RETURN_IF_ERROR(want(1, "clear-errors REQUEST"));
    ASSIGN_OR_RETURN(int16_t api_key, ParseKafkaApiKey(args[1]));
    rd_kafka_mock_clear_request_errors(cluster_, api_key);
    return absl::OkStatus();
  }
  if (cmd == "leader") {
    RETURN_IF_ERROR(want(3, "leader TOPIC PARTITION BROKER|-1"));
    ASSIGN_OR_RETURN(int partition, ParseInt(args[2], "partition", 0, 100000));
    ASSIGN_OR_RETURN(int32_t id, ParseBrokerId(args[3], /*allow_all=*/true));
    if (rd_kafka_resp_err_t err =
            rd_kafka_mock_partition_set_leader(cluster_, args[1].c_str(), partition, id)) {
      return KafkaError(cmd, err);
    }
    return absl::OkStatus();
  }
  if (cmd == "create-topic") {
    RETURN_IF_ERROR(want(2, "create-topic NAME PARTITIONS"));
    ASSIGN_OR_RETURN(int partitions, ParseInt(args[2], "partitions", 1, 10000));
    if (rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, args[1].c_str(), partitions,
                                                             std::min(3, broker_count_))) {
      return KafkaError(cmd, err);
    }
    return absl::OkStatus();
  }
  if (cmd == "topic-error") {
    RETURN_IF_ERROR(want(2, "topic-error TOPIC ERROR"));
    ASSIGN_OR_RETURN(rd_kafka_resp_err_t error, ParseKafkaError(args[2]));
    rd_kafka_mock_topic_set_error(cluster_, args[1].c_str(), error);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown command '", cmd,
      "' (known: ping broker-down broker-up rtt errors clear-errors leader create-topic "
      "topic-error)"));
}

absl::Status ServeControl(MockBroker& broker, int in_fd, int out_fd, int stop_fd) {
  std::string pending;
  bool in_open = in_fd >= 0;
  while (true) {
    struct pollfd fds[2] = {{stop_fd, POLLIN, 0}, {in_open ? in_fd : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (fds[0].revents != 0) return absl::OkStatus();
    if (fds[1].revents == 0) continue;
    char buf[4096];
    ssize_t n = read(in_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      // EOF (or a broken stdin): keep serving the cluster until stopped.
      in_open = false;
      log::Info("control input closed; serving until SIGTERM");
      continue;
    }
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (absl::StripAsciiWhitespace(line).empty()) continue;
      absl::Status s = broker.Execute(line);
      std::string reply = "ok\n";
      if (!s.ok()) {
        std::string reason(s.message());
        std::replace(reason.begin(), reason.end(), '\n', ' ');
        reply = absl::StrCat("error: ", reason, "\n");
      }
      if (!WriteAll(out_fd, reply)) log::Warn("cannot write control reply");
    }
  }
}

}  // namespace quoteflow::kafka
