#include "tests/support/net_hosts.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace quoteflow::testing {
namespace {

// The first of `candidates` that is executable, "" when none is.
std::string FindTool(const std::vector<std::string>& candidates) {
  for (const std::string& c : candidates) {
    if (access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}
const std::string& Ip() {
  static const std::string path = FindTool({"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"});
  return path;
}
const std::string& Nft() {
  static const std::string path = FindTool({"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"});
  return path;
}

// Runs a shell command line (our own names only: no quoting needed); its output and exit code.
struct Result {
  int code = -1;
  std::string output;
};
Result Sh(const std::string& command) {
  Result r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
absl::Status Must(const std::string& command) {
  Result r = Sh(command);
  if (r.code == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("`", command, "` exited ", r.code, ": ", r.output));
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

// The pid in a name "<prefix><pid>[-...]", or -1.
pid_t PidIn(absl::string_view name, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&name, prefix)) return -1;
  const size_t end = name.find_first_not_of("0123456789");
  int pid = 0;
  if (!absl::SimpleAtoi(name.substr(0, end), &pid) || pid <= 0) return -1;
  return pid;
}

bool ValidHostName(const std::string& name) {
  if (name.empty() || name.size() > 20) return false;
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

std::string NetHosts::Unavailable() {
  if (geteuid() != 0) return "network namespaces and nftables rules need root";
  if (Ip().empty()) return "iproute2's `ip` is not installed";
  if (Nft().empty()) return "nftables' `nft` is not installed (scripts/install-deps.sh)";
  const std::string probe = absl::StrCat("qfp", getpid(), "-probe");
  Result add = Sh(absl::StrCat(Ip(), " netns add ", probe));
  if (add.code != 0) return absl::StrCat("cannot create a network namespace: ", add.output);
  Result nft = Sh(absl::StrCat(Ip(), " netns exec ", probe, " ", Nft(), " add table inet qfprobe"));
  (void)Sh(absl::StrCat(Ip(), " netns del ", probe));
  if (nft.code != 0) return absl::StrCat("nftables does not work in a namespace: ", nft.output);
  return "";
}

void NetHosts::RemoveStale() {
  if (Ip().empty()) return;
  for (absl::string_view line : absl::StrSplit(Sh(Ip() + " netns list").output, '\n')) {
    const std::string name(line.substr(0, line.find(' ')));
    const pid_t pid = PidIn(name, "qfp");
    if (pid > 0 && !Alive(pid)) (void)Sh(absl::StrCat(Ip(), " netns del ", name));
  }
  // "7: qfb1234: <BROADCAST,...> ..."
  for (absl::string_view line :
       absl::StrSplit(Sh(Ip() + " -o link show type bridge").output, '\n')) {
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(": ", 2));
    if (parts.size() < 2) continue;
    const std::string name(parts[1]);
    const pid_t pid = PidIn(name, "qfb");
    if (pid > 0 && !Alive(pid)) (void)Sh(absl::StrCat(Ip(), " link del ", name));
  }
}

absl::StatusOr<std::unique_ptr<NetHosts>> NetHosts::Create(const std::vector<std::string>& hosts) {
  std::set<std::string> seen;
  for (const std::string& h : hosts) {
    if (!ValidHostName(h) || !seen.insert(h).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("host name '", h, "': 1-20 characters of [a-z0-9-], each once"));
    }
  }
  if (hosts.size() > 200) return absl::InvalidArgumentError("at most 200 hosts");
  RemoveStale();
  const pid_t pid = getpid();
  std::unique_ptr<NetHosts> net(new NetHosts());
  // A /24 of 10.0.0.0/8 that no interface of this machine uses yet, derived from the pid.
  const std::string addresses = Sh(Ip() + " -4 -o addr show").output;
  std::string prefix;
  for (int attempt = 0; attempt < 200 && prefix.empty(); ++attempt) {
    const int index = (pid + attempt * 7919) % 39000;
    const std::string candidate = absl::StrCat("10.", 100 + index / 256, ".", index % 256, ".");
    if (!absl::StrContains(addresses, "inet " + candidate)) prefix = candidate;
  }
  if (prefix.empty()) return absl::InternalError("no free 10.x.y.0/24 for the bridge");
  net->bridge_ = absl::StrCat("qfb", pid);
  net->server_address_ = prefix + "1";
  net->network_ = prefix + "0/24";
  // From here on, the destructor removes whatever was created.
  for (size_t i = 0; i < hosts.size(); ++i) {
    net->hosts_[hosts[i]] = Host{.netns = absl::StrCat("qfp", pid, "-", hosts[i]),
                                 .address = absl::StrCat(prefix, i + 2)};
  }
  const std::string& ip = Ip();
  absl::Status s = Must(absl::StrCat(ip, " link add ", net->bridge_, " type bridge"));
  if (s.ok()) {
    s = Must(absl::StrCat(ip, " addr add ", net->server_address_, "/24 dev ", net->bridge_));
  }
  if (s.ok()) s = Must(absl::StrCat(ip, " link set ", net->bridge_, " up"));
  for (size_t i = 0; i < hosts.size() && s.ok(); ++i) {
    const Host& h = net->hosts_[hosts[i]];
    const std::string outer = absl::StrCat("qfv", pid, "-", i);
    const std::string inner = absl::StrCat("qfw", pid, "-", i);
    const std::string in_ns = absl::StrCat(ip, " -n ", h.netns, " ");
    for (const std::string& command : {
             absl::StrCat(ip, " netns add ", h.netns),
             absl::StrCat(ip, " link add ", outer, " type veth peer name ", inner, " netns ",
                          h.netns),
             absl::StrCat(ip, " link set ", outer, " master ", net->bridge_, " up"),
             absl::StrCat(in_ns, "addr add ", h.address, "/24 dev ", inner),
             absl::StrCat(in_ns, "link set ", inner, " up"),
             absl::StrCat(in_ns, "link set lo up"),
             // The chains the cuts go into.
             absl::StrCat(ip, " netns exec ", h.netns, " ", Nft(),
                          " 'add table inet qfcut; add chain inet qfcut in { type filter hook "
                          "input priority 0; }; add chain inet qfcut out { type filter hook output "
                          "priority 0; }'"),
         }) {
      s = Must(command);
      if (!s.ok()) break;
    }
  }
  if (!s.ok()) return s;
  return net;
}

NetHosts::~NetHosts() {
  for (const auto& [name, h] : hosts_) (void)Sh(absl::StrCat(Ip(), " netns del ", h.netns));
  if (!bridge_.empty()) (void)Sh(absl::StrCat(Ip(), " link del ", bridge_));
}

std::string NetHosts::Address(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? "" : it->second.address;
}

std::string NetHosts::Netns(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? "" : it->second.netns;
}

NetHosts::Command NetHosts::CommandIn(const std::string& host, const std::string& path,
                                      const std::vector<std::string>& args) const {
  Command c{.path = Ip(), .args = {"netns", "exec", Netns(host), path}};
  c.args.insert(c.args.end(), args.begin(), args.end());
  return c;
}

absl::Status NetHosts::Cut(const std::string& host, int port) {
  const std::string netns = Netns(host);
  if (netns.empty()) return absl::NotFoundError(absl::StrCat("no host ", host));
  // Both directions in one nft transaction.
  return Must(absl::StrCat(Ip(), " netns exec ", netns, " ", Nft(),
                           " 'add rule inet qfcut out ip daddr ", server_address_, " tcp dport ",
                           port, " drop; add rule inet qfcut in ip saddr ", server_address_,
                           " tcp sport ", port, " drop'"));
}

absl::Status NetHosts::Heal(const std::string& host) {
  const std::string netns = Netns(host);
  if (netns.empty()) return absl::NotFoundError(absl::StrCat("no host ", host));
  return Must(absl::StrCat(Ip(), " netns exec ", netns, " ", Nft(),
                           " 'flush chain inet qfcut out; flush chain inet qfcut in'"));
}

int64_t NetHosts::UnackedBytes(const std::string& host, int port) const {
  const std::string netns = Netns(host);
  if (netns.empty()) return -1;
  Result r = Sh(absl::StrCat(Ip(), " netns exec ", netns, " ss -tnH"));
  if (r.code != 0) return -1;
  // "ESTAB 0 1234 10.1.2.5:40000 10.1.2.1:5432": state, Recv-Q, Send-Q, local, peer.
  const std::string peer = absl::StrCat(server_address_, ":", port);
  int64_t total = 0;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t send_q = 0;
    if (f.size() >= 5 && f[4] == peer && absl::SimpleAtoi(f[2], &send_q)) total += send_q;
  }
  return total;
}

}  // namespace quoteflow::testing
