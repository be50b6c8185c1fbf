// NetHosts: several hosts on this one machine, for network partition tests (issue 14): one Linux
// network namespace per service host, each joined by a veth pair to a bridge in the root namespace.
// The root namespace is the "db+kafka" host: the bridge carries its address (<net>.1 of a /24
// picked per test process), on which the test's own Postgres and Kafka listen; host n gets
// <net>.(n+1). Services run inside their host's namespace (`ip netns exec <netns> <binary> ...`,
// CommandIn()). Traffic stays on this machine: the namespaces have no route but the bridge's /24.
//
// A cut is a silent partition: nftables DROP rules in the host's namespace, both directions, for
// the TCP traffic between the host and one port of the db+kafka host (Postgres' or Kafka's). No
// RST reaches either side, so only timeouts (TCP keepalives, tcp_user_timeout, Kafka's session
// timeouts) can tell a peer is gone; Heal() removes the rules and the existing connections carry
// on when neither side gave up on them.
//
// Names carry the test process's pid ("qfp<pid>-<host>" namespaces, "qfb<pid>" bridge,
// "qfv<pid>-<n>" veths), so parallel test processes do not collide; Create() first removes what
// an earlier process that is gone left behind (a crashed or SIGKILLed run), and the destructor
// removes this process's. Needs root, iproute2 (`ip`) and nftables (`nft`): Unavailable() says
// why not (tests then skip).
//
// Thread-safety: Cut()/Heal() may be called from any thread but not concurrently for one host;
// accessors are safe from any thread.
#ifndef QUOTEFLOW_TESTS_SUPPORT_NET_HOSTS_H_
#define QUOTEFLOW_TESTS_SUPPORT_NET_HOSTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quoteflow::testing {

class NetHosts {
 public:
  // Why partition tests cannot run here ("" when they can): not root, no `ip` or `nft`, or a
  // namespace cannot be created.
  static std::string Unavailable();

  // Creates the bridge and one namespace per host name (each name at most 20 characters,
  // [a-z0-9-]). INVALID_ARGUMENT for a bad or repeated name; INTERNAL (with the command's output)
  // when an `ip`/`nft` command fails, after removing what was created.
  static absl::StatusOr<std::unique_ptr<NetHosts>> Create(const std::vector<std::string>& hosts);

  NetHosts(const NetHosts&) = delete;
  NetHosts& operator=(const NetHosts&) = delete;
  // Deletes the namespaces (their veths go with them) and the bridge.
  ~NetHosts();

  // The db+kafka host's address on the bridge (<net>.1), and the bridge's network ("<net>.0/24").
  const std::string& server_address() const { return server_address_; }
  const std::string& network() const { return network_; }
  // A host's address and namespace name; "" for an unknown host.
  std::string Address(const std::string& host) const;
  std::string Netns(const std::string& host) const;

  // {path, args} that run `path args...` inside `host`'s namespace (through `ip netns exec`, which
  // execs the binary in place: same pid, same environment).
  struct Command {
    std::string path;
    std::vector<std::string> args;
  };
  Command CommandIn(const std::string& host, const std::string& path,
                    const std::vector<std::string>& args) const;

  // Drops every TCP packet between `host` and server_address():`port`, both ways. NOT_FOUND for an
  // unknown host; INTERNAL when nft fails.
  absl::Status Cut(const std::string& host, int port);
  // Removes every cut of `host`. NOT_FOUND for an unknown host; INTERNAL when nft fails.
  absl::Status Heal(const std::string& host);

  // Bytes that `host` sent to server_address():`port` and the peer has not acknowledged yet (the
  // Send-Q of its TCP sockets, summed): data a cut holds back, which TCP delivers after Heal()
  // unless the socket gave up meanwhile. -1 for an unknown host or when `ss` fails.
  int64_t UnackedBytes(const std::string& host, int port) const;

  // Removes the namespaces and bridges of test processes that no longer run.
  static void RemoveStale();

 private:
  struct Host {
    std::string netns;
    std::string address;
  };
  NetHosts() = default;

  std::string bridge_;
  std::string server_address_;
  std::string network_;
  std::map<std::string, Host> hosts_;
};

}  // namespace quoteflow::testing

#endif  // QUOTEFLOW_TESTS_SUPPORT_NET_HOSTS_H_
