// main() for test binaries that use the shared services: registers QuoteflowEnvironment (one
// PostgreSQL cluster per binary, the broker on first use) and runs every test.
#include "tests/support/test_environment.h"

int main(int argc, char** argv) {
  quoteflow::testing::InitQuoteflowTestMain(&argc, argv);
  return RUN_ALL_TESTS();
}
