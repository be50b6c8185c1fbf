#include "tools/local/readiness.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace quoteflow::local {

absl::Status CheckGrpcHealth(const std::string& address, absl::Duration timeout) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  std::unique_ptr<grpc::health::v1::Health::Stub> stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (status.ok()) {
    if (response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat(
        "health: ", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())));
  }
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("health check: code ", status.error_code(), ": ", status.error_message()));
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

bool FileContainsSince(const std::string& path, int64_t offset, absl::string_view needle) {
  constexpr int64_t kMaxBytes = int64_t{64} << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(offset);
  if (!in) return false;
  std::string data;
  std::vector<char> buffer(1 << 16);
  while (in && static_cast<int64_t>(data.size()) < kMaxBytes) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    data.append(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  return absl::StrContains(data, needle);
}

std::string FileTail(const std::string& path, int max_lines, absl::string_view prefix) {
  constexpr int64_t kMaxBytes = 8192;
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  const int64_t size = FileSize(path);
  in.seekg(std::max<int64_t>(0, size - kMaxBytes));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> lines = absl::StrSplit(data, '\n', absl::SkipEmpty());
  if (size > kMaxBytes && !lines.empty()) lines.erase(lines.begin());  // a partial first line
  const size_t first = lines.size() > static_cast<size_t>(max_lines) ? lines.size() - max_lines : 0;
  std::string out;
  for (size_t i = first; i < lines.size(); ++i) absl::StrAppend(&out, prefix, lines[i], "\n");
  return out;
}

bool TcpPortAvailable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool free =
      bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0 && listen(fd, 1) == 0;
  close(fd);
  return free;
}

}  // namespace quoteflow::local
