// The quote-api process: configuration, wiring of adapters into QuoteCommands, the gRPC server with
// reflection and health, and clean shutdown on SIGTERM/SIGINT. main() is a one-line call to this.
#ifndef QUOTEFLOW_API_QUOTE_API_H_
#define QUOTEFLOW_API_QUOTE_API_H_

namespace quoteflow {

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean shutdown, 2 for a bad
// configuration, 1 when the server cannot start).
int RunQuoteApi(int argc, char** argv);

}  // namespace quoteflow

#endif  // QUOTEFLOW_API_QUOTE_API_H_
