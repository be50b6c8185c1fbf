// LocalKafka: a real Apache Kafka 4.1 cluster in KRaft mode on 127.0.0.1 (or another local address,
// Options::host), every node a combined
// broker + controller JVM started as a child process, for `make run`, the test fixture
// (tools/kafka: one cluster per ctest run) and the chaos suite's broker faults. The jars come from
// Maven Central through scripts/install-deps.sh (tools/kafka/pom.xml); Java 17 runs them.
//
// A single node formats its storage with `--standalone` and finds its quorum through
// controller.quorum.bootstrap.servers; several nodes share one cluster id and a static
// controller.quorum.voters list. Internal topics get replication min(3, nodes) and
// min.insync.replicas min(2, nodes); unclean leader election stays off; auto topic creation is off
// (CreateTopics in platform/kafka/kafka_admin.h makes the topics). Each node's log4j output goes to
// <dir>/node-<id>/kafka.log.
//
// Ports: chosen free at the first start and written to <dir>/ports, so that a kept directory (the
// launcher's .quoteflow/kafka) restarts on the same addresses; KRaft remembers its voters'
// endpoints. A node keeps its ports across StopNode()/StartNode().
//
// Ownership: the JVMs are children of the thread that called Start()/StartNode() with
// PR_SET_PDEATHSIG=SIGKILL (see platform/process/child_process.h): they die with it. The
// destructor stops every node (SIGTERM: controlled shutdown, then SIGKILL after the grace) and
// removes a temporary directory.
//
// Thread-safety: not thread-safe; one thread drives the cluster. Accessors of immutable state
// (bootstrap_servers(), node addresses) are safe from any thread.
#ifndef QUOTEFLOW_PLATFORM_LOCAL_LOCAL_KAFKA_H_
#define QUOTEFLOW_PLATFORM_LOCAL_LOCAL_KAFKA_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "platform/process/child_process.h"

namespace quoteflow {

class LocalKafka {
 public:
  // A SASL_SSL listener with the PLAIN mechanism on every node, beside PLAINTEXT (which the
  // nodes use between themselves): the shape of Azure Event Hubs' Kafka endpoint.
  struct SaslSslListener {
    // PEM files: the server certificate (chain) and its unencrypted PKCS#8 private key.
    std::string certificate_file;
    std::string key_file;
    // PLAIN users and their passwords (Event Hubs: "$ConnectionString" and a connection string).
    std::vector<std::pair<std::string, std::string>> users;
    // The CA that signed the certificate, for clients (not used by the broker).
    std::string ca_file;
  };

  // An Event Hubs-shaped listener for local use: certificates made by scripts/make-dev-certs.sh in
  // <dir>/certs, user "$ConnectionString", and a random Event Hubs-style connection string as its
  // password, kept in <dir>/password (mode 0600). Both are reused when present. INTERNAL when the
  // script fails.
  static absl::StatusOr<SaslSslListener> DevSaslSslListener(const std::string& dir);

  struct Options {
    // Directory of the Kafka jars. Empty: DefaultLibsDir().
    std::string libs_dir;
    // Cluster directory. Empty: a fresh mkdtemp directory under /tmp, removed on destruction.
    // Non-empty: created if missing, kept, and reused (not formatted again) when it holds a cluster.
    std::string dir;
    int nodes = 1;
    // The IPv4 address of this host that the client listeners (PLAINTEXT, SASL_SSL) bind and
    // advertise: another local address (a bridge's, say) makes the cluster reachable from network
    // namespaces (the partition tests). The controllers stay on 127.0.0.1.
    std::string host = "127.0.0.1";
    // JVM heap per node (-Xmx).
    int heap_mb = 512;
    // Extra server.properties entries; they win over the defaults.
    std::vector<std::pair<std::string, std::string>> settings;
    // Also listen for SASL_SSL clients (see SaslSslListener).
    const SaslSslListener* sasl_ssl = nullptr;
    // Start the JVMs in a session of their own, so that a terminal's Ctrl-C reaches only the
    // owner, which then stops them in order (the launcher).
    bool new_session = false;
    // How long Start()/StartNode() wait for the nodes to serve.
    absl::Duration start_timeout = absl::Seconds(120);
  };

