#include "tests/support/saga_system.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/net_hosts.h"
#include "tests/support/test_environment.h"

namespace quoteflow::testing {
std::string FileTail(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

SagaSystem::SagaSystem(SagaSystemOptions options) : options_(std::move(options)) {}

SagaSystem::~SagaSystem() {
  quotes_.reset();
  customers_.reset();
  policies_.reset();
  sagas_.reset();
  // ChildProcess's destructor SIGKILLs whatever still runs.
}

void SagaSystem::Add(const std::string& name, const std::string& path,
                     std::vector<std::string> args, int grpc_port) {
  auto extra = options_.extra_args.find(name);
  if (extra != options_.extra_args.end()) {
    args.insert(args.end(), extra->second.begin(), extra->second.end());
  }
  procs_.push_back(Proc{.name = name,
                        .path = path,
                        .args = std::move(args),
                        .grpc_port = grpc_port,
                        .address = AddressOf(name),
                        .host = HostOf(name)});
}

std::string SagaSystem::HostOf(const std::string& name) const {
  if (options_.net == nullptr) return "";
  auto it = options_.host_of.find(name);
  return it == options_.host_of.end() ? "" : it->second;
}

std::string SagaSystem::AddressOf(const std::string& name) const {
  const std::string host = HostOf(name);
  return host.empty() ? "127.0.0.1" : options_.net->Address(host);
}

absl::Status SagaSystem::Start() {
  const std::string url =
      options_.database_url.empty() ? Env().database_url() : options_.database_url;
  const bool orchestration = options_.saga_mode == "orchestration";
  if (options_.bootstrap_servers.empty()) {
    // The run's shared Kafka: this process's own topics and consumer groups.
    options_.bootstrap_servers = Env().bootstrap_servers();
    if (options_.topic_prefix.empty()) options_.topic_prefix = Env().topic_prefix();
    if (options_.group_prefix.empty()) options_.group_prefix = Env().group_prefix();
  }
  const std::string& bootstrap = options_.bootstrap_servers;
  if (bootstrap.empty()) return absl::UnavailableError("no broker");
  if (!orchestration && options_.saga_mode != "choreography") {
    return absl::InvalidArgumentError(absl::StrCat("saga_mode '", options_.saga_mode, "'"));
  }
  env_ = {{"DATABASE_URL", url}, {"KAFKA_BOOTSTRAP_SERVERS", bootstrap}};
  env_.insert(env_.end(), options_.extra_env.begin(), options_.extra_env.end());
  quote_port_ = process::FreeTcpPort();
  quote_address_ = AddressOf("quote-api");
  customer_port_ = process::FreeTcpPort();
  policy_port_ = process::FreeTcpPort();
  const std::string& p = options_.topic_prefix;
  auto group = [&](const std::string& worker) -> std::vector<std::string> {
    if (options_.group_prefix.empty()) return {};
    return {absl::StrCat("--consumer-group=", options_.group_prefix, worker)};
  };
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  Add("quote-api", QUOTEFLOW_QUOTE_API_BIN,
      {absl::StrCat("--grpc-address=", quote_address_, ":", quote_port_)}, quote_port_);
  std::vector<std::string> schemas = {"quote", "policy", "customer"};
  if (orchestration) schemas.push_back("saga");
  // Orchestration: the workers consume their command topics.
  auto topics = [&](const std::string& choreography,
                    const std::string& commands) -> std::vector<std::string> {
    if (orchestration) return {"--saga-mode=orchestration", absl::StrCat("--topics=", p, commands)};
    return {absl::StrCat("--topics=", choreography)};
  };
  for (const std::string& schema : schemas) {
    for (int r = 0; r < std::max(1, options_.relays_per_schema); ++r) {
      const std::string name =
          r == 0 ? absl::StrCat("relay-", schema) : absl::StrCat("relay-", schema, "-", r);
      Add(name, QUOTEFLOW_RELAY_BIN,
          {absl::StrCat("--outbox-schema=", schema),
           absl::StrCat("--poll-interval=", options_.relay_poll_interval),
           absl::StrCat("--relay-id=", options_.log_prefix, "-", name),
           absl::StrCat("--topic-prefix=", p)},
          0);
    }
  }
  Add("policy-worker", QUOTEFLOW_POLICY_WORKER_BIN,
      with({absl::StrCat("--grpc-address=", AddressOf("policy-worker"), ":", policy_port_),
            absl::StrCat("--underwriting-limit=", options_.underwriting_limit)},
           with(topics(absl::StrCat(p, "quotes,", p, "customers"), "policy-commands"),
                group("policy-worker"))),
      policy_port_);
  Add("customer-worker", QUOTEFLOW_CUSTOMER_WORKER_BIN,
      with({absl::StrCat("--grpc-address=", AddressOf("customer-worker"), ":", customer_port_),
            absl::StrCat("--default-max-policies=", options_.default_max_policies)},
           with(topics(absl::StrCat(p, "policies"), "customer-commands"), group("customer-worker"))),
      customer_port_);
  Add("quote-worker", QUOTEFLOW_QUOTE_WORKER_BIN,
      with(topics(absl::StrCat(p, "quotes,", p, "customers"), "quote-commands"),
           group("quote-worker")),
      0);
  saga_ports_.clear();
  for (int i = 0; orchestration && i < std::max(1, options_.orchestrators); ++i) {
    const int port = process::FreeTcpPort();
    saga_ports_.push_back(port);
    const std::string name =
        i == 0 ? std::string("saga-orchestrator") : absl::StrCat("saga-orchestrator-", i);
    Add(name, QUOTEFLOW_SAGA_ORCHESTRATOR_BIN,
        with({absl::StrCat("--grpc-address=", AddressOf(name), ":", port),
              "--saga-mode=orchestration",
              absl::StrCat("--topics=", p, "quotes,", p, "saga-replies")},
             group("saga-orchestrator")),
        port);
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Proc& proc : procs_) {
      if (absl::Status s = Spawn(proc); !s.ok()) return s;
    }
  }
  for (const Proc& proc : procs_) {
    if (proc.grpc_port == 0) continue;
    if (absl::Status s = WaitServing(proc.address, proc.grpc_port, absl::Seconds(30)); !s.ok()) {
      return s;
    }
  }
  if (!saga_ports_.empty()) {
    sagas_ = v1::SagaService::NewStub(Channel(AddressOf("saga-orchestrator"), saga_ports_[0]));
  }
  quotes_ = v1::QuoteService::NewStub(Channel(quote_address_, quote_port_));
  customers_ = v1::CustomerService::NewStub(Channel(AddressOf("customer-worker"), customer_port_));
  policies_ = v1::PolicyService::NewStub(Channel(AddressOf("policy-worker"), policy_port_));
  return absl::OkStatus();
}

std::vector<std::string> SagaSystem::Stop() {
  std::vector<std::string> bad;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) {
    if (it->child == nullptr) continue;
    if (!it->child->Running()) {
      bad.push_back(it->name + " (had exited)");
      continue;
    }
    (void)it->child->Signal(SIGTERM);
    auto code = it->child->Wait(absl::Now() + absl::Seconds(20));
    if (!code.ok() || *code != 0) bad.push_back(it->name);
  }
  return bad;
}

