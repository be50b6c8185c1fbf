#include "platform/messaging/dlq_admin.h"

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "platform/kafka/kafka_config.h"
#include "platform/messaging/dlq_headers.h"
#include "platform/messaging/kafka_admin_util.h"

namespace quoteflow::messaging {
namespace {

constexpr char kDlqUsage[] =
    "usage: dlq list --topic TOPIC.dlq [--partition P] [--limit N]\n"
    "       dlq redrive --topic TOPIC.dlq (--offset O [--partition P] | --all)\n";

DlqRecord ToDlqRecord(const std::string& topic, const rd_kafka_message_t* m) {
  DlqRecord r;
  r.dlq_topic = topic;
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.emplace_back(name, value == nullptr
                                       ? std::string()
                                       : std::string(static_cast<const char*>(value), size));
    }
  }
  for (const auto& [k, v] : r.headers) {
    if (k == kDlqReasonHeader) r.reason = v;
    if (k == kDlqConsumerHeader) r.consumer = v;
    if (k == kDlqOriginalTopicHeader) r.original_topic = v;
    if (k == kDlqOriginalPartitionHeader && !absl::SimpleAtoi(v, &r.original_partition)) {
      r.original_partition = -1;
    }
    if (k == kDlqOriginalOffsetHeader && !absl::SimpleAtoi(v, &r.original_offset)) {
      r.original_offset = -1;
    }
    if (k == kDlqAttemptsHeader && !absl::SimpleAtoi(v, &r.attempts)) r.attempts = 0;
    if (k == kDlqFailedAtHeader) r.failed_at = v;
  }
  return r;
}

struct RedriveDelivery {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  bool unconfirmed = false;  // "delivered" without an offset (kafka::IsConfirmedDelivery)
};

void RedriveReport(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<RedriveDelivery*>(m->_private);
  if (d == nullptr) return;
  d->err = m->err;
  d->unconfirmed = m->err == RD_KAFKA_RESP_ERR_NO_ERROR && !kafka::IsConfirmedDelivery(m);
  d->done = true;
}

