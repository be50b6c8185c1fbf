#include "platform/process/broker_process.h"

#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "domain/status_macros.h"

namespace quoteflow::process {
namespace {
constexpr absl::string_view kBootstrapPrefix = "KAFKA_BOOTSTRAP_SERVERS=";
constexpr absl::string_view kErrorPrefix = "error: ";
}  // namespace

absl::StatusOr<std::unique_ptr<BrokerProcess>> BrokerProcess::Start(const Options& options) {
  ChildProcess::Options child;
  child.path = options.binary;
  if (options.brokers > 0) child.args.push_back(absl::StrCat("--brokers=", options.brokers));
  if (!options.topics.empty()) child.args.push_back(absl::StrCat("--topics=", options.topics));
  child.args.insert(child.args.end(), options.extra_args.begin(), options.extra_args.end());
  child.capture_stdout = true;
  child.stdin_mode = ChildProcess::Stdin::kPipe;
  child.stderr_path = options.stderr_path;
  ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> process, ChildProcess::Start(child));

  const absl::Time deadline = absl::Now() + options.start_timeout;
  auto broker = std::unique_ptr<BrokerProcess>(new BrokerProcess(std::move(process)));
  while (true) {
    absl::StatusOr<std::string> line = broker->child_->ReadLine(deadline);
    if (!line.ok()) {
      if (absl::IsUnavailable(line.status())) {
        absl::StatusOr<int> code = broker->child_->Wait(absl::Now() + absl::Seconds(5));
        return absl::UnavailableError(absl::StrCat(
            options.binary, " exited before it was ready (status ",
            code.ok() ? absl::StrCat(*code) : code.status().ToString(), "); see its stderr"));
      }
      return absl::Status(line.status().code(),
                          absl::StrCat(options.binary, ": ", line.status().message()));
    }
    absl::string_view view = *line;
    if (absl::ConsumePrefix(&view, kBootstrapPrefix)) {
      broker->bootstrap_servers_ = std::string(view);
      return broker;
    }
    // Anything else before the bootstrap line is unexpected on stdout but harmless: skip it.
  }
}

absl::Status BrokerProcess::Control(absl::string_view command, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (absl::StrContains(command, '\n')) {
    return absl::InvalidArgumentError("control command must be one line");
  }
  RETURN_IF_ERROR(child_->WriteLine(command));
  ASSIGN_OR_RETURN(std::string reply, child_->ReadLine(absl::Now() + timeout));
  absl::string_view view = reply;
  if (view == "ok") return absl::OkStatus();
  if (absl::ConsumePrefix(&view, kErrorPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat("broker control '", command, "': ", view));
  }
  return absl::InternalError(
      absl::StrCat("broker control '", command, "': unexpected reply '", reply, "'"));
}

absl::StatusOr<int> BrokerProcess::Stop(absl::Duration grace) {
  if (child_->Running()) {
    (void)child_->Signal(SIGTERM);
    absl::StatusOr<int> code = child_->Wait(absl::Now() + grace);
    if (code.ok()) return code;
    (void)child_->Signal(SIGKILL);
  }
  return child_->Wait(absl::InfiniteFuture());
}

void BrokerProcess::Kill() {
  (void)child_->Signal(SIGKILL);
  (void)child_->Wait(absl::InfiniteFuture());
}

}  // namespace quoteflow::process
