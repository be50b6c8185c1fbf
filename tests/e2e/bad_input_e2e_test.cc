// End to end: a corpus of bad requests sent over gRPC to the real quote-api binary (child process,
// real PostgreSQL): empty and huge strings, SQL meta-characters, extreme numbers, invalid UTF-8 and
// malformed protobuf (raw bytes through grpc::GenericStub), unknown fields, 5 MiB bodies. Every
// reply must be INVALID_ARGUMENT (with a google.rpc.BadRequest naming the field when the request
// parsed), RESOURCE_EXHAUSTED (larger than --max-message-bytes) or NOT_FOUND (a well-formed id that
// does not exist) - never INTERNAL or UNKNOWN; nothing may be written to quote.quotes or
// quote.outbox; and the server must still answer health checks and exit 0 on SIGTERM afterwards.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <future>
#include <limits>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "domain/quote.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "platform/process/child_process.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using grpc::StatusCode;
using process::ChildProcess;

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr size_t kFiveMiB = 5 << 20;
constexpr char kCreate[] = "/quoteflow.v1.QuoteService/CreateQuote";
constexpr char kApprove[] = "/quoteflow.v1.QuoteService/ApproveQuote";
constexpr char kGet[] = "/quoteflow.v1.QuoteService/GetQuote";

// Protobuf wire encoding by hand, so that string fields can carry bytes that are not UTF-8 and
// messages can be malformed on purpose.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string LengthDelimited(int field, absl::string_view bytes) {
  return absl::StrCat(Varint(static_cast<uint64_t>(field) << 3 | 2), Varint(bytes.size()), bytes);
}
std::string VarintField(int field, int64_t v) {
  return absl::StrCat(Varint(static_cast<uint64_t>(field) << 3), Varint(static_cast<uint64_t>(v)));
}

// The field a google.rpc.BadRequest in `status`'s details names, or "" if there is none.
std::string BadRequestField(const grpc::Status& status) {
  google::rpc::Status rich;
  if (!rich.ParseFromString(status.error_details())) return "";
  for (const auto& any : rich.details()) {
    google::rpc::BadRequest bad_request;
    if (any.UnpackTo(&bad_request) && bad_request.field_violations_size() > 0) {
      return bad_request.field_violations(0).field();
    }
  }
  return "";
}

// One request of the corpus and what the server must answer.
struct Expectation {
  std::string name;
  StatusCode code;
  std::string field;  // for INVALID_ARGUMENT of a request that parsed: the field named
};