absl::Status StatusFromKafka(rd_kafka_resp_err_t err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", rd_kafka_err2name(err), ": ", rd_kafka_err2str(err));
  switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return absl::NotFoundError(msg);
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return absl::InternalError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

std::string Quoted(const std::string& s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

}  // namespace

absl::StatusOr<std::vector<DlqRecord>> ReadDlq(const kafka::KafkaSettings& settings,
                                               const std::string& dlq_topic,
                                               const DlqReadOptions& options) {
  absl::Time deadline = absl::Now() + options.timeout;
  absl::StatusOr<kafka::HandlePtr> rk = internal::NewAdminConsumer(settings, "quotectl-dlq-reader");
  if (!rk.ok()) return rk.status();
  absl::StatusOr<int> partitions = internal::PartitionCount(rk->get(), dlq_topic, options.timeout);
  if (!partitions.ok()) return partitions.status();
  if (options.partition >= *partitions) {
    return absl::InvalidArgumentError(absl::StrCat(
        dlq_topic, " has ", *partitions, " partition(s); no partition ", options.partition));
  }
  absl::StatusOr<std::vector<internal::Watermarks>> marks =
      internal::QueryWatermarks(rk->get(), dlq_topic, *partitions, options.timeout);
  if (!marks.ok()) return marks.status();
  std::map<int32_t, internal::Watermarks> ranges;
  for (int p = 0; p < *partitions; ++p) {
    if (options.partition >= 0 && p != options.partition) continue;
    internal::Watermarks r = (*marks)[p];
    if (options.offset >= 0) {
      if (options.offset < r.low || options.offset >= r.high) {
        return absl::NotFoundError(absl::StrCat("no record at ", dlq_topic, "[", p, "] offset ",
                                                options.offset, " (the partition holds [", r.low,
                                                ", ", r.high, "))"));
      }
      r = {options.offset, options.offset + 1};
    }
    ranges[p] = r;
  }
  absl::StatusOr<std::vector<kafka::MessagePtr>> msgs =
      internal::ReadRanges(rk->get(), dlq_topic, ranges, deadline);
  if (!msgs.ok()) return msgs.status();
  std::vector<DlqRecord> out;
  for (const kafka::MessagePtr& m : *msgs) {
    if (options.limit > 0 && static_cast<int>(out.size()) >= options.limit) break;
    out.push_back(ToDlqRecord(dlq_topic, m.get()));
  }
  rd_kafka_consumer_close(rk->get());
  return out;
}

absl::Status RedriveDlqRecords(const kafka::KafkaSettings& settings,
                               const std::vector<DlqRecord>& records, absl::Duration timeout) {
  for (const DlqRecord& r : records) {
    if (r.original_topic.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(r.dlq_topic, "[", r.partition, "]@", r.offset,
                       " has no dlq_original_topic header: not a dead-lettered record"));
    }
    for (const auto& [name, value] : r.headers) {
      if (name != kDlqTrimmedHeader || value != "true") continue;
      return absl::FailedPreconditionError(absl::StrCat(
          r.dlq_topic, "[", r.partition, "]@", r.offset,
          " is a trimmed copy (its original was too large to dead-letter); the original is at ",
          r.original_topic, "[", r.original_partition, "]@", r.original_offset,
          ": reset the consumer group there (quotectl replay) once the cause is fixed"));
    }
  }
  absl::StatusOr<kafka::ConfPtr> conf = settings.Build(kafka::KafkaRole::kProducer);
  if (!conf.ok()) return conf.status();
  std::string timeout_ms = absl::StrCat(absl::ToInt64Milliseconds(timeout));
  char errstr[512];
  if (rd_kafka_conf_set(conf->get(), "message.timeout.ms", timeout_ms.c_str(), errstr,
                        sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(errstr);
  }
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &RedriveReport);
  absl::StatusOr<kafka::HandlePtr> rk = kafka::NewKafkaHandle(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!rk.ok()) return rk.status();

  std::vector<RedriveDelivery> deliveries(records.size());
  absl::Status first_error;
  int produced = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const DlqRecord& r = records[i];
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(r.headers.size() + 1);
    for (const auto& [k, v] : r.headers) {
      if (IsDlqHeader(k)) continue;
      rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(), v.size());
    }
    int32_t partition = r.original_partition >= 0 ? r.original_partition : RD_KAFKA_PARTITION_UA;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk->get(), RD_KAFKA_V_TOPIC(r.original_topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(r.key.empty() ? nullptr : r.key.data(), r.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(&deliveries[i]), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(hdrs);
      deliveries[i].done = true;
      deliveries[i].err = err;
    } else {
      ++produced;
    }
  }
  // message.timeout.ms bounds every report; the extra second covers the last poll.
  absl::Time deadline = absl::Now() + timeout + absl::Seconds(5);
  while (true) {
    bool all = true;
    for (const RedriveDelivery& d : deliveries) all = all && d.done;
    if (all) break;
    if (absl::Now() >= deadline) {
      rd_kafka_purge(rk->get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(rk->get(), 1000);
      break;
    }
    rd_kafka_poll(rk->get(), 50);
  }
  int delivered = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const RedriveDelivery& d = deliveries[i];
    if (d.done && d.err == RD_KAFKA_RESP_ERR_NO_ERROR && !d.unconfirmed) {
      ++delivered;
    } else if (first_error.ok()) {
      const DlqRecord& r = records[i];
      const std::string what =
          absl::StrCat("redriving ", r.dlq_topic, "[", r.partition, "]@", r.offset, " to ",
                       r.original_topic, "[", r.original_partition, "]");
      first_error = d.unconfirmed ? absl::UnavailableError(
                                        absl::StrCat(what, ": ", kafka::kUnconfirmedDelivery))
                                  : StatusFromKafka(d.done ? d.err : RD_KAFKA_RESP_ERR__TIMED_OUT,
                                                    what);
    }
  }
  if (!first_error.ok()) {
    return absl::Status(first_error.code(),
                        absl::StrCat(first_error.message(), " (", delivered, " of ", records.size(),
                                     " record(s) delivered)"));
  }
  return absl::OkStatus();
}

