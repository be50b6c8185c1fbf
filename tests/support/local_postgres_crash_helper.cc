// Helper for local_postgres_test: starts a LocalPostgres, prints "PID <postmaster pid> DIR <data
// dir>" on stdout, then SIGKILLs itself, so the test can check that the postmaster does not outlive
// a crashed owner. Not for other uses.
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "platform/local/local_postgres.h"

int main() {
  auto pg = quoteflow::LocalPostgres::Start({});
  if (!pg.ok()) {
    std::fprintf(stderr, "%s\n", pg.status().ToString().c_str());
    return 1;
  }
  std::printf("PID %d DIR %s\n", static_cast<int>((*pg)->postmaster_pid()),
              (*pg)->data_dir().c_str());
  std::fflush(stdout);
  kill(getpid(), SIGKILL);
  return 0;
}
