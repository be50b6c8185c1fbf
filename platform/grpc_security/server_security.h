// Security of every quoteflow gRPC server: transport credentials (plaintext, TLS or mutual TLS) and
// bearer-token authentication, both from configuration.
//
//   --tls-cert-file / --tls-key-file   PEM server certificate chain and key: TLS instead of
//                                      plaintext (both or neither)
//   --tls-client-ca-file               PEM CA bundle: mutual TLS; a client must present a
//                                      certificate signed by it (needs --tls-cert-file)
//   --auth-tokens-file                 bearer tokens: every RPC must carry
//                                      `authorization: Bearer <token>` (also in plaintext mode)
//
// Everything is off by default: no option set gives exactly the old plaintext, open server.
//
// The tokens file holds one token per line as `<sha256-hex-of-token> <scope>`, scope `rw` (every
// method) or `ro` (only the read-only methods of kReadOnlyMethods); `#` starts a comment. The file
// holds digests only, so it reveals no token; a presented token is hashed and compared with every
// digest in constant time (CRYPTO_memcmp). The check runs in gRPC core before any handler or
// interceptor (an auth metadata processor on the listening port), so a refused call never reaches
// the service: no token or an unknown one → UNAUTHENTICATED, an `ro` token on a method outside
// kReadOnlyMethods → PERMISSION_DENIED. grpc.health.v1.Health/* and server reflection are open to
// everyone (load balancers and grpcurl `list`). Tokens are never logged nor echoed in replies.
//
// Thread-safety: TokenSet is immutable after parsing and safe to share; Authorize() is thread-safe.
// The credentials returned by ServerCredentialsFromConfig() keep their own reference to the tokens.
#ifndef QUOTEFLOW_PLATFORM_GRPC_SECURITY_SERVER_SECURITY_H_
#define QUOTEFLOW_PLATFORM_GRPC_SECURITY_SERVER_SECURITY_H_

#include <grpcpp/security/server_credentials.h>

#include <array>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "platform/config/config.h"

namespace quoteflow::grpc_security {

enum class Scope { kReadOnly, kReadWrite };

// Full method names ("/package.Service/Method") an `ro` token may call. Any other method is treated
// as mutating (fail closed): a new read method must be added here to be callable with `ro`.
extern const std::set<std::string> kReadOnlyMethods;

// SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

// True when a == b, in time that depends only on the lengths (CRYPTO_memcmp).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

class TokenSet {
 public:
  // Parses a tokens file's text. INVALID_ARGUMENT naming the line number (never its content) for a
  // digest that is not 64 hex digits, an unknown scope, extra fields or a duplicated digest;
  // INVALID_ARGUMENT when no token is left (an empty file would lock everyone out).
  static absl::StatusOr<TokenSet> Parse(absl::string_view text);
  // Reads and parses `path`. INVALID_ARGUMENT naming the path when it cannot be read, or Parse's.
  static absl::StatusOr<TokenSet> Load(const std::string& path);

  // The scope of `token` (the secret itself, not its digest), or nullopt for an unknown token.
  // Every digest is compared, in constant time, whatever matches.
  std::optional<Scope> Lookup(absl::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Scope scope;
  };
  std::vector<Entry> entries_;
};

// The decision for one call to `method` ("/pkg.Service/Method") carrying the `authorization`
// header value (empty when absent): OK, UNAUTHENTICATED (missing, malformed or unknown token) or
// PERMISSION_DENIED (`ro` token on a mutating method). Messages never contain the token.
absl::Status Authorize(const TokenSet& tokens, absl::string_view method,
                       absl::string_view authorization);

// Declares --tls-cert-file, --tls-key-file, --tls-client-ca-file and --auth-tokens-file.
void DeclareServerSecurity(Config& config);

// Credentials for ServerBuilder::AddListeningPort from the options above: grpc's insecure ones when
// none is set. INVALID_ARGUMENT (naming the option) for a key without a certificate or the reverse,
// a client CA without a certificate, an unreadable file or a tokens file that does not parse.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromConfig(
    const Config& config);

// "plaintext", "tls" or "mtls", with "+tokens" when tokens are checked: for a log line at start.
std::string DescribeServerSecurity(const Config& config);

}  // namespace quoteflow::grpc_security

#endif  // QUOTEFLOW_PLATFORM_GRPC_SECURITY_SERVER_SECURITY_H_
