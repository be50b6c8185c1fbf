// quoteflow-kafka: runs a LocalKafka cluster (platform/local/local_kafka.h) until SIGTERM/SIGINT.
// It is the ctest fixture that gives one real Kafka to a whole test run (tests/CMakeLists.txt),
// and a way to start the broker by hand.
//
//   quoteflow-kafka --dir=DIR [--nodes=N] [--topics=name:partitions,...] [--fresh]
//                   [--sasl-ssl] [--daemon] [--watch-pid=PID|parent]
//   quoteflow-kafka --dir=DIR --stop
//
// Once the cluster serves (and the topics exist), it writes DIR/bootstrap (the PLAINTEXT
// "host:port,..." list) and prints `KAFKA_BOOTSTRAP_SERVERS=...`. --sasl-ssl adds an Event
// Hubs-shaped SASL_SSL listener (LocalKafka::DevSaslSslListener(DIR/sasl): CA in
// DIR/sasl/certs/ca.pem, user "$ConnectionString", password in DIR/sasl/password) and writes its
// "host:port,..." list to DIR/sasl/bootstrap. --fresh deletes DIR
// first. --daemon detaches (own session, output to DIR/fixture.log, pid in DIR/fixture.pid) and
// returns once the cluster serves; --watch-pid stops the cluster when that process exits ("parent":
// the caller, e.g. ctest, so that an interrupted test run leaves no broker behind). --stop
// SIGTERMs the daemon of DIR and waits for it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/local/local_kafka.h"
#include "platform/observability/log.h"

namespace {

namespace fs = std::filesystem;
namespace log = quoteflow::log;

constexpr char kUsage[] =
    "usage: quoteflow-kafka --dir=DIR [--nodes=N] [--topics=name:partitions,...] [--fresh]\n"
    "                       [--sasl-ssl] [--daemon] [--watch-pid=PID|parent]\n"
    "       quoteflow-kafka --dir=DIR --stop\n";

volatile sig_atomic_t g_stop = 0;
void OnStopSignal(int) { g_stop = 1; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFileAtomically(const std::string& path, const std::string& contents, mode_t mode) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << contents;
    if (!out) return false;
  }
  chmod(tmp.c_str(), mode);
  return rename(tmp.c_str(), path.c_str()) == 0;
}

bool ProcessAlive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