std::vector<std::string> SagaSystem::Names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const Proc& p : procs_) names.push_back(p.name);
  return names;
}

std::vector<std::string> SagaSystem::Dead() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> dead;
  for (Proc& p : procs_) {
    if (p.child == nullptr || !p.child->Running()) dead.push_back(p.name);
  }
  return dead;
}

std::string SagaSystem::LogPath(const std::string& name) const {
  return ::testing::TempDir() + options_.log_prefix + "-" + name + ".log";
}

std::string SagaSystem::Logs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const Proc& p : procs_) {
    // The tail of the lines above debug level: per-event debug lines would push out the warnings.
    std::string lines;
    for (absl::string_view line : absl::StrSplit(FileTail(LogPath(p.name), 1 << 22), '\n')) {
      if (!absl::StrContains(line, "\"level\":\"debug\"")) absl::StrAppend(&lines, line, "\n");
    }
    constexpr size_t kTail = 3000;
    if (lines.size() > kTail) lines.erase(0, lines.size() - kTail);
    absl::StrAppend(&out, "==== ", p.name, " ====\n", lines, "\n");
  }
  return out;
}

SagaSystem::Proc* SagaSystem::Find(const std::string& name) {
  for (Proc& p : procs_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

absl::Status SagaSystem::Kill(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Proc* p = Find(name);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("no process ", name));
  if (p->child == nullptr || !p->child->Running()) return absl::OkStatus();
  (void)p->child->Signal(SIGKILL);
  auto code = p->child->Wait(absl::Now() + absl::Seconds(10));
  return code.ok() ? absl::OkStatus() : code.status();
}

absl::Status SagaSystem::Restart(const std::string& name, absl::Duration timeout) {
  int port = 0;
  std::string address;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Proc* p = Find(name);
    if (p == nullptr) return absl::NotFoundError(absl::StrCat("no process ", name));
    if (p->child != nullptr && p->child->Running()) {
      (void)p->child->Signal(SIGKILL);
      (void)p->child->Wait(absl::Now() + absl::Seconds(10));
    }
    p->child.reset();
    if (absl::Status s = Spawn(*p); !s.ok()) return s;
    port = p->grpc_port;
    address = p->address;
  }
  return port == 0 ? absl::OkStatus() : WaitServing(address, port, timeout);
}

