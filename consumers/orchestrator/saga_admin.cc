#include "consumers/orchestrator/saga_admin.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "consumers/common/pg_guard.h"
#include "consumers/orchestrator/pg_saga_store.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/outbox_doorbell.h"

namespace quoteflow::workers {
namespace {

constexpr char kUsage[] =
    "usage: quotectl saga list [--state STATE] [--limit N]\n"
    "       quotectl saga show QUOTE_ID\n"
    "       quotectl saga retry QUOTE_ID [--step-deadline DURATION]\n";

void PrintSaga(const Saga& s, std::ostream& out) {
  out << s.quote_id << "\t" << SagaStateName(s.state) << "\t" << SagaStepName(s.step) << "#"
      << s.attempt << "\t"
      << (s.deadline.has_value() ? FormatRfc3339(*s.deadline) : std::string("-")) << "\t"
      << (!s.stuck_reason.empty() ? s.stuck_reason : s.failure_reason) << "\n";
}

// Options after the positional words: "--name value" or "--name=value".
bool ParseOptions(const std::vector<std::string>& args, size_t from,
                  std::vector<std::pair<std::string, std::string>>& options,
                  std::vector<std::string>& positional) {
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
      continue;
    }
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      options.emplace_back(a.substr(2, eq - 2), a.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      options.emplace_back(a.substr(2), args[++i]);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int RunSagaCommand(const std::vector<std::string>& args, const std::string& database_url,
                   std::ostream& out, std::ostream& err) {
  if (args.size() < 2) {
    err << kUsage;
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> positional;
  if (!ParseOptions(args, 2, options, positional)) {
    err << kUsage;
    return 2;
  }
  std::string state;
  int limit = 100;
  SagaSettings settings;
  for (const auto& [name, value] : options) {
    if (name == "state" && args[1] == "list") {
      state = value;
      if (!ParseSagaState(state).ok()) {
        err << "quotectl saga: unknown state '" << state << "'\n";
        return 2;
      }
    } else if (name == "limit" && args[1] == "list" && absl::SimpleAtoi(value, &limit) &&
               limit > 0) {
    } else if (name == "step-deadline" && args[1] == "retry" &&
               absl::ParseDuration(value, &settings.step_deadline) &&
               settings.step_deadline > absl::ZeroDuration()) {
    } else {
      err << "quotectl saga: bad option --" << name << "\n" << kUsage;
      return 2;
    }
  }
  PgPool pool({.database_url = database_url, .size = 1});
  PgSagaReader reader(pool);
  if (args[1] == "list" && positional.empty()) {
    absl::StatusOr<std::vector<Saga>> sagas = reader.List(state, limit);
    if (!sagas.ok()) {
      err << "quotectl saga list: " << sagas.status() << "\n";
      return 1;
    }
    out << "QUOTE\tSTATE\tSTEP#ATTEMPT\tDEADLINE\tREASON\n";
    for (const Saga& s : *sagas) PrintSaga(s, out);
    return 0;
  }
  if (args[1] == "show" && positional.size() == 1) {
    absl::StatusOr<SagaView> view = reader.Get(positional[0]);
    if (!view.ok()) {
      err << "quotectl saga show: " << view.status() << "\n";
      return 1;
    }
    const Saga& s = view->saga;
    out << "quote " << s.quote_id << " customer " << s.customer_id << " policy " << s.policy_id
        << "\nstate " << SagaStateName(s.state) << " step " << SagaStepName(s.step) << " attempt "
        << s.attempt << " version " << s.version << "\n";
    if (!s.failure_reason.empty()) out << "failure: " << s.failure_reason << "\n";
    if (!s.stuck_reason.empty()) out << "stuck: " << s.stuck_reason << "\n";
    for (const SagaHistoryEntry& h : view->history) {
      out << FormatRfc3339(h.at) << "\t" << h.step << "#" << h.attempt << "\t" << h.outcome << "\t"
          << h.detail << "\n";
    }
    return 0;
  }
  if (args[1] == "retry" && positional.size() == 1) {
    absl::StatusOr<SagaDecision> decided = absl::UnknownError("not run");
    absl::Status status =
        pool.Run(absl::Now() + absl::Seconds(10), "resuming a saga",
                 [&](pqxx::connection& conn) -> absl::Status {
                   {
                     pqxx::work tx(conn);
                     PgSagaStore store(tx);
                     absl::StatusOr<std::optional<Saga>> saga = store.Lock(positional[0]);
                     if (!saga.ok()) return saga.status();
                     if (!saga->has_value()) {
                       return absl::NotFoundError(
                           absl::StrCat("no saga for quote ", positional[0]));
                     }
                     decided = ResumeStuck(**saga, settings, store.db_now().value());
                     if (!decided.ok()) return decided.status();
                     absl::Status s = store.StoreDecision(*decided, false);
                     if (!s.ok()) return s;
                     tx.commit();
                   }
                   // Wake the saga relays after the commit (a lost NOTIFY only waits for their
                   // poll).
                   (void)NotifyOutboxRelays(conn, "saga");
                   return absl::OkStatus();
                 });
    if (!status.ok()) {
      err << "quotectl saga retry: " << status << "\n";
      return 1;
    }
    out << "resumed " << positional[0] << ": " << SagaStateName(decided->saga.state) << ", "
        << decided->commands.front().type() << " sent (" << decided->commands.front().command_id
        << ")\n";
    return 0;
  }
  err << kUsage;
  return 2;
}

}  // namespace quoteflow::workers
