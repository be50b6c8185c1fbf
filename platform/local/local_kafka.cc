#include "platform/local/local_kafka.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "domain/status_macros.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/observability/log.h"

namespace quoteflow {
namespace {

namespace fs = std::filesystem;

#ifdef QUOTEFLOW_SOURCE_DIR
constexpr char kSourceDir[] = QUOTEFLOW_SOURCE_DIR;
#else
constexpr char kSourceDir[] = ".";
#endif

#ifdef QUOTEFLOW_KAFKA_LIBS
constexpr char kCompiledLibsDir[] = QUOTEFLOW_KAFKA_LIBS;
#else
constexpr char kCompiledLibsDir[] = "";
#endif

// Quiet broker logs: warnings from Kafka itself, the lines that say the node is up, and, at INFO,
// replication and leadership (leader/follower changes, ISR updates, truncations, the controller's
// partition changes with any unclean election): what explains a record lost across broker crashes.
constexpr char kLog4j2Properties[] = R"(status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:quoteflow.kafka.log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = FILE
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = info
logger.state.name = state.change.logger
logger.state.level = info
logger.partition.name = kafka.cluster.Partition
logger.partition.level = info
logger.log.name = org.apache.kafka.storage.internals.log.UnifiedLog
logger.log.level = info
logger.fetcher.name = kafka.server.ReplicaFetcherThread
logger.fetcher.level = info
logger.changes.name = org.apache.kafka.controller.ReplicationControlManager
logger.changes.level = info
logger.election.name = org.apache.kafka.controller.PartitionChangeBuilder
logger.election.level = info
)";

std::string FindJava() {
  if (const char* home = getenv("JAVA_HOME"); home != nullptr && *home != '\0') {
    std::string candidate = absl::StrCat(home, "/bin/java");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path == nullptr ? "/usr/bin:/bin" : path, ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/java");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

bool HasKafkaJar(const std::string& libs_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(libs_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "kafka_2.13-") && absl::EndsWith(name, ".jar")) return true;
  }
  return false;
}

// A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool makes),
// never starting with '-' (StorageTool would read it as an option).
std::string NewClusterId() {
  std::random_device rd;
  std::string id;
  do {
    std::string bytes(16, '\0');
    for (char& c : bytes) c = static_cast<char>(rd() & 0xff);
    absl::WebSafeBase64Escape(bytes, &id);
  } while (id.front() == '-');
  return id;
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& path, size_t bytes) {
  std::string all = ReadFile(path);
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

// A JAAS string value: double quotes and backslashes escaped.
std::string JaasQuote(absl::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// A .properties value: backslashes escaped (a line continuation or escape otherwise).
std::string PropertiesValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Runs a Kafka tool class to completion and returns its exit code and output.
absl::StatusOr<std::pair<int, std::string>> RunTool(const std::string& java,
                                                    const std::string& libs_dir,
                                                    const std::string& log4j,
                                                    const std::vector<std::string>& args,
                                                    const std::string& output_path,
                                                    absl::Duration timeout) {
  std::vector<std::string> argv = {"-Xmx256m", "-XX:TieredStopAtLevel=1",
                                   absl::StrCat("-Dlog4j2.configurationFile=", log4j),
                                   absl::StrCat("-Dquoteflow.kafka.log=", output_path), "-cp",
                                   libs_dir + "/*"};
  argv.insert(argv.end(), args.begin(), args.end());
  fs::remove(output_path);
  ASSIGN_OR_RETURN(std::unique_ptr<process::ChildProcess> child,
                   process::ChildProcess::Start(
                       {.path = java, .args = argv, .capture_stdout = true,
                        .stderr_path = output_path}));
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> line = child->ReadLine(deadline);
    if (!line.ok()) break;
    absl::StrAppend(&out, *line, "\n");
  }
  absl::StatusOr<int> code = child->Wait(deadline);
  if (!code.ok()) {
    return absl::UnavailableError(absl::StrCat("kafka tool ", args.front(), " did not finish: ",
                                               code.status().message()));
  }
  return std::make_pair(*code, absl::StrCat(out, ReadFile(output_path)));
}

}  // namespace

absl::StatusOr<LocalKafka::SaslSslListener> LocalKafka::DevSaslSslListener(
    const std::string& dir) {
  const std::string certs = dir + "/certs";
  if (!fs::exists(certs + "/server.pem")) {
    const std::string command = absl::StrCat("bash '", kSourceDir, "/scripts/make-dev-certs.sh' '",
                                             certs, "' >/dev/null 2>&1");
    if (std::system(command.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("scripts/make-dev-certs.sh ", certs, " failed"));
    }
  }
  const std::string password_path = dir + "/password";
  std::string password(absl::StripAsciiWhitespace(ReadFile(password_path)));
  if (password.empty()) {
    std::random_device rd;
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string key;
    for (int i = 0; i < 43; ++i) key.push_back(alphabet[rd() % 64]);
    password = absl::StrCat(
        "Endpoint=sb://quoteflow-local.servicebus.windows.net/;SharedAccessKeyName="
        "RootManageSharedAccessKey;SharedAccessKey=",
        key, "=");
    RETURN_IF_ERROR(WriteFile(password_path, password + "\n"));
    chmod(password_path.c_str(), 0600);
  }
  return SaslSslListener{.certificate_file = certs + "/server.pem",
                         .key_file = certs + "/server.key",
                         .users = {{"$ConnectionString", password}},
                         .ca_file = certs + "/ca.pem"};
}

std::string LocalKafka::DefaultLibsDir() {
  if (const char* dir = getenv("QUOTEFLOW_KAFKA_LIBS"); dir != nullptr && *dir != '\0') return dir;
  return kCompiledLibsDir;
}

absl::StatusOr<std::unique_ptr<LocalKafka>> LocalKafka::Start(const Options& options) {
  if (options.nodes < 1 || options.nodes > 9) {
    return absl::InvalidArgumentError("LocalKafka: nodes must be in [1, 9]");
  }
  std::unique_ptr<LocalKafka> kafka(new LocalKafka());
  kafka->java_ = FindJava();
  if (kafka->java_.empty()) {
    return absl::FailedPreconditionError(
        "no java on PATH (or JAVA_HOME): run scripts/install-deps.sh (installs openjdk-17)");
  }
  kafka->libs_dir_ = options.libs_dir.empty() ? DefaultLibsDir() : options.libs_dir;
  if (kafka->libs_dir_.empty() || !HasKafkaJar(kafka->libs_dir_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the Apache Kafka jars are not in '", kafka->libs_dir_,
        "': run scripts/install-deps.sh (it resolves them from Maven Central), or point "
        "QUOTEFLOW_KAFKA_LIBS at a directory holding kafka_2.13-*.jar and its dependencies"));
  }
  kafka->heap_mb_ = options.heap_mb;
  kafka->new_session_ = options.new_session;
  kafka->host_ = options.host.empty() ? std::string("127.0.0.1") : options.host;
  kafka->start_timeout_ = options.start_timeout;
  std::error_code ec;
  if (options.dir.empty()) {
    std::string tmpl = "/tmp/quoteflow-kafka-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
    }
    kafka->dir_ = tmpl;
    kafka->temporary_ = true;
  } else {
    kafka->dir_ = fs::absolute(options.dir).lexically_normal().string();
    fs::create_directories(kafka->dir_, ec);
    if (ec) return absl::InternalError(absl::StrCat("mkdir ", kafka->dir_, ": ", ec.message()));
  }

  // Ports: reuse those of a kept directory (KRaft stored the voters' endpoints), else pick.
  const std::string ports_path = kafka->dir_ + "/ports";
  std::map<int, std::vector<int>> saved;
  for (absl::string_view line : absl::StrSplit(ReadFile(ports_path), '\n', absl::SkipEmpty())) {
    std::vector<int> v;
    for (absl::string_view f : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      int n = 0;
      if (absl::SimpleAtoi(f, &n)) v.push_back(n);
    }
    if (v.size() == 4) saved[v[0]] = {v[1], v[2], v[3]};
  }
  std::string ports_text;
  for (int id = 1; id <= options.nodes; ++id) {
    Node node;
    node.id = id;
    node.dir = absl::StrCat(kafka->dir_, "/node-", id);
    if (auto it = saved.find(id); it != saved.end()) {
      node.port = it->second[0];
      node.controller_port = it->second[1];
      node.sasl_port = it->second[2];
    } else {
      node.port = process::FreeTcpPort();
      node.controller_port = process::FreeTcpPort();
      node.sasl_port = process::FreeTcpPort();
    }
    if (node.port <= 0 || node.controller_port <= 0 || node.sasl_port <= 0) {
      return absl::UnavailableError("LocalKafka: no free TCP port");
    }
    absl::StrAppend(&ports_text, id, " ", node.port, " ", node.controller_port, " ",
                    node.sasl_port, "\n");
    fs::create_directories(node.dir, ec);
    kafka->nodes_.push_back(std::move(node));
  }
  RETURN_IF_ERROR(WriteFile(ports_path, ports_text));
  RETURN_IF_ERROR(WriteFile(kafka->dir_ + "/log4j2.properties", kLog4j2Properties));
  // ActiveController()'s admin client. Right after the active controller dies, the survivors
  // still name it in DescribeCluster and the tool sends DescribeQuorum to that dead node until
  // default.api.timeout.ms (60 s) runs out, long after the quorum has elected another leader
  // (2 s here). A short timeout makes a caller that polls ask again within seconds.
  RETURN_IF_ERROR(WriteFile(kafka->dir_ + "/quorum-tool.properties",
                            "request.timeout.ms=2000\ndefault.api.timeout.ms=4000\n"));

  std::vector<std::string> plain, sasl;
  for (const Node& node : kafka->nodes_) {
    plain.push_back(absl::StrCat(kafka->host_, ":", node.port));
    sasl.push_back(absl::StrCat(kafka->host_, ":", node.sasl_port));
    RETURN_IF_ERROR(kafka->WriteNodeConfig(node, options));
  }
  kafka->bootstrap_servers_ = absl::StrJoin(plain, ",");
  if (options.sasl_ssl != nullptr) kafka->sasl_bootstrap_servers_ = absl::StrJoin(sasl, ",");

  const absl::Time t0 = absl::Now();
  RETURN_IF_ERROR(kafka->Format(options));
  const absl::Time deadline = absl::Now() + options.start_timeout;
  for (Node& node : kafka->nodes_) RETURN_IF_ERROR(kafka->Spawn(node));
  for (Node& node : kafka->nodes_) RETURN_IF_ERROR(kafka->WaitListening(node, deadline));
  absl::Status complete =
      kafka::WaitForBrokers(kafka::KafkaSettings(kafka->bootstrap_servers_, {}), options.nodes,
                            std::max(absl::Seconds(1), deadline - absl::Now()));
  if (!complete.ok()) {
    return absl::UnavailableError(absl::StrCat(complete.message(), "; node 1 log: ",
                                               kafka->NodeLogTail(1)));
  }
  log::Info("kafka cluster ready",
            {{"bootstrap_servers", kafka->bootstrap_servers_},
             {"nodes", options.nodes},
             {"dir", kafka->dir_},
             {"ms", static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - t0))}});
  return kafka;
}