absl::Status SagaSystem::StartCopy(const std::string& name, const std::string& of,
                                   const std::string& host, absl::Duration timeout) {
  int port = 0;
  std::string address;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Find(name) != nullptr) return absl::AlreadyExistsError(absl::StrCat("process ", name));
    const Proc* original = Find(of);
    if (original == nullptr) return absl::NotFoundError(absl::StrCat("no process ", of));
    Proc copy{.name = name,
              .path = original->path,
              .args = original->args,
              .host = host.empty() ? original->host : host};
    if (!copy.host.empty() &&
        (options_.net == nullptr || options_.net->Address(copy.host).empty())) {
      return absl::NotFoundError(absl::StrCat("no host ", copy.host));
    }
    copy.address = copy.host.empty() ? "127.0.0.1" : options_.net->Address(copy.host);
    for (std::string& arg : copy.args) {
      if (absl::StartsWith(arg, "--grpc-address=")) {
        copy.grpc_port = process::FreeTcpPort();
        arg = absl::StrCat("--grpc-address=", copy.address, ":", copy.grpc_port);
      } else if (absl::StartsWith(arg, "--relay-id=")) {
        arg = absl::StrCat("--relay-id=", options_.log_prefix, "-", name);
      }
    }
    procs_.push_back(std::move(copy));
    Proc& added = procs_.back();
    if (absl::Status s = Spawn(added); !s.ok()) return s;
    port = added.grpc_port;
    address = added.address;
  }
  return port == 0 ? absl::OkStatus() : WaitServing(address, port, timeout);
}

absl::Status SagaSystem::Spawn(Proc& proc) {
  std::string path = proc.path;
  std::vector<std::string> args = proc.args;
  if (!proc.host.empty()) {
    NetHosts::Command in = options_.net->CommandIn(proc.host, proc.path, proc.args);
    path = std::move(in.path);
    args = std::move(in.args);
  }
  auto child = process::ChildProcess::Start(
      {.path = path, .args = args, .env = env_, .stderr_path = LogPath(proc.name)});
  if (!child.ok()) return child.status();
  proc.child = std::move(*child);
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> SagaSystem::Channel(int port) { return Channel("127.0.0.1", port); }

std::shared_ptr<grpc::Channel> SagaSystem::Channel(const std::string& address, int port) {
  return grpc::CreateChannel(absl::StrCat(address, ":", port), grpc::InsecureChannelCredentials());
}

absl::Status SagaSystem::WaitServing(const std::string& address, int port, absl::Duration timeout) {
  absl::Status listening = WaitFor([&] { return process::AcceptsTcpConnections(address, port); },
                                   timeout, absl::StrCat(address, ":", port, " to listen"));
  if (!listening.ok()) return listening;
  auto health = grpc::health::v1::Health::NewStub(Channel(address, port));
  return WaitFor(
      [&] {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
        grpc::health::v1::HealthCheckRequest req;
        grpc::health::v1::HealthCheckResponse resp;
        return health->Check(&ctx, req, &resp).ok() &&
               resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
      },
      timeout, absl::StrCat(address, ":", port, " to report SERVING"));
}

}  // namespace quoteflow::testing
