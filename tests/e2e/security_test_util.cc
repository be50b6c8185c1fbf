#include "tests/e2e/security_test_util.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "platform/grpc_security/server_security.h"
#include "platform/process/child_process.h"

namespace quoteflow::testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadFileTail(const std::string& path, size_t bytes) {
  std::string text = ReadFile(path);
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), name, "-", getpid());
}

std::string TokensFile() {
  const std::string path = TempPath("security-e2e-tokens");
  WriteFile(path, absl::StrCat("# test tokens\n", grpc_security::Sha256Hex(kRwToken), " rw\n",
                               grpc_security::Sha256Hex(kRoToken), " ro\n"));
  return path;
}

std::string MakeDevCerts(const std::string& name) {
  const std::string dir = TempPath(name);
  auto child = process::ChildProcess::Start(
      {.path = "/bin/bash", .args = {QUOTEFLOW_MAKE_DEV_CERTS, dir}, .capture_stdout = true});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return dir;
  while ((*child)->ReadLine(absl::Now() + absl::Seconds(60)).ok()) {
  }
  auto code = (*child)->Wait(absl::Now() + absl::Seconds(60));
  EXPECT_TRUE(code.ok() && *code == 0) << "make-dev-certs.sh failed";
  return dir;
}

std::shared_ptr<grpc::Channel> PlaintextChannel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& cert_dir,
                                          bool client_certificate) {
  grpc::SslCredentialsOptions options{.pem_root_certs = ReadFile(cert_dir + "/ca.pem")};
  if (client_certificate) {
    options.pem_private_key = ReadFile(cert_dir + "/client.key");
    options.pem_cert_chain = ReadFile(cert_dir + "/client.pem");
  }
  static std::atomic<int> channel_id{0};
  grpc::ChannelArguments own_connection;
  own_connection.SetInt("quoteflow.test.channel_id", ++channel_id);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), own_connection);
}

grpc::Status WaitServing(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::Status last;
  const absl::Time deadline = absl::Now() + timeout;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    last = health->Check(&ctx, req, &resp);
    if (last.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) return last;
    if (last.ok()) last = grpc::Status(grpc::StatusCode::UNAVAILABLE, "not SERVING yet");
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  return last;
}

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

grpc::Status CallUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                       const std::string& request, const std::string& token,
                       std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  if (status.ok() && response != nullptr) {
    std::vector<grpc::Slice> slices;
    (void)response_buffer.Dump(&slices);
    response->clear();
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

namespace {

// Kafka's big-endian primitives.
void PutInt16(std::string& out, int v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}
void PutInt32(std::string& out, int32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}
int GetInt16(const std::string& in, size_t at) {
  return static_cast<int16_t>((static_cast<uint8_t>(in[at]) << 8) |
                              static_cast<uint8_t>(in[at + 1]));
}
int32_t GetInt32(const std::string& in, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[at + i]);
  return static_cast<int32_t>(v);
}

// Reads exactly `n` bytes, waiting at most 100 ms at a time so that `stop` is noticed. False on
// EOF, error or stop.
bool ReadExactly(int fd, size_t n, std::string& out, const std::atomic<bool>& stop) {
  out.clear();
  while (out.size() < n) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int ready = poll(&p, 1, 100);
    if (stop) return false;
    if (ready <= 0) continue;
    char buf[4096];
    ssize_t got = read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (got <= 0) return false;
    out.append(buf, static_cast<size_t>(got));
  }
  return true;
}

constexpr int kApiVersions = 18;
constexpr int kSaslHandshake = 17;
constexpr int kSaslAuthenticate = 36;
constexpr int kUnsupportedVersion = 35;
constexpr int kSaslAuthenticationFailed = 58;

}  // namespace

FakeSaslBroker::FakeSaslBroker(std::string password) : password_(std::move(password)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "FakeSaslBroker cannot listen: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeSaslBroker::~FakeSaslBroker() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string FakeSaslBroker::bootstrap_servers() const { return absl::StrCat("127.0.0.1:", port_); }

std::set<std::string> FakeSaslBroker::ClientsThatSentThePassword() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_;
}

void FakeSaslBroker::AcceptLoop() {
  while (!stop_) {
    pollfd p{.fd = listen_fd_, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([this, fd] {
      Serve(fd);
      close(fd);
    });
  }
}

void FakeSaslBroker::Serve(int fd) {
  std::string size_bytes;
  std::string request;
  while (ReadExactly(fd, 4, size_bytes, stop_)) {
    const int32_t size = GetInt32(size_bytes, 0);
    if (size < 10 || size > (1 << 20) ||
        !ReadExactly(fd, static_cast<size_t>(size), request, stop_)) {
      return;
    }
    // Request header v1/v2: api_key, api_version, correlation_id, client_id (nullable string).
    const int api_key = GetInt16(request, 0);
    const int api_version = GetInt16(request, 2);
    const int32_t correlation_id = GetInt32(request, 4);
    const int client_id_length = GetInt16(request, 8);
    std::string client_id;
    if (client_id_length > 0 && 10 + static_cast<size_t>(client_id_length) <= request.size()) {
      client_id = request.substr(10, static_cast<size_t>(client_id_length));
    }
    std::string body;
    if (api_key == kApiVersions) {
      // A v0 body: for a newer request it says UNSUPPORTED_VERSION (the client retries with v0).
      PutInt16(body, api_version > 0 ? kUnsupportedVersion : 0);
      PutInt32(body, 3);
      for (auto [key, max_version] : {std::pair{kApiVersions, 0}, std::pair{kSaslHandshake, 1},
                                      std::pair{kSaslAuthenticate, 0}}) {
        PutInt16(body, key);
        PutInt16(body, 0);
        PutInt16(body, max_version);
      }
    } else if (api_key == kSaslHandshake) {
      PutInt16(body, 0);
      PutInt32(body, 1);
      PutInt16(body, 5);
      body += "PLAIN";
    } else if (api_key == kSaslAuthenticate) {
      // PLAIN credentials: authzid NUL username NUL password.
      if (!password_.empty() &&
          absl::StrContains(request.substr(10), std::string(1, '\0') + password_)) {
        std::lock_guard<std::mutex> lock(mu_);
        clients_.insert(client_id);
      }
      ++refused_;
      PutInt16(body, kSaslAuthenticationFailed);
      const std::string message = "fake broker: authentication failed";
      PutInt16(body, static_cast<int>(message.size()));
      body += message;
      PutInt32(body, 0);  // auth_bytes
    } else {
      return;
    }
    std::string response;
    PutInt32(response, static_cast<int32_t>(4 + body.size()));
    PutInt32(response, correlation_id);
    response += body;
    if (write(fd, response.data(), response.size()) != static_cast<ssize_t>(response.size()))
      return;
  }
}

}  // namespace quoteflow::testing