absl::Status LocalKafka::WriteNodeConfig(const Node& node, const Options& options) const {
  const int n = static_cast<int>(nodes_.size());
  const int replication = std::min(3, n);
  const int min_isr = std::min(2, n);
  std::vector<std::pair<std::string, std::string>> p = {
      {"process.roles", "broker,controller"},
      {"node.id", absl::StrCat(node.id)},
      {"controller.listener.names", "CONTROLLER"},
      {"inter.broker.listener.name", "PLAINTEXT"},
      {"log.dirs", node.dir + "/data"},
      {"auto.create.topics.enable", "false"},
      {"unclean.leader.election.enable", "false"},
      {"default.replication.factor", absl::StrCat(replication)},
      {"min.insync.replicas", absl::StrCat(min_isr)},
      {"offsets.topic.replication.factor", absl::StrCat(replication)},
      {"offsets.topic.num.partitions", "12"},
      {"transaction.state.log.replication.factor", absl::StrCat(replication)},
      {"transaction.state.log.min.isr", absl::StrCat(min_isr)},
      {"transaction.state.log.num.partitions", "4"},
      // Consumer groups form at once (the 3 s default delays every test's first rebalance).
      {"group.initial.rebalance.delay.ms", "0"},
      // Tests shorten session timeouts to see rebalances within seconds.
      {"group.min.session.timeout.ms", "1000"},
      {"num.network.threads", "2"},
      {"num.io.threads", "4"},
  };
  std::string listeners = absl::StrCat("PLAINTEXT://", host_, ":", node.port,
                                       ",CONTROLLER://127.0.0.1:", node.controller_port);
  std::string advertised = absl::StrCat("PLAINTEXT://", host_, ":", node.port);
  std::string protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT";
  if (options.sasl_ssl != nullptr) {
    absl::StrAppend(&listeners, ",SASL_SSL://", host_, ":", node.sasl_port);
    absl::StrAppend(&advertised, ",SASL_SSL://", host_, ":", node.sasl_port);
    absl::StrAppend(&protocols, ",SASL_SSL:SASL_SSL");
    // Kafka's PEM key store wants the private key and the certificate chain in one file.
    const std::string keystore = node.dir + "/sasl-ssl-keystore.pem";
    RETURN_IF_ERROR(WriteFile(keystore, absl::StrCat(ReadFile(options.sasl_ssl->key_file),
                                                     ReadFile(options.sasl_ssl->certificate_file))));
    std::string jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required";
    for (const auto& [user, password] : options.sasl_ssl->users) {
      absl::StrAppend(&jaas, " user_", user, "=", JaasQuote(password));
    }
    absl::StrAppend(&jaas, ";");
    p.push_back({"sasl.enabled.mechanisms", "PLAIN"});
    p.push_back({"listener.name.sasl_ssl.sasl.enabled.mechanisms", "PLAIN"});
    p.push_back({"listener.name.sasl_ssl.plain.sasl.jaas.config", jaas});
    p.push_back({"listener.name.sasl_ssl.ssl.keystore.type", "PEM"});
    p.push_back({"listener.name.sasl_ssl.ssl.keystore.location", keystore});
  }
  p.push_back({"listeners", listeners});
  p.push_back({"advertised.listeners", advertised});
  p.push_back({"listener.security.protocol.map", protocols});
  if (n == 1) {
    p.push_back({"controller.quorum.bootstrap.servers",
                 absl::StrCat("127.0.0.1:", node.controller_port)});
  } else {
    std::vector<std::string> voters;
    for (const Node& other : nodes_) {
      voters.push_back(absl::StrCat(other.id, "@127.0.0.1:", other.controller_port));
    }
    p.push_back({"controller.quorum.voters", absl::StrJoin(voters, ",")});
  }
  for (const auto& kv : options.settings) p.push_back(kv);

  // Later entries win; write each key once.
  std::map<std::string, std::string> last;
  for (const auto& [k, v] : p) last[k] = v;
  std::string text = "# Written by quoteflow's LocalKafka at every start.\n";
  for (const auto& [k, v] : p) {
    auto it = last.find(k);
    if (it == last.end()) continue;
    absl::StrAppend(&text, k, "=", PropertiesValue(it->second), "\n");
    last.erase(it);
  }
  return WriteFile(node.dir + "/server.properties", text);
}

