// SagaSystem: the whole quoteflow system by choreography (or orchestration, see
// SagaSystemOptions::saga_mode) as real child processes, for end-to-end
// and chaos tests: quote-api, one outbox-relay per schema (quote, policy, customer; more replicas
// on request), policy-worker, customer-worker and quote-worker, pointed at a Postgres database and
// a Kafka bootstrap list (by default the shared test environment's, tests/support/
// test_environment.h). Start() waits until every gRPC server reports SERVING. Each process can be
// SIGKILLed and started again with the same arguments (Kill()/Restart()), which is what the chaos
// suite (tests/chaos) does under load. Topic names can carry a prefix so that several systems (one
// per chaos scenario) share one broker without seeing each other's records; the dead-letter topics
// are then "<prefix>quotes.dlq", ... and must exist (the caller creates them on the broker).
//
// For partition tests, processes can run on hosts of their own (network namespaces,
// SagaSystemOptions::net and host_of), and StartCopy() adds another instance of a process (a second
// worker of the same consumer group) while the system runs.
//
// Each process's stderr (its JSON log) is appended to <gtest TempDir>/<log_prefix>-<name>.log;
// Logs() returns their tails for failure messages.
//
// Thread-safety: Start(), Stop(), Kill() and Restart() must be called from one long-lived thread
// (the test body: a child's PDEATHSIG is tied to the thread that started it); Kill()/Restart()
// /Dead()/Logs() take an internal lock so that a load thread may call Logs() or Dead() meanwhile.
// The stubs are thread-safe (gRPC stubs) and stay valid across restarts of their server (the port
// is kept).
#ifndef QUOTEFLOW_TESTS_SUPPORT_SAGA_SYSTEM_H_
#define QUOTEFLOW_TESTS_SUPPORT_SAGA_SYSTEM_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/policy.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "quoteflow/v1/saga.grpc.pb.h"

namespace quoteflow::testing {

class NetHosts;

struct SagaSystemOptions {
  // Empty: Env().database_url() / Env().bootstrap_servers(); with the latter, topic_prefix and
  // group_prefix default to Env().topic_prefix() / group_prefix() (the run's tests share a broker).
  std::string database_url;
  std::string bootstrap_servers;
  // Log files are <TempDir>/<log_prefix>-<process>.log.
  std::string log_prefix = "saga-e2e";
  // Prepended to the topic names quotes, policies, customers (and so to their .dlq topics).
  std::string topic_prefix;
  // Prepended to the workers' consumer group ids (empty: the default groups = consumer names).
  std::string group_prefix;
  // Relay replicas per outbox schema, named relay-<schema> (first) and relay-<schema>-<n>.
  int relays_per_schema = 1;
  // The relays' fallback poll (--poll-interval). Short by default so that tests about other
  // things do not wait on a missed wake-up; long where a test proves the writers' doorbell is
  // what wakes the relays.
  std::string relay_poll_interval = "200ms";
  int underwriting_limit = 1000000;
  int default_max_policies = 3;
  // Extra command-line arguments by process name ("quote-api", "relay-quote", "policy-worker",
  // ...).
  std::map<std::string, std::vector<std::string>> extra_args;
  // Extra environment of every process.
  std::vector<std::pair<std::string, std::string>> extra_env;
  // "orchestration": the saga by orchestration instead (README "Orchestration mode"): the workers
  // run with --saga-mode=orchestration on their command topics, plus relay-saga
  // (--outbox-schema=saga) and `orchestrators` saga-orchestrator processes (one consumer group),
  // named saga-orchestrator (first) and saga-orchestrator-<n>. Commands and replies go to the
  // topics of consumers/orchestrator/saga_topics.h with topic_prefix before them.
  std::string saga_mode = "choreography";
  int orchestrators = 1;
  // Partition tests: processes run on hosts of `net` (network namespaces, net_hosts.h), by process
  // name ("quote-api", "relay-quote-1", ...). A placed process runs inside its host's namespace
  // and its gRPC server listens on the host's address; the others run here on 127.0.0.1. The
  // database URL and bootstrap list must then name addresses every host reaches (the bridge's).
  const NetHosts* net = nullptr;
  std::map<std::string, std::string> host_of;
};

class SagaSystem {
 public:
  explicit SagaSystem(SagaSystemOptions options = {});
  ~SagaSystem();