int Stop(const std::string& dir) {
  pid_t pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(dir + "/fixture.pid")), &pid) ||
      !ProcessAlive(pid)) {
    std::printf("quoteflow-kafka: no cluster running for %s\n", dir.c_str());
    return 0;
  }
  kill(pid, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (ProcessAlive(pid) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  if (ProcessAlive(pid)) {
    kill(pid, SIGKILL);  // its JVMs die with it (PDEATHSIG)
    std::fprintf(stderr, "quoteflow-kafka: %d did not stop within 60 s; killed\n", pid);
    return 1;
  }
  std::printf("quoteflow-kafka: stopped the cluster of %s\n", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      std::fprintf(stderr, "%s", kUsage);
      return 2;
    }
    const size_t eq = arg.find('=');
    flags[std::string(arg.substr(0, eq))] =
        eq == absl::string_view::npos ? "true" : std::string(arg.substr(eq + 1));
  }
  for (const auto& [name, value] : flags) {
    static const char* kKnown[] = {"dir",      "nodes",  "topics",    "fresh", "sasl-ssl",
                                   "daemon",   "stop",   "watch-pid", "help"};
    if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown)) {
      std::fprintf(stderr, "quoteflow-kafka: unknown option --%s\n%s", name.c_str(), kUsage);
      return 2;
    }
  }
  auto flag = [&flags](const std::string& name) -> std::string {
    auto it = flags.find(name);
    return it == flags.end() ? "" : it->second;
  };
  if (flags.count("help") || flag("dir").empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return flags.count("help") ? 0 : 2;
  }
  const std::string dir = fs::absolute(flag("dir")).lexically_normal().string();
  if (flags.count("stop")) return Stop(dir);

  int nodes = 1;
  if (flags.count("nodes") && (!absl::SimpleAtoi(flag("nodes"), &nodes) || nodes < 1)) {
    std::fprintf(stderr, "quoteflow-kafka: --nodes must be a positive number\n");
    return 2;
  }
  absl::StatusOr<std::vector<quoteflow::kafka::TopicSpec>> topics =
      quoteflow::kafka::ParseTopicSpecs(flag("topics"));
  if (!topics.ok()) {
    std::fprintf(stderr, "quoteflow-kafka: --topics: %s\n",
                 std::string(topics.status().message()).c_str());
    return 2;
  }
  pid_t watch_pid = 0;
  if (flag("watch-pid") == "parent") {
    watch_pid = getppid();
  } else if (flags.count("watch-pid") && !absl::SimpleAtoi(flag("watch-pid"), &watch_pid)) {
    std::fprintf(stderr, "quoteflow-kafka: --watch-pid takes a pid or 'parent'\n");
    return 2;
  }

  if (flags.count("fresh")) {
    Stop(dir);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::create_directories(dir);
  const std::string bootstrap_path = dir + "/bootstrap";
  fs::remove(bootstrap_path);

  if (flags.count("daemon")) {
    const pid_t child = fork();
    if (child < 0) {
      std::perror("fork");
      return 1;
    }
    if (child > 0) {
      // Wait for the daemon to serve (or die), then report and return.
      const absl::Time deadline = absl::Now() + absl::Seconds(240);
      while (absl::Now() < deadline) {
        if (fs::exists(bootstrap_path)) {
          std::printf("KAFKA_BOOTSTRAP_SERVERS=%s\n",
                      std::string(absl::StripAsciiWhitespace(ReadFile(bootstrap_path))).c_str());
          return 0;
        }
        int status = 0;
        if (waitpid(child, &status, WNOHANG) == child) break;
        absl::SleepFor(absl::Milliseconds(100));
      }
      std::string log_text = ReadFile(dir + "/fixture.log");
      if (log_text.size() > 4000) log_text = log_text.substr(log_text.size() - 4000);
      std::fprintf(stderr, "quoteflow-kafka: the cluster did not start; %s/fixture.log:\n%s\n",
                   dir.c_str(), log_text.c_str());
      kill(child, SIGTERM);
      return 1;
    }
    // Daemon: own session, no terminal, output to the log (a test runner waits for the pipes it
    // gave us to close, so none of them may stay open).
    setsid();
    const int null_fd = open("/dev/null", O_RDONLY);
    const int log_fd = open((dir + "/fixture.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    close(null_fd);
    close(log_fd);
  }
  log::Init("quoteflow-kafka");
  WriteFileAtomically(dir + "/fixture.pid", absl::StrCat(getpid(), "\n"), 0644);

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  quoteflow::LocalKafka::Options options;
  options.dir = dir + "/cluster";
  options.nodes = nodes;
  absl::StatusOr<quoteflow::LocalKafka::SaslSslListener> sasl;
  const bool sasl_ssl = flags.count("sasl-ssl") > 0;
  if (sasl_ssl) {
    sasl = quoteflow::LocalKafka::DevSaslSslListener(dir + "/sasl");
    if (!sasl.ok()) {
      log::Error("cannot prepare the SASL_SSL listener", {{"error", sasl.status().ToString()}});
      return 1;
    }
    options.sasl_ssl = &*sasl;
  }

  absl::StatusOr<std::unique_ptr<quoteflow::LocalKafka>> kafka =
      quoteflow::LocalKafka::Start(options);
  if (!kafka.ok()) {
    log::Error("kafka did not start", {{"error", kafka.status().ToString()}});
    return 1;
  }
  if (!topics->empty()) {
    absl::Status created = quoteflow::kafka::CreateTopics(
        quoteflow::kafka::KafkaSettings((*kafka)->bootstrap_servers(), {}), *topics);
    if (!created.ok()) {
      log::Error("creating topics failed", {{"error", created.ToString()}});
      return 1;
    }
  }
  if (sasl_ssl) {
    WriteFileAtomically(dir + "/sasl/bootstrap", (*kafka)->sasl_ssl_bootstrap_servers() + "\n",
                        0644);
  }
  WriteFileAtomically(bootstrap_path, (*kafka)->bootstrap_servers() + "\n", 0644);
  std::printf("KAFKA_BOOTSTRAP_SERVERS=%s\n", (*kafka)->bootstrap_servers().c_str());
  std::fflush(stdout);
  log::Info("serving", {{"bootstrap_servers", (*kafka)->bootstrap_servers()},
                        {"watch_pid", static_cast<int>(watch_pid)}});

  while (!g_stop) {
    if (watch_pid > 0 && !ProcessAlive(watch_pid)) {
      log::Info("the watched process exited; stopping", {{"pid", static_cast<int>(watch_pid)}});
      break;
    }
    for (int node = 1; node <= (*kafka)->node_count(); ++node) {
      if (!(*kafka)->NodeRunning(node)) {
        log::Error("a kafka node exited", {{"node", node}, {"log", (*kafka)->NodeLogTail(node)}});
        g_stop = 1;
      }
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  fs::remove(bootstrap_path);
  absl::Status stopped = (*kafka)->Stop();
  kafka->reset();
  log::Info("stopped", {{"status", stopped.ToString()}});
  return stopped.ok() ? 0 : 1;
}
