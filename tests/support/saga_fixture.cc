#include "tests/support/saga_fixture.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/test_environment.h"

namespace quoteflow::testing {

SagaSystem* SagaSystemFixture::system_ = nullptr;
std::string* SagaSystemFixture::start_error_ = nullptr;

namespace {

void SetDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

}  // namespace

void SagaSystemFixture::StartSystem(SagaSystemOptions options) {
  system_ = new SagaSystem(std::move(options));
  absl::Status s = system_->Start();
  if (!s.ok()) start_error_ = new std::string(s.ToString() + "\n" + system_->Logs());
}

void SagaSystemFixture::StopSystem() {
  if (system_ != nullptr) {
    std::vector<std::string> bad = system_->Stop();
    EXPECT_TRUE(bad.empty()) << "did not stop cleanly: " << absl::StrJoin(bad, ", ") << "\n"
                             << system_->Logs();
  }
  delete system_;
  system_ = nullptr;
  delete start_error_;
  start_error_ = nullptr;
}

void SagaSystemFixture::SetUp() {
  ASSERT_EQ(start_error_, nullptr) << "system did not start: " << *start_error_;
  ASSERT_TRUE(system_->Dead().empty()) << absl::StrJoin(system_->Dead(), ", ") << " died\n"
                                       << system_->Logs();
}

void SagaSystemFixture::CreateCustomer(const std::string& id, int64_t max_policies) {
  v1::CreateCustomerRequest req;
  req.set_customer_id(id);
  req.set_name("Customer " + id);
  req.set_max_policies(max_policies);
  req.set_request_id("create-" + id);
  v1::Customer out;
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  grpc::Status s = system_->customers().CreateCustomer(&ctx, req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

std::string SagaSystemFixture::CreateAndApprove(const std::string& customer, int64_t premium) {
  v1::CreateQuoteRequest create;
  create.set_customer_id(customer);
  create.set_premium(premium);
  v1::Quote quote;
  grpc::ClientContext c1;
  SetDeadline(c1);
  grpc::Status s = system_->quotes().CreateQuote(&c1, create, &quote);
  EXPECT_TRUE(s.ok()) << s.error_message();
  if (!s.ok()) return "";
  v1::ApproveQuoteRequest approve;
  approve.set_quote_id(quote.quote_id());
  approve.set_request_id("approve-" + quote.quote_id());
  v1::ApproveQuoteResponse approved;
  grpc::ClientContext c2;
  SetDeadline(c2);
  s = system_->quotes().ApproveQuote(&c2, approve, &approved);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return s.ok() ? quote.quote_id() : "";
}

v1::Quote SagaSystemFixture::GetQuote(const std::string& id) {
  v1::GetQuoteRequest req;
  req.set_quote_id(id);
  v1::Quote out;
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  grpc::Status s = system_->quotes().GetQuote(&ctx, req, &out);
  EXPECT_TRUE(s.ok()) << "GetQuote " << id << ": " << s.error_message();
  return out;
}

grpc::Status SagaSystemFixture::GetPolicy(const std::string& quote_id, v1::Policy* out) {
  v1::GetPolicyRequest req;
  req.set_quote_id(quote_id);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  return system_->policies().GetPolicy(&ctx, req, out);
}

v1::Customer SagaSystemFixture::GetCustomer(const std::string& id) {
  v1::GetCustomerRequest req;
  req.set_customer_id(id);
  v1::Customer out;
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  grpc::Status s = system_->customers().GetCustomer(&ctx, req, &out);
  EXPECT_TRUE(s.ok()) << "GetCustomer " << id << ": " << s.error_message();
  return out;
}

std::string SagaSystemFixture::Query1(const std::string& sql) {
  pqxx::connection c(Env().database_url());
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<std::string>();
}

int64_t SagaSystemFixture::Count(const std::string& sql) {
  pqxx::connection c(Env().database_url());
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

std::string SagaSystemFixture::InList(const std::vector<std::string>& ids) {
  std::string list;
  for (const std::string& id : ids) absl::StrAppend(&list, list.empty() ? "'" : ",'", id, "'");
  return list;
}

void SagaSystemFixture::ExpectSagaInvariants() {
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes q LEFT JOIN policy.policies p"
                  " USING (quote_id) WHERE q.status = 'ISSUED'"
                  " AND (p.status IS NULL OR p.status <> 'ACTIVE')"),
            0)
      << "ISSUED quotes without an ACTIVE policy";
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes q JOIN policy.policies p USING (quote_id)"
                  " WHERE q.status = 'REJECTED' AND p.status = 'ACTIVE'"),
            0)
      << "REJECTED quotes with an ACTIVE policy";
  EXPECT_EQ(Count("SELECT count(*) FROM customer.customers c WHERE policy_count <>"
                  " (SELECT count(*) FROM policy.policies p WHERE p.customer_id = c.customer_id"
                  "  AND p.status = 'ACTIVE')"),
            0)
      << "customers whose count is not their ACTIVE policies";
  EXPECT_EQ(Count("SELECT count(*) FROM policy.policies p WHERE status = 'ACTIVE' AND NOT"
                  " EXISTS (SELECT 1 FROM customer.customers c"
                  " WHERE c.customer_id = p.customer_id)"),
            0)
      << "ACTIVE policies of unregistered customers";
}

}  // namespace quoteflow::testing
