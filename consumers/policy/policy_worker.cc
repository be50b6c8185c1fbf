#include "consumers/policy/policy_worker.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/command_handler.h"
#include "consumers/orchestrator/saga_topics.h"
#include "consumers/policy/pg_policy_store.h"
#include "consumers/policy/policy_event_handler.h"
#include "consumers/policy/policy_grpc_service.h"
#include "domain/quote.h"
#include "domain/saga_participants.h"
#include "domain/saga_rules.h"

namespace quoteflow::workers {

WorkerDefinition PolicyWorkerDefinition() {
  return WorkerDefinition{
      .program = "policy-worker",
      .summary =
          "the saga's policy service: creates or refuses policies, cancels refused ones, "
          "serves quoteflow.v1.PolicyService",
      .schema = "policy",
      .default_topics = "quotes,customers",
      .orchestration_topics = kPolicyCommandsTopic,
      .default_grpc_address = "127.0.0.1:50053",
      .grpc_service_names = {"quoteflow.v1.PolicyService"},
      .declare =
          [](Config& config) {
            config.Declare("underwriting-limit", absl::StrCat(kDefaultUnderwritingLimit),
                           "largest premium (minor units) a policy is issued for; approved quotes "
                           "above it are rejected");
          },
      .build = [](const Config& config, PgPool& pool, Clock& clock,
                    OutboxDoorbell&) -> absl::StatusOr<WorkerParts> {
        absl::StatusOr<int64_t> limit = config.GetInt("underwriting-limit", 1, kMaxPremium);
        if (!limit.ok()) return limit.status();
        auto saga = std::make_shared<PolicySaga>(clock, *limit);
        auto reader = std::make_shared<PgPolicyReader>(pool);
        auto queries = std::make_shared<PolicyQueries>(*reader);
        auto service = std::make_shared<PolicyGrpcService>(*queries);
        WorkerParts parts{.keep_alive = {saga, reader, queries, service},
                          .services = {service.get()}};
        if (config.Get("saga-mode") == kSagaModeOrchestration) {
          // Orchestration: CreatePolicy / CancelPolicy commands, replies to saga-replies.
          auto commands = std::make_shared<PolicyCommandService>(clock, *limit);
          const OutboxTarget target{.schema = "policy", .source = kPolicyWorkerSource};
          auto handler = std::make_shared<CommandHandler<PolicyCommandService, PolicySagaStore>>(
              *commands,
              [target](pqxx::work& tx, const std::string& trace, PendingOutboxRows* outbox_rows) {
                return std::make_unique<PgPolicySagaStore>(tx, target, trace, outbox_rows);
              },
              target, kSagaRepliesTopic);
          parts.keep_alive.insert(parts.keep_alive.end(), {commands, handler});
          parts.handler = handler.get();
        } else {
          auto handler = std::make_shared<PolicyEventHandler>(*saga);
          parts.keep_alive.push_back(handler);
          parts.handler = handler.get();
        }
        return parts;
      }};
}

}  // namespace quoteflow::workers
