// quotectl, the admin CLI: `quotectl [global flags] COMMAND [args]`. Global flags (also environment
// variables) come before the command; everything after it belongs to the command.
//   migrate [status]                         apply pending migrations / check the schema is current
//   outbox parked|retry SEQ|drop SEQ|stats   the relay's outbox (--outbox-schema picks the service)
//   dlq list|redrive, replay                 dead-letter topics and consumer offsets (Kafka flags)
// Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
#ifndef QUOTEFLOW_TOOLS_QUOTECTL_QUOTECTL_H_
#define QUOTEFLOW_TOOLS_QUOTECTL_QUOTECTL_H_

namespace quoteflow {

int RunQuotectl(int argc, char** argv);

}  // namespace quoteflow

#endif  // QUOTEFLOW_TOOLS_QUOTECTL_QUOTECTL_H_
