#include "platform/grpc_security/server_security.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace quoteflow::grpc_security {

const std::set<std::string> kReadOnlyMethods = {
    "/quoteflow.v1.QuoteService/GetQuote",
    "/quoteflow.v1.CustomerService/GetCustomer",
    "/quoteflow.v1.PolicyService/GetPolicy",
    "/quoteflow.v1.SagaService/GetSaga",
};

namespace {

constexpr absl::string_view kOpenPrefixes[] = {
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
};

std::array<unsigned char, 32> Sha256(absl::string_view data) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadFile(const std::string& option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", option, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::InvalidArgumentError(absl::StrCat("--", option, ": cannot read ", path));
  return text.str();
}

// gRPC core's auth metadata processor: runs for every call, before any handler.
void ProcessAuthMetadata(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md,
                         size_t num_md, grpc_process_auth_metadata_done_cb cb, void* user_data) {
  const TokenSet& tokens = **static_cast<std::shared_ptr<const TokenSet>*>(state);
  absl::string_view path;
  absl::string_view authorization;
  const grpc_metadata* authorization_md = nullptr;
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view key(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].key)),
                          GRPC_SLICE_LENGTH(md[i].key));
    absl::string_view value(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].value)),
                            GRPC_SLICE_LENGTH(md[i].value));
    if (key == ":path") path = value;
    if (key == "authorization") {
      authorization = value;
      authorization_md = &md[i];
    }
  }
  const absl::Status decision = Authorize(tokens, path, authorization);
  if (decision.ok()) {
    // Consumed: the token is not passed on to handlers or interceptors (nothing can log it).
    cb(user_data, authorization_md, authorization_md == nullptr ? 0 : 1, nullptr, 0, GRPC_STATUS_OK,
       nullptr);
    return;
  }
  // gRPC core copies the message before cb returns; `decision` outlives the call.
  cb(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(decision.code()),
     decision.message().data());
}

void DestroyProcessorState(void* state) {
  delete static_cast<std::shared_ptr<const TokenSet>*>(state);
}

// Plaintext or TLS, with the token processor when tokens are configured. Built on gRPC core's C
// API because grpc++'s InsecureServerCredentials() cannot carry an auth metadata processor.
class ConfiguredServerCredentials : public grpc::ServerCredentials {
 public:
  ConfiguredServerCredentials(std::string cert_pem, std::string key_pem, std::string client_ca_pem,
                              std::shared_ptr<const TokenSet> tokens)
      : cert_pem_(std::move(cert_pem)),
        key_pem_(std::move(key_pem)),
        client_ca_pem_(std::move(client_ca_pem)),
        tokens_(std::move(tokens)) {}

  // Tokens come from configuration; another processor is not supported.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = nullptr;
    if (cert_pem_.empty()) {
      creds = grpc_insecure_server_credentials_create();
    } else {
      grpc_ssl_pem_key_cert_pair pair{key_pem_.c_str(), cert_pem_.c_str()};
      creds = grpc_ssl_server_credentials_create_ex(
          client_ca_pem_.empty() ? nullptr : client_ca_pem_.c_str(), &pair, 1,
          client_ca_pem_.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
          nullptr);
    }
    if (creds == nullptr) return 0;
    if (tokens_ != nullptr) {
      grpc_auth_metadata_processor processor{&ProcessAuthMetadata, &DestroyProcessorState,
                                             new std::shared_ptr<const TokenSet>(tokens_)};
      grpc_server_credentials_set_auth_metadata_processor(creds, processor);
    }
    const int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  std::string cert_pem_;
  std::string key_pem_;
  std::string client_ca_pem_;
  std::shared_ptr<const TokenSet> tokens_;
};

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  const std::array<unsigned char, 32> digest = Sha256(data);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<TokenSet> TokenSet::Parse(absl::string_view text) {
  TokenSet set;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("tokens file line ", line_number,
                                                     ": want `<sha256-hex> <rw|ro>`, got ",
                                                     fields.size(), " field(s)"));
    }
    if (fields[0].size() != 64 || !IsHex(fields[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens file line ", line_number,
          ": the first field must be the token's SHA-256 as 64 hex digits (never the token)"));
    }
    Entry entry;
    const std::string bytes = absl::HexStringToBytes(absl::AsciiStrToLower(fields[0]));
    std::copy(bytes.begin(), bytes.end(), entry.digest.begin());
    if (fields[1] == "rw") {
      entry.scope = Scope::kReadWrite;
    } else if (fields[1] == "ro") {
      entry.scope = Scope::kReadOnly;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_number, ": scope must be rw or ro"));
    }
    for (const Entry& other : set.entries_) {
      if (other.digest == entry.digest) {
        return absl::InvalidArgumentError(
            absl::StrCat("tokens file line ", line_number, ": digest listed twice"));
      }
    }
    set.entries_.push_back(entry);
  }
  if (set.entries_.empty()) {
    return absl::InvalidArgumentError("tokens file has no token: every call would be refused");
  }
  return set;
}

