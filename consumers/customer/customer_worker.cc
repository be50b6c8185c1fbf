#include "consumers/customer/customer_worker.h"

#include "absl/strings/str_cat.h"
#include "consumers/common/command_handler.h"
#include "consumers/customer/customer_event_handler.h"
#include "consumers/customer/customer_grpc_service.h"
#include "consumers/customer/pg_customer_store.h"
#include "consumers/orchestrator/saga_topics.h"
#include "domain/customer.h"
#include "domain/saga_rules.h"

namespace quoteflow::workers {

WorkerDefinition CustomerWorkerDefinition() {
  return WorkerDefinition{
      .program = "customer-worker",
      .summary =
          "the saga's customer service: counts policies per customer up to its maximum, "
          "serves quoteflow.v1.CustomerService",
      .schema = "customer",
      .default_topics = "policies",
      .orchestration_topics = kCustomerCommandsTopic,
      .default_grpc_address = "127.0.0.1:50052",
      .grpc_service_names = {"quoteflow.v1.CustomerService"},
      .retained_tables = {CustomerRequestsTable()},
      .declare =
          [](Config& config) {
            config.Declare("default-max-policies", absl::StrCat(kDefaultMaxPolicies),
                           "max_policies of customers created without one");
          },
      .build = [](const Config& config, PgPool& pool, Clock& clock,
                    OutboxDoorbell&) -> absl::StatusOr<WorkerParts> {
        absl::StatusOr<int64_t> max = config.GetInt("default-max-policies", 1, kMaxPoliciesLimit);
        if (!max.ok()) return max.status();
        auto saga = std::make_shared<CustomerSaga>(clock);
        std::shared_ptr<messaging::EventHandler> handler;
        std::shared_ptr<void> participant;
        if (config.Get("saga-mode") == kSagaModeOrchestration) {
          // Orchestration: UpdateCustomerPolicyCount commands, replies to saga-replies.
          auto service = std::make_shared<CustomerCommandService>(clock);
          const OutboxTarget target{.schema = "customer", .source = kCustomerWorkerSource};
          handler = std::make_shared<CommandHandler<CustomerCommandService, CustomerSagaStore>>(
              *service,
              [target](pqxx::work& tx, const std::string& trace, PendingOutboxRows* outbox_rows) {
                return std::make_unique<PgCustomerSagaStore>(tx, target, trace, outbox_rows);
              },
              target, kSagaRepliesTopic);
          participant = service;
        } else {
          handler = std::make_shared<CustomerEventHandler>(*saga);
        }
        auto repository = std::make_shared<PgCustomerRepository>(pool);
        auto commands = std::make_shared<CustomerCommands>(*repository, clock, *max);
        auto service = std::make_shared<CustomerGrpcService>(*commands);
        return WorkerParts{
            .keep_alive = {saga, participant, handler, repository, commands, service},
            .handler = handler.get(),
            .services = {service.get()}};
      }};
}

}  // namespace quoteflow::workers
