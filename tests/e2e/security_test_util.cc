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

}  // namespace quoteflow::testing