int RunDlqCommand(const std::vector<std::string>& args_in, const kafka::KafkaSettings& settings,
                  std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "dlq") args.erase(args.begin());
  if (args.empty()) {
    err << kDlqUsage;
    return 2;
  }
  const std::string sub = args[0];
  args.erase(args.begin());
  if (sub != "list" && sub != "redrive") {
    err << "dlq: unknown command '" << sub << "'\n" << kDlqUsage;
    return 2;
  }
  absl::StatusOr<std::map<std::string, std::string>> flags =
      sub == "list"
          ? internal::ParseFlags(args, {"topic", "partition", "limit", "timeout"}, {})
          : internal::ParseFlags(args, {"topic", "partition", "offset", "timeout"}, {"all"});
  if (!flags.ok()) {
    err << "dlq " << sub << ": " << flags.status().message() << "\n" << kDlqUsage;
    return 2;
  }
  auto flag = [&](const char* name) -> const std::string* {
    auto it = flags->find(name);
    return it == flags->end() ? nullptr : &it->second;
  };
  const std::string* topic = flag("topic");
  if (topic == nullptr || topic->empty()) {
    err << "dlq " << sub << ": --topic is required\n" << kDlqUsage;
    return 2;
  }
  DlqReadOptions read;
  if (const std::string* p = flag("partition");
      p != nullptr && (!absl::SimpleAtoi(*p, &read.partition) || read.partition < 0)) {
    err << "dlq " << sub << ": --partition must be a partition number\n";
    return 2;
  }
  if (const std::string* t = flag("timeout"); t != nullptr) {
    if (!absl::ParseDuration(*t, &read.timeout) || read.timeout <= absl::ZeroDuration()) {
      err << "dlq " << sub << ": --timeout must be a duration like 30s\n";
      return 2;
    }
  }
  if (sub == "list") {
    if (const std::string* l = flag("limit");
        l != nullptr && (!absl::SimpleAtoi(*l, &read.limit) || read.limit < 1)) {
      err << "dlq list: --limit must be a positive number\n";
      return 2;
    }
  } else {
    const std::string* offset = flag("offset");
    bool all = flag("all") != nullptr;
    if ((offset == nullptr) == !all) {
      err << "dlq redrive: give exactly one of --offset O or --all\n" << kDlqUsage;
      return 2;
    }
    if (offset != nullptr && (!absl::SimpleAtoi(*offset, &read.offset) || read.offset < 0)) {
      err << "dlq redrive: --offset must be a non-negative offset\n";
      return 2;
    }
    if (offset != nullptr && read.partition < 0) {
      // An offset names one record only together with its partition; default to 0 only when the
      // topic has a single partition.
      absl::StatusOr<kafka::HandlePtr> rk =
          internal::NewAdminConsumer(settings, "quotectl-dlq-reader");
      absl::StatusOr<int> n = rk.ok() ? internal::PartitionCount(rk->get(), *topic, read.timeout)
                                      : absl::StatusOr<int>(rk.status());
      if (!n.ok()) {
        err << "dlq redrive: " << n.status().message() << "\n";
        return 1;
      }
      if (*n > 1) {
        err << "dlq redrive: " << *topic << " has " << *n
            << " partitions: --partition is required with --offset (see `dlq list`)\n";
        return 2;
      }
      read.partition = 0;
    }
  }

  absl::StatusOr<std::vector<DlqRecord>> records = ReadDlq(settings, *topic, read);
  if (!records.ok()) {
    err << "dlq " << sub << ": " << records.status().message() << "\n";
    return 1;
  }
  if (sub == "list") {
    for (const DlqRecord& r : *records) {
      out << r.dlq_topic << "[" << r.partition << "]@" << r.offset << " key=" << Quoted(r.key)
          << " consumer=" << r.consumer << " original=" << r.original_topic << "["
          << r.original_partition << "]@" << r.original_offset << " attempts=" << r.attempts
          << " failed_at=" << r.failed_at << " reason=" << Quoted(r.reason) << "\n";
    }
    out << records->size() << " record(s) in " << *topic << "\n";
    return 0;
  }
  if (records->empty()) {
    out << "nothing to redrive: " << *topic << " is empty\n";
    return 0;
  }
  absl::Status s = RedriveDlqRecords(settings, *records, read.timeout);
  if (!s.ok()) {
    err << "dlq redrive: " << s.message() << "\n";
    return 1;
  }
  for (const DlqRecord& r : *records) {
    out << "redriven " << r.dlq_topic << "[" << r.partition << "]@" << r.offset << " -> "
        << r.original_topic << "[" << r.original_partition << "] key=" << Quoted(r.key) << "\n";
  }
  out << records->size()
      << " record(s) re-produced to their original topics. An event that had already been applied "
         "is absorbed by the consumer's inbox (no effect); one that fails again is dead-lettered "
         "again. The records stay on "
      << *topic << ".\n";
  return 0;
}

}  // namespace quoteflow::messaging