  // The jars directory: $QUOTEFLOW_KAFKA_LIBS, else the one scripts/install-deps.sh fills
  // (compiled in from CMake's QUOTEFLOW_KAFKA_LIBS).
  static std::string DefaultLibsDir();

  // Formats (when new) and starts every node, and waits until the cluster lists all its brokers.
  // FAILED_PRECONDITION when Java or the jars are missing (run scripts/install-deps.sh);
  // INTERNAL when formatting fails (with its output); UNAVAILABLE when a node exits or the cluster
  // is not complete in time (with the node's log tail).
  static absl::StatusOr<std::unique_ptr<LocalKafka>> Start(const Options& options);

  LocalKafka(const LocalKafka&) = delete;
  LocalKafka& operator=(const LocalKafka&) = delete;
  ~LocalKafka();

  // "<host>:port,..." of every node's PLAINTEXT listener (Options::host, 127.0.0.1 by default).
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  // "<host>:port,..." of the SASL_SSL listeners; "" without one.
  const std::string& sasl_ssl_bootstrap_servers() const { return sasl_bootstrap_servers_; }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  const std::string& dir() const { return dir_; }
  // Node ids are 1..node_count().
  std::string NodeAddress(int node) const;
  // The node's JVM pid; -1 when it is not running.
  pid_t NodePid(int node) const;
  bool NodeRunning(int node);
  // The node's broker log (kafka.log in its directory) and its last `bytes`.
  std::string NodeLogPath(int node) const;
  std::string NodeLogTail(int node, size_t bytes = 3000) const;

  // SIGTERM (controlled shutdown) and wait up to `grace`, then SIGKILL. OK when already stopped.
  absl::Status StopNode(int node, absl::Duration grace = absl::Seconds(30));
  // SIGKILL and reap.
  void KillNode(int node);
  // SIGSTOP / SIGCONT. FAILED_PRECONDITION when the node is not running.
  absl::Status PauseNode(int node);
  absl::Status ResumeNode(int node);
  // Starts stopped or killed nodes again on their ports and waits until each accepts connections
  // (start every node of a cluster that lost its quorum in one call: none serves before a
  // majority of controllers runs).
  absl::Status StartNodes(const std::vector<int>& nodes);
  absl::Status StartNode(int node) { return StartNodes({node}); }

  // The node id of the active KRaft controller (asks the running nodes' controllers with Kafka's
  // MetadataQuorumCommand, within a few seconds). UNAVAILABLE when the quorum has no leader yet or
  // the tool fails: poll it to wait for an election.
  absl::StatusOr<int> ActiveController();

  // Stops every node (in reverse order). The first error, if any.
  absl::Status Stop(absl::Duration grace = absl::Seconds(30));

 private:
  struct Node {
    int id = 0;
    int port = 0;
    int controller_port = 0;
    int sasl_port = 0;
    std::string dir;
    std::unique_ptr<process::ChildProcess> jvm;
  };

  LocalKafka() = default;
  absl::Status WriteNodeConfig(const Node& node, const Options& options) const;
  absl::Status Format(const Options& options);
  absl::Status Spawn(Node& node);
  absl::Status WaitListening(Node& node, absl::Time deadline);
  Node& GetNode(int id);
  const Node& GetNode(int id) const;

  std::string java_;
  std::string libs_dir_;
  std::string dir_;
  std::string host_ = "127.0.0.1";
  bool temporary_ = false;
  bool new_session_ = false;
  int heap_mb_ = 512;
  absl::Duration start_timeout_;
  std::vector<Node> nodes_;
  std::string bootstrap_servers_;
  std::string sasl_bootstrap_servers_;
};

}  // namespace quoteflow

#endif  // QUOTEFLOW_PLATFORM_LOCAL_LOCAL_KAFKA_H_
