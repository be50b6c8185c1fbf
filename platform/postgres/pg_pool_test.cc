// PgPool against a real PostgreSQL: its size bounds the connections handed out, and a returned
// connection is handed out again unless it was marked broken.
#include "platform/postgres/pg_pool.h"

#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

TEST(PgPoolTest, SizeBoundsTheConnectionsHandedOut) {
  PgPool pool({.database_url = testing::Env().database_url(), .size = 2});
  // Several rounds: a lease returned (or moved from) must not count twice, or the bound erodes.
  for (int round = 0; round < 3; ++round) {
    std::vector<PgPool::Lease> held;
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<PgPool::Lease> lease = pool.Acquire(absl::Now() + absl::Seconds(5));
      ASSERT_TRUE(lease.ok()) << lease.status();
      held.push_back(*std::move(lease));
    }
    absl::StatusOr<PgPool::Lease> third = pool.Acquire(absl::Now() + absl::Milliseconds(100));
    EXPECT_TRUE(absl::IsDeadlineExceeded(third.status())) << "round " << round << ": a third "
                                                          << "connection from a pool of 2";
  }
}

TEST(PgPoolTest, ReturnedConnectionsAreHandedOutAgain) {
  PgPool pool({.database_url = testing::Env().database_url(), .size = 2});
  auto backend_of_next_lease = [&pool](bool mark_broken) {
    absl::StatusOr<PgPool::Lease> lease = pool.Acquire(absl::Now() + absl::Seconds(5));
    EXPECT_TRUE(lease.ok()) << lease.status();
    if (!lease.ok()) return 0;
    const int pid = (*lease)->backendpid();
    if (mark_broken) lease->MarkBroken();
    return pid;
  };
  const int first = backend_of_next_lease(false);
  EXPECT_EQ(backend_of_next_lease(/*mark_broken=*/true), first);
  // The broken lease's connection was dropped, not handed out again.
  EXPECT_NE(backend_of_next_lease(false), first);
}

}  // namespace
}  // namespace quoteflow
