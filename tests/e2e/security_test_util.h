// Helpers shared by the end-to-end security tests (security_e2e_test.cc against quote-api,
// grpc_security_e2e_test.cc against the workers' gRPC servers): a tokens file of known test tokens,
// certificates from scripts/make-dev-certs.sh, plaintext / TLS / mutual-TLS client channels, a
// health check that waits for SERVING, unary calls by method name (so one table can drive any
// service, including methods a server does not have) and a bare HTTP GET for /metrics.
//
// Thread-compatible: call from the test thread.
#ifndef QUOTEFLOW_TESTS_E2E_SECURITY_TEST_UTIL_H_
#define QUOTEFLOW_TESTS_E2E_SECURITY_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace quoteflow::testing {

// The test tokens: `rw` may call every method, `ro` only the read-only ones.
inline constexpr char kRwToken[] = "canary-rw-token-7f3a9c";
inline constexpr char kRoToken[] = "canary-ro-token-51be02";

// The whole content of a file ("" if unreadable), and writing one (truncated first).
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);
// The last `bytes` of a file (a log, for failure messages).
std::string ReadFileTail(const std::string& path, size_t bytes = 4000);

// <gtest TempDir>/<name>-<pid>: a path of this test process only (TempDir is /tmp, shared with any
// other test run on the machine).
std::string TempPath(const std::string& name);

// Writes a tokens file (digests of kRwToken as rw and kRoToken as ro) into the gtest temp dir and
// returns its path.
std::string TokensFile();

// Runs scripts/make-dev-certs.sh into TempPath(name) and returns that directory (ca.pem,
// server.pem/.key, client.pem/.key). Adds a gtest failure when the script fails.
std::string MakeDevCerts(const std::string& name = "security-e2e-certs");

// Client channels to `address` (host:port): plaintext, TLS trusting the CA of `cert_dir`, and TLS
// that also presents the client certificate of `cert_dir`. Each TLS channel has its own connection
// (a channel argument keeps it from sharing a subchannel with a channel of other credentials).
std::shared_ptr<grpc::Channel> PlaintextChannel(const std::string& address);
std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& cert_dir,
                                          bool client_certificate);

// grpc.health.v1.Health/Check (overall health, no token) through `channel` until SERVING or
// `timeout`; OK, or the last status (UNAVAILABLE "not SERVING yet" when it answered otherwise).
grpc::Status WaitServing(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout);

// Adds `authorization: Bearer <token>` (nothing for an empty token) and a 10 s deadline.
void Authorize(grpc::ClientContext& ctx, const std::string& token);

// Calls the unary method `method` ("/pkg.Service/Method") with the serialized request `request`,
// carrying `token` (none if empty); the serialized response goes to `response` when not null.
grpc::Status CallUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                       const std::string& request, const std::string& token,
                       std::string* response = nullptr);

// GET http://127.0.0.1:port/path: the whole response (headers and body), "" if unreachable.
std::string HttpGet(int port, const std::string& path);

}  // namespace quoteflow::testing

#endif  // QUOTEFLOW_TESTS_E2E_SECURITY_TEST_UTIL_H_
