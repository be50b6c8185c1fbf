// CustomerService and PolicyService in-process over gRPC on a real PostgreSQL: validation with
// BadRequest details, CreateCustomer idempotency (also under concurrency), ALREADY_EXISTS,
// GetCustomer, GetPolicy by either id, NOT_FOUND.
#include <grpcpp/grpcpp.h>

#include <pqxx/pqxx>
#include <thread>

#include "consumers/customer/customer_grpc_service.h"
#include "consumers/customer/pg_customer_store.h"
#include "consumers/policy/pg_policy_store.h"
#include "consumers/policy/policy_grpc_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "platform/runtime/runtime.h"
#include "tests/support/test_environment.h"

namespace quoteflow::workers {
namespace {

using quoteflow::testing::Env;

std::string FieldOf(const grpc::Status& s) {
  google::rpc::Status rich;
  if (!rich.ParseFromString(s.error_details()) || rich.details_size() == 0) return "";
  google::rpc::BadRequest bad;
  if (!rich.details(0).UnpackTo(&bad) || bad.field_violations_size() == 0) return "";
  return bad.field_violations(0).field();
}

class SagaGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&customer_service_);
    builder.RegisterService(&policy_service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    customers_ = v1::CustomerService::NewStub(channel);
    policies_ = v1::PolicyService::NewStub(channel);
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Create(const std::string& id, const std::string& name, int64_t max,
                      const std::string& request_id, v1::Customer* out) {
    v1::CreateCustomerRequest req;
    req.set_customer_id(id);
    req.set_name(name);
    req.set_max_policies(max);
    req.set_request_id(request_id);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return customers_->CreateCustomer(&ctx, req, out);
  }

  grpc::Status Get(const std::string& id, v1::Customer* out) {
    v1::GetCustomerRequest req;
    req.set_customer_id(id);
    grpc::ClientContext ctx;
    return customers_->GetCustomer(&ctx, req, out);
  }

  grpc::Status GetPolicy(const v1::GetPolicyRequest& req, v1::Policy* out) {
    grpc::ClientContext ctx;
    return policies_->GetPolicy(&ctx, req, out);
  }

  void Exec(const std::string& sql) {
    pqxx::connection conn(Env().database_url());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  }

  PgPool pool_{{.database_url = Env().database_url(), .size = 8}};
  SystemClock clock_;
  PgCustomerRepository customer_repository_{pool_};
  CustomerCommands customer_commands_{customer_repository_, clock_, /*default_max_policies=*/3};
  CustomerGrpcService customer_service_{customer_commands_};
  PgPolicyReader policy_reader_{pool_};
  PolicyQueries policy_queries_{policy_reader_};
  PolicyGrpcService policy_service_{policy_queries_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::CustomerService::Stub> customers_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
};

TEST_F(SagaGrpcTest, CreateThenGetCustomer) {
  v1::Customer created;
  grpc::Status s = Create("cust-1", "Ada Lovelace", 0, "req-1", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(created.customer_id(), "cust-1");
  EXPECT_EQ(created.name(), "Ada Lovelace");
  EXPECT_EQ(created.max_policies(), 3);  // the default
  EXPECT_EQ(created.policy_count(), 0);
  EXPECT_EQ(created.version(), 1);
  EXPECT_GT(created.created_at().seconds(), 0);

  v1::Customer got;
  ASSERT_TRUE(Get("cust-1", &got).ok());
  EXPECT_EQ(got.SerializeAsString(), created.SerializeAsString());
}

TEST_F(SagaGrpcTest, SameRequestIdGivesTheSameResponseAfterTheSagaChangedTheCustomer) {
  v1::Customer first;
  ASSERT_TRUE(Create("cust-1", "Ada", 5, "req-1", &first).ok());
  Exec("UPDATE customer.customers SET policy_count = 2, version = 3, updated_at = now()");
  v1::Customer again;
  grpc::Status s = Create("cust-1", "Ada", 5, "req-1", &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  v1::Customer now;
  ASSERT_TRUE(Get("cust-1", &now).ok());
  EXPECT_EQ(now.policy_count(), 2);
}

TEST_F(SagaGrpcTest, ConcurrentCopiesOfOneCreateGiveOneCustomer) {
  std::vector<v1::Customer> out(8);
  std::vector<grpc::Status> st(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { st[i] = Create("cust-1", "Ada", 2, "same", &out[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(st[i].ok()) << st[i].error_message();
    EXPECT_EQ(out[i].SerializeAsString(), out[0].SerializeAsString());
  }
}

TEST_F(SagaGrpcTest, ConflictsAndValidation) {
  v1::Customer c;
  ASSERT_TRUE(Create("cust-1", "Ada", 2, "req-1", &c).ok());
  EXPECT_EQ(Create("cust-1", "Ada", 2, "req-2", &c).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Create("cust-1", "Ada", 2, "", &c).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  grpc::Status reused = Create("cust-2", "Bob", 2, "req-1", &c);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldOf(reused), "request_id");
  // A failed create leaves its request id unused.
  EXPECT_TRUE(Create("cust-3", "Cy", 2, "req-2", &c).ok());

  struct Bad {
    std::string id, name;
    int64_t max;
    std::string field;
  };
  for (const Bad& b :
       {Bad{"", "n", 1, "customer_id"}, Bad{"a b", "n", 1, "customer_id"}, Bad{"c", "", 1, "name"},
        Bad{"c", "n", -1, "max_policies"}, Bad{"c", "n", 2'000'000, "max_policies"}}) {
    grpc::Status s = Create(b.id, b.name, b.max, "", &c);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << b.field;
    EXPECT_EQ(FieldOf(s), b.field);
  }
  grpc::Status missing = Get("nobody", &c);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(FieldOf(Get("", &c)), "customer_id");
}

TEST_F(SagaGrpcTest, GetPolicyByPolicyIdOrQuoteId) {
  Exec(
      "INSERT INTO policy.policies VALUES ('pol-q-1', 'q-1', 'cust-1', 1200, 'CANCELLED',"
      " 'customer cust-1 is not registered', 2, 2, now(), now())");
  v1::GetPolicyRequest by_id;
  by_id.set_policy_id("pol-q-1");
  v1::Policy p;
  grpc::Status s = GetPolicy(by_id, &p);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(p.quote_id(), "q-1");
  EXPECT_EQ(p.customer_id(), "cust-1");
  EXPECT_EQ(p.premium(), 1200);
  EXPECT_EQ(p.status(), v1::POLICY_STATUS_CANCELLED);
  EXPECT_EQ(p.cancellation_reason(), "customer cust-1 is not registered");
  EXPECT_EQ(p.version(), 2);

  v1::GetPolicyRequest by_quote;
  by_quote.set_quote_id("q-1");
  v1::Policy q;
  ASSERT_TRUE(GetPolicy(by_quote, &q).ok());
  EXPECT_EQ(q.SerializeAsString(), p.SerializeAsString());

  by_quote.set_quote_id("q-2");
  EXPECT_EQ(GetPolicy(by_quote, &q).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status empty = GetPolicy(v1::GetPolicyRequest(), &q);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(FieldOf(empty), "policy_id");
}

}  // namespace
}  // namespace quoteflow::workers