absl::Status LocalKafka::Format(const Options& options) {
  const std::string id_path = dir_ + "/cluster-id";
  std::string cluster_id(absl::StripAsciiWhitespace(ReadFile(id_path)));
  if (cluster_id.empty()) {
    cluster_id = NewClusterId();
    RETURN_IF_ERROR(WriteFile(id_path, cluster_id + "\n"));
  }
  const std::string log4j = dir_ + "/log4j2.properties";
  for (const Node& node : nodes_) {
    if (fs::exists(node.dir + "/data/meta.properties")) continue;  // kept and formatted
    std::vector<std::string> args = {"kafka.tools.StorageTool", "format", "--cluster-id",
                                     cluster_id, "--config", node.dir + "/server.properties",
                                     "--ignore-formatted"};
    if (options.nodes == 1) args.push_back("--standalone");
    ASSIGN_OR_RETURN(auto result, RunTool(java_, libs_dir_, log4j, args, node.dir + "/format.log",
                                          absl::Seconds(120)));
    if (result.first != 0) {
      return absl::InternalError(absl::StrCat("formatting Kafka node ", node.id, " failed (exit ",
                                              result.first, "): ", result.second));
    }
  }
  return absl::OkStatus();
}

absl::Status LocalKafka::Spawn(Node& node) {
  std::vector<std::string> args = {
      absl::StrCat("-Xmx", heap_mb_, "m"),
      absl::StrCat("-Xms", std::min(heap_mb_, 128), "m"),
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-XX:+ExitOnOutOfMemoryError",
      "-Djava.awt.headless=true",
      absl::StrCat("-Dlog4j2.configurationFile=", dir_, "/log4j2.properties"),
      absl::StrCat("-Dquoteflow.kafka.log=", node.dir, "/kafka.log"),
      "-cp",
      libs_dir_ + "/*",
      "kafka.Kafka",
      node.dir + "/server.properties"};
  ASSIGN_OR_RETURN(node.jvm, process::ChildProcess::Start({.path = java_,
                                                            .args = args,
                                                            .stderr_path = node.dir + "/jvm.log",
                                                            .new_session = new_session_}));
  return absl::OkStatus();
}

