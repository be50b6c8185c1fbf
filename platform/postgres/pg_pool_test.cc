// PgPool against a real PostgreSQL: its size bounds the connections handed out, a returned
// connection is handed out again, and TryAcquireIdle never waits for or opens one.
#include "platform/postgres/pg_pool.h"

#include <optional>
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
    EXPECT_FALSE(pool.TryAcquireIdle().has_value());
  }
}

TEST(PgPoolTest, ReturnedConnectionsAreHandedOutAgain) {
  PgPool pool({.database_url = testing::Env().database_url(), .size = 2});
  EXPECT_FALSE(pool.TryAcquireIdle().has_value()) << "none was opened yet";
  int pid = 0;
  {
    absl::StatusOr<PgPool::Lease> lease = pool.Acquire(absl::Now() + absl::Seconds(5));
    ASSERT_TRUE(lease.ok()) << lease.status();
    pid = (*lease)->backendpid();
  }
  std::optional<PgPool::Lease> idle = pool.TryAcquireIdle();
  ASSERT_TRUE(idle.has_value());
  EXPECT_EQ((*idle)->backendpid(), pid);
  EXPECT_FALSE(pool.TryAcquireIdle().has_value()) << "the one idle connection is leased";
  // A broken lease's connection is dropped, not handed out again.
  idle->MarkBroken();
  idle.reset();
  EXPECT_FALSE(pool.TryAcquireIdle().has_value());
  absl::StatusOr<PgPool::Lease> fresh = pool.Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_NE((*fresh)->backendpid(), pid);
}

}  // namespace
}  // namespace quoteflow
