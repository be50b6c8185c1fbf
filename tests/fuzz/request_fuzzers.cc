// Fuzz entry points for request validation: QuoteCommands fed decoded command programs
// (FuzzRequestValidation) and the gRPC adapters fed request protos parsed from raw bytes
// (FuzzGrpcRequests). Both run over the in-memory fakes of domain/testing, fresh for every input.
#include <grpcpp/grpcpp.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/quote_grpc_service.h"
#include "consumers/customer/customer_grpc_service.h"
#include "consumers/policy/policy_grpc_service.h"
#include "domain/customer_commands.h"
#include "domain/errors.h"
#include "domain/quote.h"
#include "domain/quote_commands.h"
#include "domain/testing/fakes.h"
#include "domain/testing/saga_fakes.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"

namespace quoteflow::fuzz {
namespace {

using absl::StatusCode;

// SequentialIds that remembers the last id it gave out (the id a failed CreateQuote consumed).
class RecordingIds : public IdGenerator {
 public:
  std::string NewId() override {
    last_ = ids_.NewId();
    ++issued_;
    return last_;
  }
  const std::string& last() const { return last_; }
  int issued() const { return issued_; }

 private:
  testing::SequentialIds ids_{"q-"};
  std::string last_;
  int issued_ = 0;
};

// A string for an id-like field: an id that exists, a well-formed one, or raw bytes (up to
// 300, beyond kMaxIdLength).
std::string IdField(ByteReader& in, const std::vector<std::string>& known) {
  const uint8_t selector = in.Byte();
  if (selector < 64 && !known.empty()) return known[selector % known.size()];
  if (selector < 128) {
    static constexpr char kIdChars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-";
    std::string s = in.String(140);
    for (char& c : s) c = kIdChars[static_cast<uint8_t>(c) % (sizeof(kIdChars) - 1)];
    return s;
  }
  return in.String(300);
}

bool NamesOneOf(const absl::Status& status, std::initializer_list<absl::string_view> fields) {
  std::optional<std::string> field = InvalidFieldName(status);
  if (!field.has_value()) return false;
  for (absl::string_view f : fields) {
    if (*field == f) return true;
  }
  return false;
}

}  // namespace

void FuzzRequestValidation(absl::string_view data) {
  ByteReader in(data);
  testing::FakeClock clock;
  RecordingIds ids;
  testing::InMemoryQuoteRepository repository;
  QuoteCommands commands(repository, clock, ids);
  std::vector<std::string> known;                    // quote ids that exist
  std::map<std::string, std::string> used_requests;  // request id -> "create" / "approve:<id>"

  for (int step = 0; step < 32 && !in.empty(); ++step) {
    const size_t outbox_before = repository.outbox().size();
    switch (in.Byte() % 3) {
      case 0: {
        CreateQuoteCommand command{.customer_id = IdField(in, known),
                                   .premium = in.Int64(),
                                   .request_id = in.Bool() ? IdField(in, known) : ""};
        const int issued_before = ids.issued();
        absl::StatusOr<Quote> quote = commands.CreateQuote(command);
        FUZZ_CHECK(repository.outbox().size() == outbox_before, "CreateQuote wrote an event");
        const bool valid =
            ValidateId("customer_id", command.customer_id).ok() && command.premium >= 1 &&
            command.premium <= kMaxPremium &&
            (command.request_id.empty() || ValidateId("request_id", command.request_id).ok());
        if (quote.ok()) {
          FUZZ_CHECK(valid, "CreateQuote accepted invalid input: premium ", command.premium);
          FUZZ_CHECK(commands.GetQuote(quote->quote_id()).ok(), "created quote not stored");
          auto it = used_requests.find(command.request_id);
          if (command.request_id.empty() || it == used_requests.end()) {
            FUZZ_CHECK(quote->customer_id() == command.customer_id &&
                           quote->premium() == command.premium && quote->version() == 1 &&
                           quote->status() == QuoteStatus::kDraft,
                       "created quote differs from the command");
            known.push_back(quote->quote_id());
            if (!command.request_id.empty()) used_requests[command.request_id] = "create";
          } else {
            // A replayed request id answers with the quote it created.
            FUZZ_CHECK(it->second == "create", "request id of an approval reused for a create");
          }
        } else {
          FUZZ_CHECK(quote.status().code() == StatusCode::kInvalidArgument &&
                         NamesOneOf(quote.status(), {"customer_id", "premium", "request_id"}),
                     "CreateQuote: ", quote.status().ToString());
          FUZZ_CHECK(!valid || *InvalidFieldName(quote.status()) == "request_id",
                     "CreateQuote refused valid input: ", quote.status().ToString());
          FUZZ_CHECK(ids.issued() == issued_before ||
                         commands.GetQuote(ids.last()).status().code() == StatusCode::kNotFound,
                     "a refused CreateQuote stored a quote");
        }
        break;
      }
      case 1: {
        ApproveQuoteCommand command{.quote_id = IdField(in, known),
                                    .request_id = in.Bool() ? IdField(in, known) : "",
                                    .expected_version = in.Int64()};
        absl::StatusOr<Quote> before = repository.Get(command.quote_id);
        absl::StatusOr<ApproveQuoteResult> result = commands.ApproveQuote(command);
        const size_t outbox_after = repository.outbox().size();
        if (result.ok()) {
          FUZZ_CHECK(ValidateId("quote_id", command.quote_id).ok() && command.expected_version >= 0,
                     "ApproveQuote accepted invalid input");
          FUZZ_CHECK(result->quote.status() == QuoteStatus::kApproved && !result->event_id.empty(),
                     "approved quote not APPROVED");
          const bool replay =
              !command.request_id.empty() && used_requests.count(command.request_id) > 0;
          FUZZ_CHECK(outbox_after == outbox_before + (replay ? 0 : 1), "ApproveQuote wrote ",
                     outbox_after - outbox_before, " events (replay ", replay, ")");
          if (!command.request_id.empty()) {
            used_requests[command.request_id] = "approve:" + command.quote_id;
          }
        } else {
          FUZZ_CHECK(
              CodeIn(result.status(), {StatusCode::kInvalidArgument, StatusCode::kNotFound,
                                       StatusCode::kAborted, StatusCode::kFailedPrecondition}),
              "ApproveQuote: ", result.status().ToString());
          if (result.status().code() == StatusCode::kInvalidArgument) {
            FUZZ_CHECK(
                NamesOneOf(result.status(), {"quote_id", "request_id", "expected_version"}),
                "ApproveQuote INVALID_ARGUMENT without a field: ", result.status().ToString());
          }
          FUZZ_CHECK(outbox_after == outbox_before, "a refused ApproveQuote wrote an event");
          absl::StatusOr<Quote> after = repository.Get(command.quote_id);
          FUZZ_CHECK(before.ok() == after.ok() && (!before.ok() || *before == *after),
                     "a refused ApproveQuote changed the quote");
        }
        if (command.expected_version < 0) {
          FUZZ_CHECK(!result.ok(), "negative expected_version accepted");
        }
        break;
      }
      case 2: {
        const std::string quote_id = IdField(in, known);
        absl::StatusOr<Quote> quote = commands.GetQuote(quote_id);
        if (quote.ok()) {
          FUZZ_CHECK(quote->quote_id() == quote_id, "GetQuote returned another quote");
        } else {
          FUZZ_CHECK(CodeIn(quote.status(), {StatusCode::kInvalidArgument, StatusCode::kNotFound}),
                     "GetQuote: ", quote.status().ToString());
          FUZZ_CHECK(quote.status().code() != StatusCode::kInvalidArgument ||
                         NamesOneOf(quote.status(), {"quote_id"}),
                     "GetQuote INVALID_ARGUMENT without the field");
        }
        break;
      }
    }
  }
}

namespace {

// Checks a reply of a gRPC adapter: its code is one of `allowed`; INVALID_ARGUMENT comes with a
// google.rpc.Status detail holding a BadRequest that names a field of the request message.
void CheckReply(const grpc::Status& status, const google::protobuf::Message& request,
                std::initializer_list<grpc::StatusCode> allowed) {
  bool ok = false;
  for (grpc::StatusCode c : allowed) ok = ok || status.error_code() == c;
  FUZZ_CHECK(ok, request.GetTypeName(), ": unexpected code ", status.error_code(), " ",
             status.error_message());
  if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) return;
  FUZZ_CHECK(!status.error_message().empty(), "INVALID_ARGUMENT without a message");
  google::rpc::Status rich;
  FUZZ_CHECK(
      rich.ParseFromString(status.error_details()) && rich.code() == 3 && rich.details_size() == 1,
      request.GetTypeName(), ": INVALID_ARGUMENT without details: ", status.error_message());
  google::rpc::BadRequest bad_request;
  FUZZ_CHECK(rich.details(0).UnpackTo(&bad_request) && bad_request.field_violations_size() == 1,
             "details hold no BadRequest");
  const std::string& field = bad_request.field_violations(0).field();
  FUZZ_CHECK(request.GetDescriptor()->FindFieldByName(field) != nullptr, request.GetTypeName(),
             ": BadRequest names '", field, "', not a field of the request");
}

template <class Request>
std::optional<Request> Parse(absl::string_view bytes) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return std::nullopt;
  // What parses must survive its own round trip unchanged.
  Request again;
  FUZZ_CHECK(again.ParseFromString(request.SerializeAsString()) &&
                 google::protobuf::util::MessageDifferencer::Equals(request, again),
             request.GetTypeName(), " does not round-trip");
  return request;
}

}  // namespace

