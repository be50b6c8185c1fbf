// Topic names of the saga by orchestration (the mock broker pre-creates them and their .dlq):
// commands go to one topic per participant, every reply to one topic the orchestrator reads.
#ifndef QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_TOPICS_H_
#define QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_TOPICS_H_

#include "absl/strings/string_view.h"

namespace quoteflow::workers {

inline constexpr char kPolicyCommandsTopic[] = "policy-commands";
inline constexpr char kCustomerCommandsTopic[] = "customer-commands";
inline constexpr char kQuoteCommandsTopic[] = "quote-commands";
inline constexpr char kSagaRepliesTopic[] = "saga-replies";

// The command topic of a SagaCommand::target_type() ("policy", "customer", "quote").
inline const char* CommandTopicFor(absl::string_view target_type) {
  if (target_type == "policy") return kPolicyCommandsTopic;
  if (target_type == "customer") return kCustomerCommandsTopic;
  return kQuoteCommandsTopic;
}

}  // namespace quoteflow::workers

#endif  // QUOTEFLOW_CONSUMERS_ORCHESTRATOR_SAGA_TOPICS_H_
