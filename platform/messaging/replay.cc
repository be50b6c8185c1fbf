#include "platform/messaging/replay.h"

#include <librdkafka/rdkafka.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "platform/messaging/kafka_admin_util.h"
#include "platform/observability/log.h"

namespace quoteflow::messaging {
namespace {

// rd_kafka_rebalance_protocol() is NULL while the consumer closes (and outside a group).
bool IsCooperative(rd_kafka_t* rk) {
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

constexpr char kReplayUsage[] =
    "usage: replay --group GROUP --topic TOPIC (--to-offset O [--partition P] | --to-time RFC3339 "
    "|\n"
    "              --to-earliest | --to-latest) [--dry-run] [--timeout 60s]\n"
    "Stop the group's workers first: the group must have no active members.\n"
    "The inboxes absorb repeats only within the workers' --retention (at least their\n"
    "--replay-window, the topics' retention.ms + segment.ms): replay no further back.\n";

int Millis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, 600000));
}

// Assignment state of the tool's own group membership (rebalance callback).
struct Membership {
  bool assigned = false;
  std::set<int32_t> partitions;  // of the replayed topic
  std::string topic;
};

void ReplayRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* m = static_cast<Membership*>(opaque);
  bool cooperative = IsCooperative(rk);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; ++i) {
      if (m->topic == parts->elems[i].topic) m->partitions.insert(parts->elems[i].partition);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, parts);
    }
    rd_kafka_pause_partitions(rk, parts);  // nothing needs to be fetched
    m->assigned = true;
  } else {
    for (int i = 0; i < parts->cnt; ++i) {
      if (m->topic == parts->elems[i].topic) m->partitions.erase(parts->elems[i].partition);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk, nullptr);
      m->partitions.clear();
    }
    m->assigned = false;
  }
}

// Active members of `group` per ListGroups/DescribeGroups, or nullopt-like -1 when the brokers do
// not support the request.
int ActiveMembers(rd_kafka_t* rk, const std::string& group, std::string* clients) {
  const rd_kafka_group_list* list = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_list_groups(rk, group.c_str(), &list, 3000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || list == nullptr) {
    log::Debug("list_groups unavailable; checking by joining the group",
               {{"group", group}, {"error", rd_kafka_err2str(err)}});
    return -1;
  }
  int members = -1;
  for (int i = 0; i < list->group_cnt; ++i) {
    const rd_kafka_group_info& g = list->groups[i];
    if (group != g.group) continue;
    if (g.err != RD_KAFKA_RESP_ERR_NO_ERROR) break;
    members = g.member_cnt;
    for (int j = 0; j < g.member_cnt; ++j) {
      absl::StrAppend(clients, j > 0 ? ", " : "", g.members[j].client_id, "@",
                      g.members[j].client_host);
    }
  }
  if (list->group_cnt == 0) members = 0;  // unknown group: nobody in it
  rd_kafka_group_list_destroy(list);
  return members;
}

// First offset in [low, high) of `partition` whose timestamp is >= `ts_ms`, by reading; high if
// none. Used when the broker does not look timestamps up.
absl::StatusOr<int64_t> ScanForTime(rd_kafka_t* rk, const std::string& topic, int32_t partition,
                                    internal::Watermarks range, int64_t ts_ms,
                                    absl::Time deadline) {
  absl::StatusOr<std::vector<kafka::MessagePtr>> msgs =
      internal::ReadRanges(rk, topic, {{partition, range}}, deadline);
  if (!msgs.ok()) return msgs.status();
  for (const kafka::MessagePtr& m : *msgs) {
    rd_kafka_timestamp_type_t type;
    if (rd_kafka_message_timestamp(m.get(), &type) >= ts_ms) return m->offset;
  }
  return range.high;
}

