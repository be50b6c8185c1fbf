#include "tools/quotectl/quotectl.h"

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "consumers/orchestrator/saga_admin.h"
#include "outbox-relay/outbox_admin.h"
#include "platform/config/config.h"
#include "platform/kafka/kafka_config.h"
#include "platform/messaging/dlq_admin.h"
#include "platform/messaging/replay.h"
#include "platform/observability/log.h"
#include "platform/postgres/migrations.h"
#include "tools/quotectl/verify.h"

namespace quoteflow {
namespace {

constexpr char kUsage[] =
    "usage: quotectl [--database-url URL] [--outbox-schema quote|policy|customer] COMMAND ...\n"
    "commands:\n"
    "  migrate                 apply pending schema migrations\n"
    "  migrate status          exit 0 if the schema is current, 1 with what is missing\n"
    "  outbox stats            backlog, oldest unpublished age, parked rows, relays\n"
    "  outbox parked [LIMIT]   rows the broker refused permanently, with their errors\n"
    "  outbox retry SEQ        put a parked row back in line\n"
    "  outbox drop SEQ         delete a parked row without publishing it\n"
    "  saga list [--state S]   sagas by orchestration (e.g. --state STUCK), newest first\n"
    "  saga show QUOTE_ID      one saga with its history\n"
    "  saga retry QUOTE_ID     resume a STUCK saga (its step's command is sent again)\n"
    "  dlq list --topic T.dlq [--partition P] [--limit N]\n"
    "                          dead-lettered records with their reasons\n"
    "  dlq redrive --topic T.dlq (--offset O [--partition P] | --all)\n"
    "                          send records back to their original topic\n"
    "  replay --group G --topic T (--to-offset O [--partition P] | --to-time RFC3339 |\n"
    "         --to-earliest | --to-latest) [--dry-run]\n"
    "                          reset a stopped worker's offsets (the inbox absorbs repeats)\n"
    "  verify [--stuck-after=5m] [--max-print=N]\n"
    "                          audit quotes, policies and customer counts; exit 1 if inconsistent\n"
    "Kafka commands also take --kafka-bootstrap-servers and the other --kafka-* flags.\n";

int Migrate(const std::vector<std::string>& args, const std::string& url) {
  if (args.size() == 2 && args[1] == "status") {
    absl::Status s = CheckMigrations(url);
    if (!s.ok()) {
      std::cerr << "quotectl: " << s.message() << "\n";
      return 1;
    }
    std::cout << "schema is current\n";
    return 0;
  }
  if (args.size() != 1) {
    std::cerr << kUsage;
    return 2;
  }
  auto report = ApplyMigrations(url, EmbeddedMigrations());
  if (!report.ok()) {
    std::cerr << "quotectl: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << "applied: "
            << (report->applied.empty() ? "none" : absl::StrJoin(report->applied, ", "))
            << "\nalready applied: " << report->already_applied.size() << "\n";
  return 0;
}

}  // namespace

int RunQuotectl(int argc, char** argv) {
  log::Init("quotectl", log::Level::kWarn);
  // Global flags stop at the first word that is not a flag: the command.
  int command_at = 1;
  while (command_at < argc && std::string(argv[command_at]).rfind("--", 0) == 0) {
    const std::string flag = argv[command_at];
    ++command_at;
    // "--flag value" form: skip the value too.
    if (flag.find('=') == std::string::npos && flag != "--help" && command_at < argc) ++command_at;
  }
  Config config("quotectl", "quoteflow admin CLI");
  config.Declare("database-url", "postgresql://quoteflow@127.0.0.1:5432/quoteflow",
                 "PostgreSQL connection URL");
  config.Declare("outbox-schema", "quote", "service schema whose outbox `outbox` commands use");
  kafka::KafkaSettings::Declare(config);
  // `quotectl --help` / `quotectl help`: the commands, then the global flags.
  const bool help_asked = (command_at < argc && std::string(argv[command_at]) == "help") ||
                          std::any_of(argv + 1, argv + command_at, [](const char* a) {
                            return std::string(a) == "--help" || std::string(a) == "-h";
                          });
  if (help_asked) {
    std::cout << kUsage << "\n" << config.Usage();
    return 0;
  }
  auto parsed = config.Parse(command_at, argv);
  if (!parsed.ok()) {
    std::cerr << "quotectl: " << parsed.status().message() << "\n" << kUsage;
    return 2;
  }
  std::vector<std::string> args(argv + command_at, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& url = config.Get("database-url");
  if (args[0] == "migrate") return Migrate(args, url);
  if (args[0] == "saga") return workers::RunSagaCommand(args, url, std::cout, std::cerr);
  if (args[0] == "outbox") {
    return relay::RunOutboxCommand(args, url, config.Get("outbox-schema"), std::cout, std::cerr);
  }
  if (args[0] == "dlq" || args[0] == "replay") {
    auto settings = kafka::KafkaSettings::FromConfig(config);
    if (!settings.ok()) {
      std::cerr << "quotectl: " << settings.status().message() << "\n";
      return 2;
    }
    return args[0] == "dlq" ? messaging::RunDlqCommand(args, *settings, std::cout, std::cerr)
                            : messaging::RunReplayCommand(args, *settings, std::cout, std::cerr);
  }
  if (args[0] == "verify") return quotectl::RunVerifyCommand(args, url, std::cout, std::cerr);
  std::cerr << "quotectl: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}

}  // namespace quoteflow
