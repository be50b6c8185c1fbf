#include "platform/events/event_codec.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "domain/overloaded.h"
#include "domain/status_macros.h"
#include "platform/observability/log.h"
#include "quoteflow/v1/events.pb.h"

namespace quoteflow {
namespace {

namespace pb = ::quoteflow::v1;
using google::protobuf::Message;
using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageToJsonString;

std::string PayloadJson(const EventPayload& payload) {
  std::string json;
  JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  auto print = [&](const Message& m) { (void)MessageToJsonString(m, &json, options); };
  std::visit(Overloaded{
                 [&](const QuoteApproved& e) {
                   pb::QuoteApproved m;
                   m.set_customer_id(e.customer_id);
                   m.set_premium(e.premium);
                   print(m);
                 },
                 [&](const QuoteRejected& e) {
                   pb::QuoteRejected m;
                   m.set_customer_id(e.customer_id);
                   m.set_reason(e.reason);
                   m.set_policy_id(e.policy_id);
                   print(m);
                 },
                 [&](const PolicyCreated& e) {
                   pb::PolicyCreated m;
                   m.set_policy_id(e.policy_id);
                   m.set_customer_id(e.customer_id);
                   m.set_premium(e.premium);
                   print(m);
                 },
                 [&](const PolicyCancelled& e) {
                   pb::PolicyCancelled m;
                   m.set_policy_id(e.policy_id);
                   m.set_customer_id(e.customer_id);
                   m.set_reason(e.reason);
                   print(m);
                 },
                 [&](const CustomerPolicyCountUpdated& e) {
                   pb::CustomerPolicyCountUpdated m;
                   m.set_customer_id(e.customer_id);
                   m.set_policy_id(e.policy_id);
                   m.set_policy_count(e.policy_count);
                   m.set_delta(e.delta);
                   print(m);
                 },
                 [&](const CustomerPolicyCountRejected& e) {
                   pb::CustomerPolicyCountRejected m;
                   m.set_customer_id(e.customer_id);
                   m.set_policy_id(e.policy_id);
                   m.set_reason(e.reason);
                   print(m);
                 },
                 [&](const QuoteIssued& e) {
                   pb::QuoteIssued m;
                   m.set_customer_id(e.customer_id);
                   m.set_policy_id(e.policy_id);
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
  options.ignore_unknown_fields = true;  // newer producers may add fields
  auto status = JsonStringToMessage(data_json, &m, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("data does not match ", type, ": ", status.message().as_string()));
  }
  return m;
}

absl::StatusOr<EventPayload> PayloadFromJson(absl::string_view type, const std::string& data) {
  if (type == "QuoteApproved") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::QuoteApproved>(type, data));
    return QuoteApproved{m.customer_id(), m.premium()};
  }
  if (type == "QuoteRejected") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::QuoteRejected>(type, data));
    return QuoteRejected{m.customer_id(), m.reason(), m.policy_id()};
  }
  if (type == "PolicyCreated") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::PolicyCreated>(type, data));
    return PolicyCreated{m.policy_id(), m.customer_id(), m.premium()};
  }
  if (type == "PolicyCancelled") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::PolicyCancelled>(type, data));
    return PolicyCancelled{m.policy_id(), m.customer_id(), m.reason()};
  }
  if (type == "CustomerPolicyCountUpdated") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::CustomerPolicyCountUpdated>(type, data));
    return CustomerPolicyCountUpdated{m.customer_id(), m.policy_id(), m.policy_count(), m.delta()};
  }
  if (type == "CustomerPolicyCountRejected") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::CustomerPolicyCountRejected>(type, data));
    return CustomerPolicyCountRejected{m.customer_id(), m.policy_id(), m.reason()};
  }
  if (type == "QuoteIssued") {
    ASSIGN_OR_RETURN(auto m, ParseData<pb::QuoteIssued>(type, data));
    return QuoteIssued{m.customer_id(), m.policy_id()};
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown eventType '", type, "'"));
}

void AppendStringField(std::string& out, absl::string_view key, absl::string_view value) {
  absl::StrAppend(&out, "\"", key, "\":\"");
  log::AppendJsonEscaped(out, value);
  out += "\",";
}

}  // namespace

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseEnvelopeTime(absl::string_view field, absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " '", text, "' is not RFC 3339: ", err));
  }
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " '", text, "' is not RFC 3339"));
  }
  // The envelopes carry microseconds (FormatRfc3339, like Postgres timestamptz): finer digits
  // from other producers are truncated, so that decode(encode(x)) == x.
  return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), absl::Microseconds(1));
}

std::string EncodeEnvelope(const DomainEvent& event) {
  std::string out = "{";
  AppendStringField(out, "eventID", event.event_id);
  AppendStringField(out, "eventType", event.type());
  AppendStringField(out, "quoteID", event.quote_id);
  AppendStringField(out, "aggregateID", event.aggregate_id);
  absl::StrAppend(&out, "\"aggregateVersion\":", event.aggregate_version, ",");
  AppendStringField(out, "occurredAt", FormatRfc3339(event.occurred_at));
  absl::StrAppend(&out, "\"data\":", PayloadJson(event.payload), "}");
  return out;
}

absl::StatusOr<DomainEvent> DecodeEnvelope(absl::string_view json) {
  pb::EventEnvelope env;
  JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status =
      JsonStringToMessage(google::protobuf::StringPiece(json.data(), json.size()), &env, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid event envelope: ", status.message().as_string()));
  }
  for (auto [name, value] :
       {std::pair{"eventID", &env.event_id()}, std::pair{"eventType", &env.event_type()},
        std::pair{"aggregateID", &env.aggregate_id()},
        std::pair{"occurredAt", &env.occurred_at()}}) {
    if (value->empty()) return absl::InvalidArgumentError(absl::StrCat("envelope lacks ", name));
  }
  ASSIGN_OR_RETURN(absl::Time occurred, ParseEnvelopeTime("occurredAt", env.occurred_at()));
  std::string data_json;
  if (env.has_data()) (void)MessageToJsonString(env.data(), &data_json);
  if (data_json.empty()) data_json = "{}";
  ASSIGN_OR_RETURN(EventPayload payload, PayloadFromJson(env.event_type(), data_json));
  return DomainEvent{.event_id = env.event_id(),
                     .aggregate_id = env.aggregate_id(),
                     .quote_id = env.quote_id(),
                     .aggregate_version = env.aggregate_version(),
                     .occurred_at = occurred,
                     .payload = std::move(payload)};
}

}  // namespace quoteflow