absl::StatusOr<TokenSet> TokenSet::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile("auth-tokens-file", path);
  if (!text.ok()) return text.status();
  absl::StatusOr<TokenSet> set = Parse(*text);
  if (!set.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth-tokens-file ", path, ": ", set.status().message()));
  }
  return set;
}

std::optional<Scope> TokenSet::Lookup(absl::string_view token) const {
  const std::array<unsigned char, 32> digest = Sha256(token);
  std::optional<Scope> found;
  for (const Entry& entry : entries_) {
    // No early exit: the time does not say which (or whether an) entry matched.
    const bool match = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (match) found = entry.scope;
  }
  return found;
}

absl::Status Authorize(const TokenSet& tokens, absl::string_view method,
                       absl::string_view authorization) {
  for (absl::string_view prefix : kOpenPrefixes) {
    if (absl::StartsWith(method, prefix)) return absl::OkStatus();
  }
  // Messages are fixed texts: nothing from the header is echoed back.
  constexpr absl::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    return absl::UnauthenticatedError(
        "missing bearer token: send metadata `authorization: Bearer <token>`");
  }
  const absl::string_view token = absl::StripAsciiWhitespace(authorization.substr(kBearer.size()));
  const std::optional<Scope> scope = tokens.Lookup(token);
  if (!scope.has_value()) return absl::UnauthenticatedError("invalid bearer token");
  if (*scope == Scope::kReadOnly && !kReadOnlyMethods.contains(std::string(method))) {
    return absl::PermissionDeniedError("a read-only token cannot call this method");
  }
  return absl::OkStatus();
}

void DeclareServerSecurity(Config& config) {
  config.Declare("tls-cert-file", "",
                 "PEM certificate chain of the gRPC server: TLS instead of plaintext");
  config.Declare("tls-key-file", "", "PEM private key of --tls-cert-file");
  config.Declare("tls-client-ca-file", "",
                 "PEM CA bundle: mutual TLS, clients must present a certificate it signed");
  config.Declare("auth-tokens-file", "",
                 "bearer tokens, one `<sha256-hex> <rw|ro>` per line: every RPC but health and "
                 "reflection needs `authorization: Bearer <token>`");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromConfig(
    const Config& config) {
  const std::string& cert_file = config.Get("tls-cert-file");
  const std::string& key_file = config.Get("tls-key-file");
  const std::string& ca_file = config.Get("tls-client-ca-file");
  const std::string& tokens_file = config.Get("auth-tokens-file");
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert-file and --tls-key-file go together");
  }
  if (!ca_file.empty() && cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca-file needs --tls-cert-file and --tls-key-file");
  }
  if (cert_file.empty() && tokens_file.empty()) return grpc::InsecureServerCredentials();
  std::string cert_pem, key_pem, ca_pem;
  if (!cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile("tls-cert-file", cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile("tls-key-file", key_file);
    if (!key.ok()) return key.status();
    cert_pem = std::move(*cert);
    key_pem = std::move(*key);
    if (!ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadFile("tls-client-ca-file", ca_file);
      if (!ca.ok()) return ca.status();
      ca_pem = std::move(*ca);
    }
  }
  std::shared_ptr<const TokenSet> tokens;
  if (!tokens_file.empty()) {
    absl::StatusOr<TokenSet> set = TokenSet::Load(tokens_file);
    if (!set.ok()) return set.status();
    tokens = std::make_shared<const TokenSet>(std::move(*set));
  }
  return std::shared_ptr<grpc::ServerCredentials>(std::make_shared<ConfiguredServerCredentials>(
      std::move(cert_pem), std::move(key_pem), std::move(ca_pem), std::move(tokens)));
}

std::string DescribeServerSecurity(const Config& config) {
  const char* transport = config.Get("tls-cert-file").empty()        ? "plaintext"
                          : config.Get("tls-client-ca-file").empty() ? "tls"
                                                                     : "mtls";
  return absl::StrCat(transport, config.Get("auth-tokens-file").empty() ? "" : "+tokens");
}

}  // namespace quoteflow::grpc_security
