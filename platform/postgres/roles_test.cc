// Least privilege (migrations/0006_roles.sql) against a real PostgreSQL: a LOGIN member of each
// service role reaches its own schema and is refused everywhere else; a relay role reaches only its
// outbox (read, delete, park) and the relay bookkeeping table.
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

// Runs `sql` as a LOGIN member of `group` (SET ROLE in a transaction that is rolled back).
// Returns "" when it succeeded, else the error text.
std::string RunAs(const std::string& group, const std::string& sql) {
  pqxx::connection c(testing::Env().database_url());
  const std::string login = group + "_login_test";
  {
    pqxx::nontransaction admin(c);
    admin.exec(absl::StrCat("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '",
                            login, "') THEN CREATE ROLE ", login, " LOGIN IN ROLE ", group,
                            "; END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN "
                            "NULL; END $$"));
  }
  try {
    pqxx::work tx(c);
    tx.exec("SET LOCAL ROLE " + login);
    tx.exec(sql);
    tx.abort();
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

void ExpectAllowed(const std::string& role, const std::string& sql) {
  const std::string error = RunAs(role, sql);
  EXPECT_EQ(error, "") << role << " should be allowed: " << sql;
}

void ExpectRefused(const std::string& role, const std::string& sql) {
  const std::string error = RunAs(role, sql);
  EXPECT_NE(error.find("permission denied"), std::string::npos)
      << role << " should be refused: " << sql << " (got: " << error << ")";
}

TEST(RolesTest, GroupRolesExistAndCannotLogIn) {
  pqxx::connection c(testing::Env().database_url());
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(
      "SELECT count(*) FROM pg_roles WHERE NOT rolcanlogin AND rolname IN ("
      "'quoteflow_quote_api', 'quoteflow_quote_worker', 'quoteflow_policy_worker', "
      "'quoteflow_customer_worker', 'quoteflow_saga', 'quoteflow_relay_quote', "
      "'quoteflow_relay_policy', 'quoteflow_relay_customer', 'quoteflow_relay_saga')");
  EXPECT_EQ(r[0][0].as<int>(), 9);
}

TEST(RolesTest, ServicesReachOnlyTheirOwnSchema) {
  const std::vector<std::pair<std::string, std::string>> services = {
      {"quoteflow_quote_api", "quote"},
      {"quoteflow_quote_worker", "quote"},
      {"quoteflow_policy_worker", "policy"},
      {"quoteflow_customer_worker", "customer"},
      {"quoteflow_saga", "saga"}};
  for (const auto& [role, schema] : services) {
    ExpectAllowed(role, absl::StrCat("SELECT count(*) FROM ", schema, ".outbox"));
    ExpectAllowed(role, absl::StrCat("SELECT count(*) FROM ", schema, ".inbox"));
    ExpectAllowed(role, absl::StrCat("DELETE FROM ", schema, ".outbox"));
    ExpectAllowed(role, "SELECT count(*) FROM public.quoteflow_migrations");
    for (const std::string other : {"quote", "policy", "customer", "saga"}) {
      if (other == schema) continue;
      ExpectRefused(role, absl::StrCat("SELECT count(*) FROM ", other, ".outbox"));
    }
    ExpectRefused(role, "DELETE FROM public.quoteflow_migrations");
    ExpectRefused(role, absl::StrCat("CREATE TABLE ", schema, ".intruder (x int)"));
  }
  ExpectAllowed("quoteflow_quote_api", "SELECT count(*) FROM quote.quotes");
  ExpectAllowed("quoteflow_quote_api", "UPDATE quote.quotes SET version = version");
  ExpectRefused("quoteflow_quote_api", "SELECT count(*) FROM policy.policies");
  ExpectRefused("quoteflow_quote_api", "SELECT count(*) FROM customer.customers");
  ExpectRefused("quoteflow_policy_worker", "SELECT count(*) FROM quote.quotes");
  ExpectRefused("quoteflow_customer_worker", "SELECT count(*) FROM policy.policies");
  ExpectRefused("quoteflow_saga", "SELECT count(*) FROM quote.quotes");
}

TEST(RolesTest, RelaysReachOnlyTheirOutbox) {
  for (const std::string schema : {"quote", "policy", "customer", "saga"}) {
    const std::string role = "quoteflow_relay_" + schema;
    ExpectAllowed(role, absl::StrCat("SELECT count(*) FROM ", schema, ".outbox"));
    ExpectAllowed(role, absl::StrCat("DELETE FROM ", schema, ".outbox WHERE seq = -1"));
    ExpectAllowed(role,
                  absl::StrCat("UPDATE ", schema, ".outbox SET parked_at = now() WHERE seq = -1"));
    ExpectAllowed(role,
                  "INSERT INTO public.quoteflow_outbox_relays (schema_name, relay_id, "
                  "backend_pid) VALUES ('" +
                      schema + "', 'roles-test', 1)");
    ExpectAllowed(role, "DELETE FROM public.quoteflow_outbox_relays WHERE relay_id = 'x'");
    ExpectRefused(role, absl::StrCat("INSERT INTO ", schema, ".outbox DEFAULT VALUES"));
    ExpectRefused(role, absl::StrCat("SELECT count(*) FROM ", schema, ".inbox"));
    for (const std::string other : {"quote", "policy", "customer", "saga"}) {
      if (other == schema) continue;
      ExpectRefused(role, absl::StrCat("SELECT count(*) FROM ", other, ".outbox"));
    }
  }
  ExpectRefused("quoteflow_relay_quote", "UPDATE quote.quotes SET version = version");
  ExpectRefused("quoteflow_relay_quote", "SELECT count(*) FROM quote.quotes");
}

}  // namespace
}  // namespace quoteflow
