// quoteflow-broker: librdkafka's mock Kafka cluster in its own process, for local runs and tests.
// Prints `KAFKA_BOOTSTRAP_SERVERS=host:port,...` on stdout once it listens, then answers control
// commands read from stdin (see platform/kafka/mock_broker.h) with `ok` / `error: ...` lines.
// EOF on stdin does not stop it; SIGTERM or SIGINT destroys the cluster and exits 0.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "platform/config/config.h"
#include "platform/kafka/mock_broker.h"
#include "platform/observability/log.h"

int main(int argc, char** argv) {
  namespace log = quoteflow::log;
  log::Init("quoteflow-broker");

  // Block the stop signals before any thread exists (librdkafka's threads inherit the mask) and
  // receive them through a signalfd in the control loop. Ignore SIGPIPE: a gone reader of our
  // stdout must not kill the cluster.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (stop_fd < 0) {
    log::Error("signalfd failed", {{"error", std::strerror(errno)}});
    return 1;
  }

  quoteflow::Config config("quoteflow-broker",
                           "librdkafka mock Kafka cluster with fault injection on stdin");
  config.Declare("brokers", "3", "number of mock brokers (ids 1..N)");
  config.Declare("topics", quoteflow::kafka::kQuoteflowTopics,
                 "topics to create, as name:partitions,... (unknown topics are auto-created with "
                 "4 partitions when a client allows it)");
  auto positional = config.Parse(argc, argv);
  if (!positional.ok()) {
    log::Error("bad arguments", {{"error", positional.status().message()}});
    return 2;
  }
  auto brokers = config.GetInt("brokers", 1, 64);
  auto topics = quoteflow::kafka::ParseTopicSpecs(config.Get("topics"));
  if (!brokers.ok() || !topics.ok()) {
    log::Error("bad configuration",
               {{"error", !brokers.ok() ? brokers.status().message() : topics.status().message()}});
    return 2;
  }
  config.LogEffective();

  auto broker = quoteflow::kafka::MockBroker::Start(
      {.brokers = static_cast<int>(*brokers), .topics = *std::move(topics)});
  if (!broker.ok()) {
    log::Error("cannot start mock cluster", {{"error", broker.status().message()}});
    return 1;
  }
  log::Info("mock cluster ready", {{"bootstrap_servers", (*broker)->bootstrap_servers()},
                                   {"brokers", static_cast<int>(*brokers)}});
  std::string ready =
      absl::StrCat("KAFKA_BOOTSTRAP_SERVERS=", (*broker)->bootstrap_servers(), "\n");
  if (write(STDOUT_FILENO, ready.data(), ready.size()) != static_cast<ssize_t>(ready.size())) {
    log::Warn("could not print the bootstrap line");
  }

  absl::Status served =
      quoteflow::kafka::ServeControl(**broker, STDIN_FILENO, STDOUT_FILENO, stop_fd);
  if (!served.ok()) log::Error("control loop failed", {{"error", served.message()}});
  log::Info("stopping mock cluster");
  broker->reset();
  close(stop_fd);
  return served.ok() ? 0 : 1;
}
