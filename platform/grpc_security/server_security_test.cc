#include "platform/grpc_security/server_security.h"

#include "gtest/gtest.h"

namespace quoteflow::grpc_security {
namespace {

constexpr char kRwToken[] = "rw-secret-token";
constexpr char kRoToken[] = "ro-secret-token";

TokenSet Tokens() {
  auto set = TokenSet::Parse("# quoteflow tokens\n\n" + Sha256Hex(kRwToken) + "  rw  # ops\n" +
                             Sha256Hex(kRoToken) + "\tro\r\n");
  EXPECT_TRUE(set.ok()) << set.status();
  return *set;
}

TEST(Sha256HexTest, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(TokenSetTest, ParsesCommentsBlankLinesAndScopes) {
  TokenSet set = Tokens();
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.Lookup(kRwToken), Scope::kReadWrite);
  EXPECT_EQ(set.Lookup(kRoToken), Scope::kReadOnly);
  EXPECT_EQ(set.Lookup("other"), std::nullopt);
  EXPECT_EQ(set.Lookup(""), std::nullopt);
  // The digest itself is not a token.
  EXPECT_EQ(set.Lookup(Sha256Hex(kRwToken)), std::nullopt);
}

TEST(TokenSetTest, AcceptsUppercaseHex) {
  std::string hex = Sha256Hex(kRwToken);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto set = TokenSet::Parse(hex + " rw");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->Lookup(kRwToken), Scope::kReadWrite);
}

TEST(TokenSetTest, RefusesBadLinesWithoutEchoingThem) {
  const std::string digest = Sha256Hex(kRwToken);
  for (const std::string& text :
       {std::string("plain-token-instead-of-digest rw"), digest + " admin", digest,
        digest + " rw extra", digest.substr(1) + " rw", "zz" + digest.substr(2) + " rw",
        digest + " rw\n" + digest + " ro", std::string("# only\n\n")}) {
    auto set = TokenSet::Parse(text);
    ASSERT_FALSE(set.ok()) << text;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(set.status().message().find("plain-token"), absl::string_view::npos);
    EXPECT_EQ(set.status().message().find(digest.substr(0, 16)), absl::string_view::npos);
  }
  auto bad = TokenSet::Parse("\n\n" + digest + " admin");
  EXPECT_NE(bad.status().message().find("line 3"), absl::string_view::npos) << bad.status();
}

TEST(TokenSetTest, LoadNamesAnUnreadablePath) {
  auto set = TokenSet::Load("/nonexistent/tokens");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find("/nonexistent/tokens"), absl::string_view::npos);
}

TEST(AuthorizeTest, Decisions) {
  TokenSet set = Tokens();
  const std::string approve = "/quoteflow.v1.QuoteService/ApproveQuote";
  const std::string get = "/quoteflow.v1.QuoteService/GetQuote";
  EXPECT_EQ(Authorize(set, get, "").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Authorize(set, get, "Bearer").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Authorize(set, get, "Basic abc").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Authorize(set, get, "Bearer wrong").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Authorize(set, get, std::string("Bearer ") + kRoToken).ok());
  EXPECT_TRUE(Authorize(set, get, std::string("bearer ") + kRwToken).ok());
  EXPECT_EQ(Authorize(set, approve, std::string("Bearer ") + kRoToken).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Authorize(set, approve, std::string("Bearer ") + kRwToken).ok());
  // Unknown methods are mutating for an ro token (fail closed).
  EXPECT_EQ(Authorize(set, "/quoteflow.v1.SagaService/RetrySaga", std::string("Bearer ") + kRoToken)
                .code(),
            absl::StatusCode::kPermissionDenied);
  // Health and reflection are open.
  EXPECT_TRUE(Authorize(set, "/grpc.health.v1.Health/Check", "").ok());
  EXPECT_TRUE(Authorize(set, "/grpc.health.v1.Health/Watch", "Bearer wrong").ok());
  EXPECT_TRUE(
      Authorize(set, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "").ok());
  // A lookalike prefix is not health.
  EXPECT_EQ(Authorize(set, "/grpc.health.v1.HealthX/Check", "").code(),
            absl::StatusCode::kUnauthenticated);
  // No message echoes the token.
  for (const char* token : {kRoToken, "wrong-secret"}) {
    absl::Status s = Authorize(set, approve, std::string("Bearer ") + token);
    EXPECT_EQ(s.message().find(token), absl::string_view::npos);
  }
}

Config MakeConfig(std::vector<std::string> flags) {
  Config config("test", "test");
  DeclareServerSecurity(config);
  std::vector<char*> argv = {const_cast<char*>("test")};
  for (std::string& f : flags) argv.push_back(f.data());
  auto args = config.Parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_TRUE(args.ok()) << args.status();
  return config;
}

TEST(ServerCredentialsFromConfigTest, DefaultIsPlaintextAndBadCombinationsAreRefused) {
  Config plain = MakeConfig({});
  EXPECT_EQ(DescribeServerSecurity(plain), "plaintext");
  EXPECT_TRUE(ServerCredentialsFromConfig(plain).ok());
  EXPECT_EQ(ServerCredentialsFromConfig(MakeConfig({"--tls-cert-file=/x"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ServerCredentialsFromConfig(MakeConfig({"--tls-client-ca-file=/x"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = ServerCredentialsFromConfig(
      MakeConfig({"--tls-cert-file=/nonexistent/c", "--tls-key-file=/nonexistent/k"}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ServerCredentialsFromConfig(MakeConfig({"--auth-tokens-file=/nonexistent/t"}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quoteflow::grpc_security
