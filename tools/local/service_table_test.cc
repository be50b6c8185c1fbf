#include "tools/local/service_table.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace quoteflow::local {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const ServicePlan& plan) {
  std::vector<std::string> names;
  for (const PlannedService& s : plan.services) names.push_back(s.spec.name);
  return names;
}

std::vector<std::string> SkippedNames(const ServicePlan& plan) {
  std::vector<std::string> names;
  for (const SkippedService& s : plan.skipped) names.push_back(s.name);
  return names;
}

auto Built(std::set<std::string> binaries) {
  return [binaries](const std::string& b) -> std::optional<std::string> {
    if (binaries.contains(b)) return "/build/" + b;
    return std::nullopt;
  };
}

TEST(SelectServicesTest, TodaysTreeRunsQuoteApiAndItsRelay) {
  absl::StatusOr<ServicePlan> plan =
      SelectServices(DefaultServices(), "choreography", {}, Built({"quote-api", "outbox-relay"}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Names(*plan), ElementsAre("outbox-relay-quote", "quote-api"));
  EXPECT_THAT(SkippedNames(*plan),
              ElementsAre("outbox-relay-policy", "outbox-relay-customer", "outbox-relay-saga",
                          "customer-worker", "policy-worker", "quote-worker", "saga-orchestrator"));
  EXPECT_EQ(plan->services[0].path, "/build/outbox-relay");
}

TEST(SelectServicesTest, EverythingBuiltInChoreography) {
  absl::StatusOr<ServicePlan> plan =
      SelectServices(DefaultServices(), "choreography", {},
                     Built({"quote-api", "outbox-relay", "policy-worker", "customer-worker",
                            "quote-worker", "saga-orchestrator"}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Names(*plan),
              ElementsAre("outbox-relay-quote", "outbox-relay-policy", "outbox-relay-customer",
                          "customer-worker", "policy-worker", "quote-worker", "quote-api"));
  ASSERT_EQ(plan->skipped.size(), 2u);
  EXPECT_THAT(plan->skipped[1].reason, HasSubstr("orchestration"));
}

TEST(SelectServicesTest, OrchestrationAddsTheOrchestratorAndItsRelay) {
  absl::StatusOr<ServicePlan> plan =
      SelectServices(DefaultServices(), "orchestration", {},
                     Built({"quote-api", "outbox-relay", "saga-orchestrator"}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Names(*plan), ElementsAre("outbox-relay-quote", "outbox-relay-saga",
                                        "saga-orchestrator", "quote-api"));
}

TEST(SelectServicesTest, MissingRequiredBinaryIsAnError) {
  absl::StatusOr<ServicePlan> plan =
      SelectServices(DefaultServices(), "choreography", {}, Built({"outbox-relay"}));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("make build"));
}

TEST(SelectServicesTest, OnlyRestrictsToNamedServicesAndTheirRelays) {
  absl::StatusOr<ServicePlan> plan =
      SelectServices(DefaultServices(), "choreography", {"quote-api"},
                     Built({"quote-api", "outbox-relay", "policy-worker"}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Names(*plan), ElementsAre("outbox-relay-quote", "quote-api"));
  EXPECT_EQ(SelectServices(DefaultServices(), "choreography", {"nope"}, Built({})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DefaultServicesTest, GrpcServersHaveDistinctPortsAndKeys) {
  std::set<int> ports;
  std::set<std::string> keys;
  for (const ServiceSpec& spec : DefaultServices()) {
    if (spec.grpc_key.empty()) continue;
    EXPECT_TRUE(ports.insert(spec.default_port).second) << spec.name;
    EXPECT_TRUE(keys.insert(spec.grpc_key).second) << spec.name;
    EXPECT_EQ(spec.readiness, Readiness::kGrpcHealth) << spec.name;
  }
  EXPECT_TRUE(ports.contains(50051));
  EXPECT_TRUE(keys.contains("QUOTE"));
}

TEST(FindBinaryTest, FindsExecutablesInSubdirectoriesButNotInCMakeFiles) {
  char dir[] = "/tmp/find_binary_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string root = dir;
  auto make_file = [](const std::string& path, bool executable) {
    std::ofstream(path) << "x";
    chmod(path.c_str(), executable ? 0755 : 0644);
  };
  ASSERT_EQ(
      std::system(("mkdir -p " + root + "/a/b " + root + "/CMakeFiles/x " + root + "/c").c_str()),
      0);
  make_file(root + "/CMakeFiles/x/tool", true);
  EXPECT_EQ(FindBinary(root, "tool"), std::nullopt);
  make_file(root + "/c/tool", false);
  EXPECT_EQ(FindBinary(root, "tool"), std::nullopt) << "not executable";
  make_file(root + "/a/b/tool", true);
  EXPECT_EQ(FindBinary(root, "tool"), root + "/a/b/tool");
  make_file(root + "/a/tool", true);
  EXPECT_EQ(FindBinary(root, "tool"), root + "/a/tool") << "the shortest path wins";
  EXPECT_EQ(FindBinary(root + "/missing", "tool"), std::nullopt);
  std::system(("rm -rf " + root).c_str());
}

}  // namespace
}  // namespace quoteflow::local