absl::Status LocalKafka::WaitListening(Node& node, absl::Time deadline) {
  while (!process::AcceptsTcpConnections(host_, node.port)) {
    if (!node.jvm->Running()) {
      return absl::UnavailableError(absl::StrCat(
          "Kafka node ", node.id, " exited during start-up; ", NodeLogTail(node.id),
          Tail(node.dir + "/jvm.log", 2000)));
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("Kafka node ", node.id, " did not listen on ",
                                                 node.port, " in time; ", NodeLogTail(node.id)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

LocalKafka::~LocalKafka() {
  absl::Status stopped = Stop();
  if (!stopped.ok()) log::Warn("stopping kafka failed", {{"error", stopped.ToString()}});
  if (temporary_) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

LocalKafka::Node& LocalKafka::GetNode(int id) { return nodes_.at(id - 1); }
const LocalKafka::Node& LocalKafka::GetNode(int id) const { return nodes_.at(id - 1); }

std::string LocalKafka::NodeAddress(int node) const {
  return absl::StrCat(host_, ":", GetNode(node).port);
}

pid_t LocalKafka::NodePid(int node) const {
  const Node& n = GetNode(node);
  return n.jvm == nullptr ? -1 : n.jvm->pid();
}

bool LocalKafka::NodeRunning(int node) {
  Node& n = GetNode(node);
  return n.jvm != nullptr && n.jvm->Running();
}

std::string LocalKafka::NodeLogPath(int node) const { return GetNode(node).dir + "/kafka.log"; }

std::string LocalKafka::NodeLogTail(int node, size_t bytes) const {
  return Tail(NodeLogPath(node), bytes);
}

absl::Status LocalKafka::StopNode(int node, absl::Duration grace) {
  Node& n = GetNode(node);
  if (n.jvm == nullptr || !n.jvm->Running()) {
    n.jvm.reset();
    return absl::OkStatus();
  }
  (void)n.jvm->Signal(SIGCONT);  // a paused node cannot shut down
  (void)n.jvm->Signal(SIGTERM);
  absl::StatusOr<int> code = n.jvm->Wait(absl::Now() + grace);
  absl::Status status;
  if (!code.ok()) {
    status = absl::DeadlineExceededError(
        absl::StrCat("Kafka node ", node, " did not stop within ", absl::FormatDuration(grace),
                     "; killed"));
  } else if (*code != 0 && *code != 143) {
    status = absl::InternalError(absl::StrCat("Kafka node ", node, " exited with ", *code));
  }
  n.jvm.reset();  // SIGKILLs and reaps one still running
  return status;
}

void LocalKafka::KillNode(int node) { GetNode(node).jvm.reset(); }

absl::Status LocalKafka::PauseNode(int node) {
  Node& n = GetNode(node);
  if (n.jvm == nullptr || !n.jvm->Running()) {
    return absl::FailedPreconditionError(absl::StrCat("Kafka node ", node, " is not running"));
  }
  return n.jvm->Signal(SIGSTOP);
}

absl::Status LocalKafka::ResumeNode(int node) {
  Node& n = GetNode(node);
  if (n.jvm == nullptr || !n.jvm->Running()) {
    return absl::FailedPreconditionError(absl::StrCat("Kafka node ", node, " is not running"));
  }
  return n.jvm->Signal(SIGCONT);
}

absl::Status LocalKafka::StartNodes(const std::vector<int>& nodes) {
  for (int id : nodes) {
    Node& n = GetNode(id);
    if (n.jvm == nullptr || !n.jvm->Running()) RETURN_IF_ERROR(Spawn(n));
  }
  const absl::Time deadline = absl::Now() + start_timeout_;
  for (int id : nodes) RETURN_IF_ERROR(WaitListening(GetNode(id), deadline));
  return absl::OkStatus();
}

absl::StatusOr<int> LocalKafka::ActiveController() {
  std::vector<std::string> controllers;
  for (Node& node : nodes_) {
    if (node.jvm != nullptr && node.jvm->Running()) {
      controllers.push_back(absl::StrCat("127.0.0.1:", node.controller_port));
    }
  }
  if (controllers.empty()) return absl::UnavailableError("no Kafka node is running");
  ASSIGN_OR_RETURN(auto result,
                   RunTool(java_, libs_dir_, dir_ + "/log4j2.properties",
                           {"org.apache.kafka.tools.MetadataQuorumCommand",
                            "--bootstrap-controller", absl::StrJoin(controllers, ","),
                            "--command-config", dir_ + "/quorum-tool.properties", "describe",
                            "--status"},
                           dir_ + "/quorum-tool.log", absl::Seconds(30)));
  for (absl::string_view line : absl::StrSplit(result.second, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "LeaderId:")) continue;
    int id = -1;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &id) && id > 0) return id;
  }
  return absl::UnavailableError(absl::StrCat("no quorum leader (exit ", result.first,
                                             "): ", result.second.substr(0, 2000)));
}

absl::Status LocalKafka::Stop(absl::Duration grace) {
  // All at once: a node that stops after the others lost the quorum with them, and its controlled
  // shutdown would wait for a controller that is gone.
  for (Node& node : nodes_) {
    if (node.jvm == nullptr || !node.jvm->Running()) continue;
    (void)node.jvm->Signal(SIGCONT);
    (void)node.jvm->Signal(SIGTERM);
  }
  const absl::Time deadline = absl::Now() + grace;
  absl::Status first;
  for (Node& node : nodes_) {
    absl::Status s = StopNode(node.id, std::max(absl::ZeroDuration(), deadline - absl::Now()));
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

}  // namespace quoteflow