class BadInputE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(quoteflow::testing::ResetDatabase().ok());
    port_ = process::FreeTcpPort();
    address_ = absl::StrCat("127.0.0.1:", port_);
    auto child =
        ChildProcess::Start({.path = QUOTEFLOW_QUOTE_API_BIN,
                             .args = {"--grpc-address=" + address_},
                             .env = {{"DATABASE_URL", quoteflow::testing::Env().database_url()}},
                             .stderr_path = ::testing::TempDir() + "quote-api-bad-input.log"});
    ASSERT_TRUE(child.ok()) << child.status();
    api_ = std::move(*child);
    // Connect only once the port listens: a channel whose first attempts are refused backs off.
    absl::Status listening = quoteflow::testing::WaitFor(
        [&] { return quoteflow::testing::AcceptsTcpConnections(port_); }, absl::Seconds(30),
        "quote-api to listen");
    ASSERT_TRUE(listening.ok()) << listening;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
    ASSERT_TRUE(quoteflow::testing::WaitFor([&] { return Serving(); }, absl::Seconds(30),
                                            "quote-api to report SERVING")
                    .ok());
    stub_ = v1::QuoteService::NewStub(channel_);
    generic_ = std::make_unique<grpc::GenericStub>(channel_);
    rows_before_ = CountRows();
  }

  void TearDown() override {
    if (api_ == nullptr) return;
    EXPECT_TRUE(api_->Running()) << "quote-api died during the corpus";
    if (!api_->Running()) return;
    EXPECT_TRUE(Serving()) << "quote-api stopped answering health checks";
    EXPECT_EQ(CountRows(), rows_before_) << "bad input changed quote.quotes / quote.outbox";
    // Close our connection first: gRPC's Shutdown waits for open client connections to go.
    generic_.reset();
    stub_.reset();
    channel_.reset();
    ASSERT_TRUE(api_->Signal(SIGTERM).ok());
    auto code = api_->Wait(absl::Now() + absl::Seconds(15));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << "quote-api should exit 0 after SIGTERM";
  }

  bool Serving() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    return health->Check(&ctx, req, &resp).ok() &&
           resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  // "quotes=<n> outbox=<n>".
  std::string CountRows() {
    pqxx::connection c(quoteflow::testing::Env().database_url());
    pqxx::nontransaction tx(c);
    return absl::StrCat(
        "quotes=", tx.exec("SELECT count(*) FROM quote.quotes")[0][0].as<int64_t>(),
        " outbox=", tx.exec("SELECT count(*) FROM quote.outbox")[0][0].as<int64_t>());
  }

  // Sends `body` as the request of `method` (a full path) without any client-side encoding.
  grpc::Status CallRaw(const std::string& method, const std::string& body) {
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::promise<grpc::Status> done;
    generic_->UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                        [&done](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  template <class Request, class Response>
  grpc::Status Call(grpc::Status (v1::QuoteService::Stub::*rpc)(grpc::ClientContext*,
                                                                const Request&, Response*),
                    const Request& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Response response;
    return (stub_.get()->*rpc)(&ctx, request, &response);
  }

  // Checks one reply against its expectation and tallies it.
  void Expect(const Expectation& want, const grpc::Status& got) {
    ++tally_[got.error_code()];
    EXPECT_NE(got.error_code(), StatusCode::INTERNAL) << want.name << ": " << got.error_message();
    EXPECT_NE(got.error_code(), StatusCode::UNKNOWN) << want.name << ": " << got.error_message();
    EXPECT_EQ(got.error_code(), want.code) << want.name << ": " << got.error_message();
    if (want.code == StatusCode::INVALID_ARGUMENT) {
      EXPECT_FALSE(got.error_message().empty()) << want.name << ": INVALID_ARGUMENT says nothing";
    }
    if (!want.field.empty()) {
      EXPECT_EQ(BadRequestField(got), want.field) << want.name << ": " << got.error_message();
    }
  }

  void PrintTally(absl::string_view corpus) {
    std::string line = absl::StrCat("BAD INPUT ", corpus, ":");
    for (const auto& [code, n] : tally_) absl::StrAppend(&line, " code", code, "=", n);
    std::printf("%s\n", line.c_str());
  }

  int port_ = 0;
  std::string address_;
  std::unique_ptr<ChildProcess> api_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::QuoteService::Stub> stub_;
  std::unique_ptr<grpc::GenericStub> generic_;
  std::string rows_before_;
  std::map<int, int> tally_;
};

// Strings that are valid UTF-8 but no valid id: each must be refused naming the field.
const std::vector<std::pair<std::string, std::string>>& BadStrings() {
  static const auto* strings = new std::vector<std::pair<std::string, std::string>>{
      {"empty", ""},
      {"60 KiB", std::string(60 << 10, 'x')},
      {"129 chars", std::string(kMaxIdLength + 1, 'a')},
      {"SQL drop", "q'; DROP TABLE quote.quotes; --"},
      {"SQL tautology", "1' OR '1'='1"},
      {"SQL comment and wildcards", "a/**/%_\\"},
      {"SQL placeholder", "$1"},
      {"SQL semicolon", "x;SELECT pg_sleep(10)"},
      {"NUL inside", std::string("ab\0cd", 5)},
      {"newline", "a\nb"},
      {"spaces", "   "},
      {"non-ASCII", "cliente-\xC3\xA7-\xE5\xAE\xA2"},
      {"emoji", "\xF0\x9F\x92\xA3"},
      {"format string", "%s%n%x"},
      {"json", R"({"$gt":""})"},
  };
  return *strings;
}

TEST_F(BadInputE2eTest, StringAndNumberCorpusIsRefusedNamingTheField) {
  for (const auto& [what, bad] : BadStrings()) {
    v1::CreateQuoteRequest create;
    create.set_customer_id(bad);
    create.set_premium(100);
    Expect({"CreateQuote customer_id " + what, StatusCode::INVALID_ARGUMENT, "customer_id"},
           Call(&v1::QuoteService::Stub::CreateQuote, create));
    if (!bad.empty()) {  // an empty request_id means "no idempotency key"
      create.set_customer_id("cust-1");
      create.set_request_id(bad);
      Expect({"CreateQuote request_id " + what, StatusCode::INVALID_ARGUMENT, "request_id"},
             Call(&v1::QuoteService::Stub::CreateQuote, create));
    }

    v1::ApproveQuoteRequest approve;
    approve.set_quote_id(bad);
    Expect({"ApproveQuote quote_id " + what, StatusCode::INVALID_ARGUMENT, "quote_id"},
           Call(&v1::QuoteService::Stub::ApproveQuote, approve));
    if (!bad.empty()) {
      approve.set_quote_id("q-does-not-exist");
      approve.set_request_id(bad);
      Expect({"ApproveQuote request_id " + what, StatusCode::INVALID_ARGUMENT, "request_id"},
             Call(&v1::QuoteService::Stub::ApproveQuote, approve));
    }

    v1::GetQuoteRequest get;
    get.set_quote_id(bad);
    Expect({"GetQuote quote_id " + what, StatusCode::INVALID_ARGUMENT, "quote_id"},
           Call(&v1::QuoteService::Stub::GetQuote, get));
  }

  for (int64_t premium : {int64_t{0}, int64_t{-1}, kInt64Min, kInt64Max, kMaxPremium + 1}) {
    v1::CreateQuoteRequest create;
    create.set_customer_id("cust-1");
    create.set_premium(premium);
    Expect({absl::StrCat("CreateQuote premium ", premium), StatusCode::INVALID_ARGUMENT, "premium"},
           Call(&v1::QuoteService::Stub::CreateQuote, create));
  }
  for (int64_t version : {int64_t{-1}, kInt64Min}) {
    v1::ApproveQuoteRequest approve;
    approve.set_quote_id("q-does-not-exist");
    approve.set_expected_version(version);
    Expect({absl::StrCat("ApproveQuote expected_version ", version), StatusCode::INVALID_ARGUMENT,
            "expected_version"},
           Call(&v1::QuoteService::Stub::ApproveQuote, approve));
  }

  // Well-formed ids that do not exist, with extreme but valid numbers: NOT_FOUND.
  v1::ApproveQuoteRequest approve;
  approve.set_quote_id("q-does-not-exist");
  approve.set_request_id("r-" + std::string(kMaxIdLength - 2, '9'));
  approve.set_expected_version(kInt64Max);
  Expect({"ApproveQuote unknown quote", StatusCode::NOT_FOUND, ""},
         Call(&v1::QuoteService::Stub::ApproveQuote, approve));
  v1::GetQuoteRequest get;
  get.set_quote_id(std::string(kMaxIdLength, 'z'));
  Expect({"GetQuote unknown quote", StatusCode::NOT_FOUND, ""},
         Call(&v1::QuoteService::Stub::GetQuote, get));
  PrintTally("strings and numbers");
}

TEST_F(BadInputE2eTest, RawBytesInvalidUtf8MalformedAndUnknownFieldsAreInvalidArgument) {
  const std::vector<std::pair<std::string, std::string>> invalid_utf8 = {
      {"lone continuation", "\x80"},           {"truncated sequence", "ab\xC3"},
      {"overlong slash", "\xC0\xAF"},          {"surrogate", "\xED\xA0\x80"},
      {"beyond U+10FFFF", "\xF4\x90\x80\x80"}, {"0xFF", "q-\xFF\xFE"},
  };
  // Every string field of every request, at its field number, holding bytes that are not UTF-8.
  const std::vector<std::pair<std::string, int>> string_fields = {
      {kCreate, 1}, {kCreate, 3}, {kApprove, 1}, {kApprove, 2}, {kGet, 1}};
  for (const auto& [method, field] : string_fields) {
    for (const auto& [what, bytes] : invalid_utf8) {
      std::string body = LengthDelimited(field, bytes);
      if (method == kCreate) absl::StrAppend(&body, VarintField(2, 100));  // a valid premium
      Expect({absl::StrCat(method, " field ", field, " ", what), StatusCode::INVALID_ARGUMENT, ""},
             CallRaw(method, body));
    }
  }

  // Malformed protobuf: nothing parses.
  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"truncated length", absl::StrCat("\x0A\x32", "abc")},
      {"field number 0", std::string("\x00\x01", 2)},
      {"unterminated group", "\x0B"},
      {"stray end group", "\x0C"},
      {"11-byte varint", absl::StrCat("\x10", std::string(10, '\xFF'), "\x01")},
      {"length beyond int32", absl::StrCat("\x0A", Varint(uint64_t{1} << 40))},
      {"reserved wire type", "\x0E\x00"},
  };
  for (const char* method : {kCreate, kApprove, kGet}) {
    for (const auto& [what, body] : malformed) {
      Expect({absl::StrCat(method, " ", what), StatusCode::INVALID_ARGUMENT, ""},
             CallRaw(method, body));
    }
  }

  // Unknown fields (proto3 keeps and ignores them) and a known field with the wrong wire type
  // (parsed as an unknown field): the request is judged on its known fields alone.
  const std::string unknown =
      absl::StrCat(VarintField(4, 99), VarintField(99, -1), LengthDelimited(1000, "\xFF\x00junk"),
                   LengthDelimited(536870911, "max field number"));
  Expect({"CreateQuote unknown fields, no customer", StatusCode::INVALID_ARGUMENT, "customer_id"},
         CallRaw(kCreate, absl::StrCat(unknown, VarintField(2, 100))));
  Expect({"CreateQuote customer_id as varint", StatusCode::INVALID_ARGUMENT, "customer_id"},
         CallRaw(kCreate, absl::StrCat(VarintField(1, 7), VarintField(2, 100))));
  Expect({"CreateQuote premium as string", StatusCode::INVALID_ARGUMENT, "premium"},
         CallRaw(kCreate, absl::StrCat(LengthDelimited(1, "cust-1"), LengthDelimited(2, "100"))));
  Expect({"ApproveQuote unknown fields, unknown quote", StatusCode::NOT_FOUND, ""},
         CallRaw(kApprove, absl::StrCat(LengthDelimited(1, "q-nope"), unknown)));
  Expect({"GetQuote unknown enum-like value, unknown quote", StatusCode::NOT_FOUND, ""},
         CallRaw(kGet, absl::StrCat(LengthDelimited(1, "q-nope"), VarintField(2, 12345))));
  Expect({"GetQuote empty body", StatusCode::INVALID_ARGUMENT, "quote_id"}, CallRaw(kGet, ""));
  // Repeated scalar occurrences: the last one wins, as protobuf specifies.
  Expect({"GetQuote id given twice", StatusCode::INVALID_ARGUMENT, "quote_id"},
         CallRaw(kGet, absl::StrCat(LengthDelimited(1, "q-ok"), LengthDelimited(1, "bad id"))));
  PrintTally("raw bytes");
}

