// SagaSystemFixture: the base of test fixtures that run one SagaSystem per test suite (the saga
// e2e tests in both modes, the operators' kit and /metrics tests). A derived fixture calls
// StartSystem() from its SetUpTestSuite() and StopSystem() from its TearDownTestSuite(); a
// failed start is reported by every test's SetUp(), as is a process that has died. The helpers
// make the calls those tests share against the running system, each with a 10 s deadline, and
// read the test database (Env().database_url()).
//
// Thread-safety: as SagaSystem's; the helpers may be called from load threads.
#ifndef QUOTEFLOW_TESTS_SUPPORT_SAGA_FIXTURE_H_
#define QUOTEFLOW_TESTS_SUPPORT_SAGA_FIXTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quoteflow/v1/customer.grpc.pb.h"
#include "quoteflow/v1/policy.grpc.pb.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/support/saga_system.h"

namespace quoteflow::testing {

class SagaSystemFixture : public ::testing::Test {
 protected:
  static void StartSystem(SagaSystemOptions options);
  // Stops the system; a process that did not exit 0 on SIGTERM fails the suite.
  static void StopSystem();
  void SetUp() override;

  // Creates customer `id` (request id "create-<id>") and ASSERTs that it succeeded.
  static void CreateCustomer(const std::string& id, int64_t max_policies);
  // Creates a quote for `customer` and approves it (request id "approve-<quote id>"); its id, ""
  // after a gtest failure.
  static std::string CreateAndApprove(const std::string& customer, int64_t premium);
  // GetQuote / GetCustomer EXPECT the call to succeed (an empty message otherwise).
  static v1::Quote GetQuote(const std::string& id);
  static grpc::Status GetPolicy(const std::string& quote_id, v1::Policy* out);
  static v1::Customer GetCustomer(const std::string& id);

  // The first column of the first row of `sql` on the test database (pqxx throws without a row).
  static std::string Query1(const std::string& sql);
  static int64_t Count(const std::string& sql);
  // 'a','b',... for an SQL IN list of ids.
  static std::string InList(const std::vector<std::string>& ids);
  // I5 over the whole database: ISSUED <=> an ACTIVE policy; REJECTED => no ACTIVE policy; every
  // customer's count = its ACTIVE policies; no ACTIVE policy for an unregistered customer.
  static void ExpectSagaInvariants();

  static SagaSystem* system_;
  static std::string* start_error_;
};

}  // namespace quoteflow::testing

#endif  // QUOTEFLOW_TESTS_SUPPORT_SAGA_FIXTURE_H_