  // Starts every process and waits (30 s each) until the gRPC servers report SERVING.
  // UNAVAILABLE ("no broker") without a bootstrap list; ChildProcess::Start's errors;
  // DEADLINE_EXCEEDED when a server did not come up.
  absl::Status Start();

  // SIGTERMs every process (workers first, reverse start order) and returns the names of those
  // that did not exit 0 within 20 s ("<name> (had exited)" for one already gone).
  std::vector<std::string> Stop();

  // Process names in start order.
  std::vector<std::string> Names() const;
  // Names of processes that are not running.
  std::vector<std::string> Dead();
  // Tails of every process's log.
  std::string Logs() const;
  std::string LogPath(const std::string& name) const;

  // SIGKILLs `name` and reaps it. NOT_FOUND for an unknown name; OK when it had already exited.
  absl::Status Kill(const std::string& name);
  // Starts `name` again with its arguments (after Kill() or a crash; kills it first if it still
  // runs) and, for a gRPC server, waits until it reports SERVING (up to `timeout`).
  absl::Status Restart(const std::string& name, absl::Duration timeout = absl::Seconds(30));

  // Starts one more instance of process `of` under the name `name` (same arguments; a gRPC server
  // gets a port of its own), on `host` of options.net ("": where `of` runs), and waits as
  // Restart() does. It is then known by Kill()/Restart()/Stop() like the others (a second worker
  // of the same consumer group, say). NOT_FOUND for an unknown `of`; ALREADY_EXISTS for a taken
  // name.
  absl::Status StartCopy(const std::string& name, const std::string& of,
                         const std::string& host = "", absl::Duration timeout = absl::Seconds(30));

  v1::QuoteService::Stub& quotes() { return *quotes_; }
  v1::CustomerService::Stub& customers() { return *customers_; }
  v1::PolicyService::Stub& policies() { return *policies_; }
  int quote_port() const { return quote_port_; }
  // The address quote-api listens on (127.0.0.1 unless placed on a host).
  const std::string& quote_address() const { return quote_address_; }
  // Orchestration mode only: SagaService of the first orchestrator, and each orchestrator's port.
  v1::SagaService::Stub& sagas() { return *sagas_; }
  const std::vector<int>& saga_ports() const { return saga_ports_; }

  // The topic names this system uses.
  std::string topic(const std::string& base) const { return options_.topic_prefix + base; }

  static std::shared_ptr<grpc::Channel> Channel(int port);
  static std::shared_ptr<grpc::Channel> Channel(const std::string& address, int port);

 private:
  struct Proc {
    std::string name;
    std::string path;
    std::vector<std::string> args;
    int grpc_port = 0;  // 0: no gRPC server
    std::string address = "127.0.0.1";  // of its gRPC server
    std::string host;                   // of options_.net; "": here
    std::unique_ptr<process::ChildProcess> child;
  };

  void Add(const std::string& name, const std::string& path, std::vector<std::string> args,
           int grpc_port);
  absl::Status Spawn(Proc& proc);
  Proc* Find(const std::string& name);
  static absl::Status WaitServing(const std::string& address, int port, absl::Duration timeout);
  // The host of options_.net that `name` runs on ("": here) and its gRPC address.
  std::string HostOf(const std::string& name) const;
  std::string AddressOf(const std::string& name) const;

  SagaSystemOptions options_;
  std::vector<std::pair<std::string, std::string>> env_;
  mutable std::mutex mu_;
  std::vector<Proc> procs_;  // guarded by mu_ (the child pointers; the rest is set before Start)
  int quote_port_ = 0, customer_port_ = 0, policy_port_ = 0;
  std::string quote_address_ = "127.0.0.1";
  std::vector<int> saga_ports_;
  std::unique_ptr<v1::QuoteService::Stub> quotes_;
  std::unique_ptr<v1::CustomerService::Stub> customers_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
  std::unique_ptr<v1::SagaService::Stub> sagas_;
};

// The tail (last `bytes`) of a file, "" if unreadable.
std::string FileTail(const std::string& path, size_t bytes = 3000);

}  // namespace quoteflow::testing

#endif  // QUOTEFLOW_TESTS_SUPPORT_SAGA_SYSTEM_H_
