#include "platform/events/command_codec.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "domain/overloaded.h"
#include "domain/status_macros.h"
#include "platform/events/event_codec.h"
#include "platform/observability/log.h"
#include "quoteflow/v1/commands.pb.h"

namespace quoteflow {
namespace {

namespace pb = ::quoteflow::v1;
using google::protobuf::Message;
using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageToJsonString;

std::string DataJson(const CommandPayload& payload) {
  std::string json;
  JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  auto print = [&](const Message& m) { (void)MessageToJsonString(m, &json, options); };
  std::visit(Overloaded{
                 [&](const CreatePolicy& c) {
                   pb::CreatePolicy m;
                   m.set_policy_id(c.policy_id);
                   m.set_customer_id(c.customer_id);
                   m.set_premium(c.premium);
                   m.set_quote_version(c.quote_version);
                   print(m);
                 },
                 [&](const UpdateCustomerPolicyCount& c) {
                   pb::UpdateCustomerPolicyCount m;
                   m.set_customer_id(c.customer_id);
                   m.set_policy_id(c.policy_id);
                   m.set_delta(c.delta);
                   print(m);
                 },
                 [&](const CancelPolicy& c) {
                   pb::CancelPolicy m;
                   m.set_policy_id(c.policy_id);
                   m.set_customer_id(c.customer_id);
                   m.set_reason(c.reason);
                   print(m);
                 },
                 [&](const RejectQuote& c) {
                   pb::RejectQuote m;
                   m.set_customer_id(c.customer_id);
                   m.set_policy_id(c.policy_id);
                   m.set_reason(c.reason);
                   print(m);
                 },
                 [&](const IssueQuote& c) {
                   pb::IssueQuote m;
                   m.set_customer_id(c.customer_id);
                   m.set_policy_id(c.policy_id);
                   print(m);
                 },
             },
             payload);
  return json;
}

template <class Proto>
absl::StatusOr<Proto> ParseData(absl::string_view type, const std::string& data_json) {
  Proto m;
  JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = JsonStringToMessage(data_json, &m, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("data does not match ", type, ": ", status.message().as_string()));
  }
  return m;
}

absl::StatusOr<CommandPayload> PayloadFromJson(absl::string_view type, const std::string& data) {
  if (type == "CreatePolicy") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::CreatePolicy>(type, data));
    return CreatePolicy{m.policy_id(), m.customer_id(), m.premium(), m.quote_version()};
  }
  if (type == "UpdateCustomerPolicyCount") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::UpdateCustomerPolicyCount>(type, data));
    return UpdateCustomerPolicyCount{m.customer_id(), m.policy_id(), m.delta()};
  }
  if (type == "CancelPolicy") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::CancelPolicy>(type, data));
    return CancelPolicy{m.policy_id(), m.customer_id(), m.reason()};
  }
  if (type == "RejectQuote") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::RejectQuote>(type, data));
    return RejectQuote{m.customer_id(), m.policy_id(), m.reason()};
  }
  if (type == "IssueQuote") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::IssueQuote>(type, data));
    return IssueQuote{m.customer_id(), m.policy_id()};
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown commandType '", type, "'"));
}

void AppendStringField(std::string& out, absl::string_view key, absl::string_view value) {
  absl::StrAppend(&out, "\"", key, "\":\"");
  log::AppendJsonEscaped(out, value);
  out += "\",";
}

}  // namespace

std::string EncodeCommandEnvelope(const SagaCommand& command) {
  std::string out = "{";
  AppendStringField(out, "commandID", command.command_id);
  AppendStringField(out, "commandType", command.type());
  AppendStringField(out, "quoteID", command.quote_id);
  AppendStringField(out, "issuedAt", FormatRfc3339(command.issued_at));
  absl::StrAppend(&out, "\"data\":", DataJson(command.payload), "}");
  return out;
}

absl::StatusOr<SagaCommand> DecodeCommandEnvelope(absl::string_view json) {
  pb::CommandEnvelope env;
  JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status =
      JsonStringToMessage(google::protobuf::StringPiece(json.data(), json.size()), &env, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid command envelope: ", status.message().as_string()));
  }
  for (auto [name, value] :
       {std::pair{"commandID", &env.command_id()}, std::pair{"commandType", &env.command_type()},
        std::pair{"quoteID", &env.quote_id()}}) {
    if (value->empty()) return absl::InvalidArgumentError(absl::StrCat("envelope lacks ", name));
  }
  absl::Time issued = absl::UnixEpoch();
  if (!env.issued_at().empty()) {
    ASSIGN_OR_RETURN(issued, ParseEnvelopeTime("issuedAt", env.issued_at()));
  }
  std::string data_json;
  if (env.has_data()) (void)MessageToJsonString(env.data(), &data_json);
  if (data_json.empty()) data_json = "{}";
  ASSIGN_OR_RETURN(CommandPayload payload, PayloadFromJson(env.command_type(), data_json));
  return SagaCommand{.command_id = env.command_id(),
                     .quote_id = env.quote_id(),
                     .issued_at = issued,
                     .payload = std::move(payload)};
}

}  // namespace quoteflow