absl::StatusOr<std::map<int32_t, int64_t>> Targets(rd_kafka_t* rk, const ReplayRequest& req,
                                                   int partitions,
                                                   const std::vector<internal::Watermarks>& marks,
                                                   absl::Time deadline) {
  std::map<int32_t, int64_t> targets;
  for (int p = 0; p < partitions; ++p) {
    if (req.target == ReplayTarget::kOffset && req.partition >= 0 && p != req.partition) continue;
    const internal::Watermarks& w = marks[p];
    switch (req.target) {
      case ReplayTarget::kEarliest:
        targets[p] = w.low;
        break;
      case ReplayTarget::kLatest:
        targets[p] = w.high;
        break;
      case ReplayTarget::kOffset:
        if (req.offset < w.low || req.offset > w.high) {
          return absl::OutOfRangeError(absl::StrCat("offset ", req.offset, " is outside ",
                                                    req.topic, "[", p, "]'s stored range [", w.low,
                                                    ", ", w.high, "]"));
        }
        targets[p] = req.offset;
        break;
      case ReplayTarget::kTime:
        break;
    }
  }
  if (req.target != ReplayTarget::kTime) return targets;

  const int64_t ts_ms = absl::ToUnixMillis(req.time);
  kafka::TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), req.topic.c_str(), p)->offset = ts_ms;
  }
  rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(rk, list.get(), Millis(deadline - absl::Now()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("offsets_for_times: ", rd_kafka_err2str(err)));
  }
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    const internal::Watermarks& w = marks[e.partition];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(absl::StrCat("offsets_for_times ", req.topic, "[", e.partition,
                                                 "]: ", rd_kafka_err2str(e.err)));
    }
    int64_t offset = e.offset;
    if (offset < 0 && w.high > w.low) {
      // "No record at or after T". Trust it only if the last record is indeed older than T: some
      // brokers (the mock cluster) answer -1 without looking timestamps up.
      absl::StatusOr<std::vector<kafka::MessagePtr>> last =
          internal::ReadRanges(rk, req.topic, {{e.partition, {w.high - 1, w.high}}}, deadline);
      if (!last.ok()) return last.status();
      rd_kafka_timestamp_type_t type;
      if (!last->empty() && rd_kafka_message_timestamp((*last)[0].get(), &type) >= ts_ms) {
        absl::StatusOr<int64_t> scanned =
            ScanForTime(rk, req.topic, e.partition, w, ts_ms, deadline);
        if (!scanned.ok()) return scanned.status();
        offset = *scanned;
      }
    }
    targets[e.partition] = offset < 0 ? w.high : offset;
  }
  return targets;
}

}  // namespace

absl::StatusOr<std::vector<PartitionReset>> ResetConsumerGroup(const kafka::KafkaSettings& settings,
                                                               const ReplayRequest& req) {
  if (req.group.empty() || req.topic.empty()) {
    return absl::InvalidArgumentError("replay: a group and a topic are required");
  }
  const absl::Time deadline = absl::Now() + req.timeout;
  Membership membership;
  membership.topic = req.topic;
  absl::StatusOr<kafka::HandlePtr> handle =
      internal::NewAdminConsumer(settings, req.group, [&membership](rd_kafka_conf_t* conf) {
        rd_kafka_conf_set_opaque(conf, &membership);
        rd_kafka_conf_set_rebalance_cb(conf, &ReplayRebalance);
      });
  if (!handle.ok()) return handle.status();
  rd_kafka_t* rk = handle->get();

  absl::StatusOr<int> partitions = internal::PartitionCount(rk, req.topic, req.timeout);
  if (!partitions.ok()) return partitions.status();
  if (req.partition >= *partitions) {
    return absl::InvalidArgumentError(absl::StrCat(req.topic, " has ", *partitions,
                                                   " partition(s); no partition ", req.partition));
  }
  absl::StatusOr<std::vector<internal::Watermarks>> marks =
      internal::QueryWatermarks(rk, req.topic, *partitions, req.timeout);
  if (!marks.ok()) return marks.status();
  absl::StatusOr<std::map<int32_t, int64_t>> targets =
      Targets(rk, req, *partitions, *marks, deadline);
  if (!targets.ok()) return targets.status();

  std::string clients;
  int members = ActiveMembers(rk, req.group, &clients);
  if (members > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("consumer group ", req.group, " has ", members, " active member(s) (", clients,
                     "): stop the group's workers first, then replay"));
  }

  kafka::TopicPartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(targets->size())));
  for (const auto& [p, offset] : *targets) {
    rd_kafka_topic_partition_list_add(list.get(), req.topic.c_str(), p);
  }
  // Previous committed offsets (no membership needed).
  std::map<int32_t, int64_t> previous;
  if (rd_kafka_committed(rk, list.get(), Millis(deadline - absl::Now())) ==
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) {
      previous[list->elems[i].partition] = list->elems[i].offset;
    }
  }
  std::vector<PartitionReset> result;
  for (const auto& [p, offset] : *targets) {
    auto it = previous.find(p);
    result.push_back({p, it == previous.end() || it->second < 0 ? -1 : it->second, offset});
  }
  if (req.dry_run) return result;

  // Join the group: proves that nobody else consumes the topic in it, and makes the commit a
  // member's commit.
  kafka::TopicPartitionListPtr sub(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(sub.get(), req.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("joining group ", req.group, ": ", rd_kafka_err2str(err)));
  }
  absl::Status status;
  while (!membership.assigned) {
    if (absl::Now() >= deadline) {
      status = absl::DeadlineExceededError(absl::StrCat(
          "could not join consumer group ", req.group, " within ",
          absl::FormatDuration(req.timeout),
          ": members that have not left yet? Stop the group's workers (or wait for their session "
          "timeout) and try again"));
      break;
    }
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100)) rd_kafka_message_destroy(m);
  }
  if (status.ok() && static_cast<int>(membership.partitions.size()) < *partitions) {
    status = absl::FailedPreconditionError(absl::StrCat(
        "consumer group ", req.group, " has other active members (this tool was assigned ",
        membership.partitions.size(), " of ", *partitions, " partitions of ", req.topic,
        "): stop the group's workers first, then replay"));
  }
  if (status.ok()) {
    kafka::TopicPartitionListPtr commit(
        rd_kafka_topic_partition_list_new(static_cast<int>(targets->size())));
    for (const auto& [p, offset] : *targets) {
      rd_kafka_topic_partition_list_add(commit.get(), req.topic.c_str(), p)->offset = offset;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, commit.get(), /*async=*/0);
    for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < commit->cnt; ++i) {
      err = commit->elems[i].err;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = absl::UnavailableError(absl::StrCat("committing the new offsets of group ",
                                                   req.group, ": ", rd_kafka_err2str(err)));
    }
  }
  rd_kafka_consumer_close(rk);
  if (!status.ok()) return status;
  return result;
}