void FuzzGrpcRequests(absl::string_view data) {
  using grpc::StatusCode;
  if (data.empty()) return;
  const uint8_t selector = static_cast<uint8_t>(data[0]);
  const absl::string_view bytes = data.substr(1);

  testing::FakeClock clock;
  testing::SequentialIds ids("q-");
  testing::InMemoryQuoteRepository quotes;
  QuoteCommands quote_commands(quotes, clock, ids);
  QuoteGrpcService quote_service(quote_commands, /*max_approvals=*/1);
  (void)quote_commands.CreateQuote({.customer_id = "c-1", .premium = 100});  // quote "q-1"
  testing::InMemoryCustomerRepository customers;
  CustomerCommands customer_commands(customers, clock, /*default_max_policies=*/5);
  workers::CustomerGrpcService customer_service(customer_commands);
  (void)customer_commands.CreateCustomer({.customer_id = "c-1", .name = "Ann"});
  testing::InMemoryPolicyReader policies;
  if (auto policy = Policy::Create("q-1", "c-1", 100, 2, clock.Now()); policy.ok()) {
    policies.Put(*policy);
  }
  PolicyQueries policy_queries(policies);
  workers::PolicyGrpcService policy_service(policy_queries);

  grpc::ServerContext context;
  switch (selector % 6) {
    case 0:
      if (auto request = Parse<v1::CreateQuoteRequest>(bytes)) {
        v1::Quote reply;
        CheckReply(quote_service.CreateQuote(&context, &*request, &reply), *request,
                   {StatusCode::OK, StatusCode::INVALID_ARGUMENT});
      }
      break;
    case 1:
      if (auto request = Parse<v1::ApproveQuoteRequest>(bytes)) {
        v1::ApproveQuoteResponse reply;
        // The in-memory repository settles the call before Approve returns.
        std::optional<grpc::Status> status;
        quote_service.Approve(context, *request, &reply, [&](grpc::Status s) { status = s; });
        FUZZ_CHECK(status.has_value(), "ApproveQuote was not settled");
        CheckReply(*status, *request,
                   {StatusCode::OK, StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND,
                    StatusCode::ABORTED, StatusCode::FAILED_PRECONDITION});
      }
      break;
    case 2:
      if (auto request = Parse<v1::GetQuoteRequest>(bytes)) {
        v1::Quote reply;
        CheckReply(quote_service.GetQuote(&context, &*request, &reply), *request,
                   {StatusCode::OK, StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND});
      }
      break;
    case 3:
      if (auto request = Parse<v1::CreateCustomerRequest>(bytes)) {
        v1::Customer reply;
        CheckReply(customer_service.CreateCustomer(&context, &*request, &reply), *request,
                   {StatusCode::OK, StatusCode::INVALID_ARGUMENT, StatusCode::ALREADY_EXISTS});
      }
      break;
    case 4:
      if (auto request = Parse<v1::GetCustomerRequest>(bytes)) {
        v1::Customer reply;
        CheckReply(customer_service.GetCustomer(&context, &*request, &reply), *request,
                   {StatusCode::OK, StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND});
      }
      break;
    case 5:
      if (auto request = Parse<v1::GetPolicyRequest>(bytes)) {
        v1::Policy reply;
        CheckReply(policy_service.GetPolicy(&context, &*request, &reply), *request,
                   {StatusCode::OK, StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND});
      }
      break;
  }
}

}  // namespace quoteflow::fuzz