TEST_F(BadInputE2eTest, OversizedBodiesAreResourceExhausted) {
  const std::string huge(kFiveMiB, 'x');
  v1::CreateQuoteRequest create;
  create.set_customer_id(huge);
  create.set_premium(100);
  Expect({"CreateQuote 5 MiB customer_id", StatusCode::RESOURCE_EXHAUSTED, ""},
         Call(&v1::QuoteService::Stub::CreateQuote, create));
  v1::ApproveQuoteRequest approve;
  approve.set_quote_id("q-1");
  approve.set_request_id(huge);
  Expect({"ApproveQuote 5 MiB request_id", StatusCode::RESOURCE_EXHAUSTED, ""},
         Call(&v1::QuoteService::Stub::ApproveQuote, approve));
  v1::GetQuoteRequest get;
  get.set_quote_id(huge);
  Expect({"GetQuote 5 MiB quote_id", StatusCode::RESOURCE_EXHAUSTED, ""},
         Call(&v1::QuoteService::Stub::GetQuote, get));
  // Raw: 5 MiB of non-UTF-8 in a string field, and 5 MiB of bytes that are no message at all.
  Expect({"CreateQuote 5 MiB invalid UTF-8", StatusCode::RESOURCE_EXHAUSTED, ""},
         CallRaw(kCreate, LengthDelimited(1, std::string(kFiveMiB, '\xFF'))));
  Expect({"GetQuote 5 MiB garbage", StatusCode::RESOURCE_EXHAUSTED, ""},
         CallRaw(kGet, std::string(kFiveMiB, '\x0B')));
  // Just under the 64 KiB limit the request is read and judged: an id that long is invalid.
  get.set_quote_id(std::string(60 << 10, 'q'));
  Expect({"GetQuote 60 KiB quote_id", StatusCode::INVALID_ARGUMENT, "quote_id"},
         Call(&v1::QuoteService::Stub::GetQuote, get));
  // Many oversized calls in a row leave the server serving.
  for (int i = 0; i < 3; ++i) {
    Expect({absl::StrCat("GetQuote 5 MiB #", i), StatusCode::RESOURCE_EXHAUSTED, ""},
           CallRaw(kGet, LengthDelimited(1, huge)));
  }
  PrintTally("oversized");
}

}  // namespace
}  // namespace quoteflow