int RunReplayCommand(const std::vector<std::string>& args_in, const kafka::KafkaSettings& settings,
                     std::ostream& out, std::ostream& err) {
  std::vector<std::string> args = args_in;
  if (!args.empty() && args[0] == "replay") args.erase(args.begin());
  absl::StatusOr<std::map<std::string, std::string>> flags =
      internal::ParseFlags(args, {"group", "topic", "to-offset", "partition", "to-time", "timeout"},
                           {"to-earliest", "to-latest", "dry-run"});
  if (!flags.ok()) {
    err << "replay: " << flags.status().message() << "\n" << kReplayUsage;
    return 2;
  }
  auto flag = [&](const char* name) -> const std::string* {
    auto it = flags->find(name);
    return it == flags->end() ? nullptr : &it->second;
  };
  ReplayRequest req;
  if (const std::string* g = flag("group")) req.group = *g;
  if (const std::string* t = flag("topic")) req.topic = *t;
  if (req.group.empty() || req.topic.empty()) {
    err << "replay: --group and --topic are required\n" << kReplayUsage;
    return 2;
  }
  int targets = (flag("to-offset") != nullptr) + (flag("to-time") != nullptr) +
                (flag("to-earliest") != nullptr) + (flag("to-latest") != nullptr);
  if (targets != 1) {
    err << "replay: give exactly one of --to-offset, --to-time, --to-earliest, --to-latest\n"
        << kReplayUsage;
    return 2;
  }
  if (const std::string* o = flag("to-offset")) {
    req.target = ReplayTarget::kOffset;
    if (!absl::SimpleAtoi(*o, &req.offset) || req.offset < 0) {
      err << "replay: --to-offset must be a non-negative offset\n";
      return 2;
    }
  } else if (const std::string* t = flag("to-time")) {
    req.target = ReplayTarget::kTime;
    std::string parse_err;
    if (!absl::ParseTime(absl::RFC3339_full, *t, &req.time, &parse_err)) {
      err << "replay: --to-time must be RFC 3339 (e.g. 2026-01-31T12:00:00Z): " << parse_err
          << "\n";
      return 2;
    }
  } else if (flag("to-latest") != nullptr) {
    req.target = ReplayTarget::kLatest;
  } else {
    req.target = ReplayTarget::kEarliest;
  }
  if (const std::string* p = flag("partition")) {
    if (req.target != ReplayTarget::kOffset) {
      err << "replay: --partition goes with --to-offset\n";
      return 2;
    }
    if (!absl::SimpleAtoi(*p, &req.partition) || req.partition < 0) {
      err << "replay: --partition must be a partition number\n";
      return 2;
    }
  }
  if (const std::string* t = flag("timeout")) {
    if (!absl::ParseDuration(*t, &req.timeout) || req.timeout <= absl::ZeroDuration()) {
      err << "replay: --timeout must be a duration like 60s\n";
      return 2;
    }
  }
  req.dry_run = flag("dry-run") != nullptr;

  absl::StatusOr<std::vector<PartitionReset>> resets = ResetConsumerGroup(settings, req);
  if (!resets.ok()) {
    err << "replay: " << resets.status().message() << "\n";
    return 1;
  }
  for (const PartitionReset& r : *resets) {
    out << req.topic << "[" << r.partition << "] group " << req.group << ": "
        << (r.previous < 0 ? std::string("none") : absl::StrCat(r.previous)) << " -> " << r.offset
        << "\n";
  }
  out << (req.dry_run ? "dry run: nothing committed. " : "")
      << "Start the group's workers to replay from these offsets; events they already applied "
         "are absorbed by their inbox.\n";
  return 0;
}

}  // namespace quoteflow::messaging
