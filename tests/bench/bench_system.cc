#include "tests/bench/bench_system.h"

#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "platform/kafka/kafka_admin.h"
#include "platform/postgres/migrations.h"

namespace quoteflow::bench {

using process::ChildProcess;

void Figure(const std::string& label, const std::string& text) {
  std::printf("  %s: %s\n", label.c_str(), text.c_str());
  std::fflush(stdout);
}

void Ratio(const std::string& name, double value, const std::string& target) {
  std::printf("RATIO %s %.3f target=%s\n", name.c_str(), value, target.c_str());
  std::fflush(stdout);
}

void Cdf(const std::string& series, const LatencyHistogram& h) {
  if (h.count() == 0) return;
  std::vector<std::string> points;
  for (double q : {0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99,
                   0.995, 0.999, 1.0}) {
    points.push_back(absl::StrFormat("%g:%.3f", q, h.PercentileMs(q)));
  }
  std::printf("CDF %s %s\n", series.c_str(), absl::StrJoin(points, ",").c_str());
  std::fflush(stdout);
}

void Point(const std::string& series, double x, double y) {
  std::printf("POINT %s %g %.3f\n", series.c_str(), x, y);
  std::fflush(stdout);
}

void Heading(const std::string& text) {
  std::printf("== %s (%s)\n", text.c_str(), MachineLoad().c_str());
  std::fflush(stdout);
}

std::string MachineLoad() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  return absl::StrFormat("load average %.2f on %d CPUs", load[0],
                         static_cast<int>(std::thread::hardware_concurrency()));
}

BenchSystem::~BenchSystem() {
  // Children first (they talk to Postgres and the broker), in reverse start order.
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (it->second->Running()) {
      (void)it->second->Signal(SIGTERM);
      (void)it->second->Wait(absl::Now() + absl::Seconds(10));
    }
  }
  children_.clear();
  kafka_.reset();
  postgres_.reset();
}

std::string BenchSystem::LogPath(const std::string& name) const {
  return absl::StrCat(work_dir_, "/", name, ".log");
}

std::string BenchSystem::LogTail(const std::string& name, size_t bytes) const {
  std::ifstream in(LogPath(name));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

absl::Status BenchSystem::StartPostgres(bool durable,
                                        std::vector<std::pair<std::string, std::string>> settings) {
  LocalPostgres::Options o;
  o.durable = durable;
  // The API and the relays keep up to a few hundred connections between them.
  o.max_connections = 400;
  o.settings = {
      {"shared_buffers", "256MB"}, {"max_wal_size", "4GB"}, {"checkpoint_timeout", "30min"}};
  for (auto& s : settings) o.settings.push_back(std::move(s));
  absl::StatusOr<std::unique_ptr<LocalPostgres>> pg = LocalPostgres::Start(o);
  if (!pg.ok()) return pg.status();
  postgres_ = *std::move(pg);
  return ApplyMigrations(postgres_->database_url());
}

absl::Status BenchSystem::StartBroker(const std::string& topics) {
  LocalKafka::Options o;
  o.dir = work_dir_ + "/kafka";
  std::error_code ec;
  std::filesystem::remove_all(o.dir, ec);  // a fresh cluster per benchmark
  absl::StatusOr<std::unique_ptr<LocalKafka>> kafka = LocalKafka::Start(o);
  if (!kafka.ok()) return kafka.status();
  kafka_ = *std::move(kafka);
  absl::StatusOr<std::vector<kafka::TopicSpec>> specs = kafka::ParseTopicSpecs(topics);
  if (!specs.ok()) return specs.status();
  return kafka::CreateTopics(kafka::KafkaSettings(kafka_->bootstrap_servers(), {}), *specs);
}

absl::Status BenchSystem::Spawn(const std::string& name, const std::string& path,
                                std::vector<std::string> args) {
  std::remove(LogPath(name).c_str());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({.path = path, .args = std::move(args), .stderr_path = LogPath(name)});
  if (!child.ok()) return child.status();
  children_.emplace_back(name, *std::move(child));
  return absl::OkStatus();
}

absl::Status BenchSystem::StopChild(const std::string& name) {
  for (auto it = children_.begin(); it != children_.end(); ++it) {
    if (it->first != name) continue;
    std::unique_ptr<ChildProcess> child = std::move(it->second);
    children_.erase(it);
    if (child->Running()) (void)child->Signal(SIGTERM);
    absl::StatusOr<int> rc = child->Wait(absl::Now() + absl::Seconds(20));
    if (!rc.ok()) return rc.status();
    if (*rc != 0) return absl::InternalError(absl::StrCat(name, " exited with status ", *rc));
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("no child named ", name));
}

absl::Status BenchSystem::WaitServing(const std::string& address, absl::Duration timeout) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    if (health->Check(&ctx, req, &resp).ok() &&
        resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::UnavailableError(
      absl::StrCat(address, " did not report SERVING within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<std::string> BenchSystem::StartQuoteApi(std::vector<std::string> extra_args,
                                                       const std::string& name) {
  const int port = process::FreeTcpPort();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::vector<std::string> args = {"--grpc-address=" + address, "--database-url=" + database_url()};
  for (auto& a : extra_args) args.push_back(std::move(a));
  if (absl::Status s = Spawn(name, binaries_.quote_api, std::move(args)); !s.ok()) return s;
  if (absl::Status s = WaitServing(address); !s.ok()) {
    return absl::UnavailableError(absl::StrCat(s.message(), "\n", LogTail(name)));
  }
  return address;
}

absl::StatusOr<std::vector<std::string>> BenchSystem::Sql(const std::string& sql) const {
  try {
    pqxx::connection c(database_url());
    pqxx::nontransaction tx(c);
    pqxx::result r = tx.exec(sql);
    std::vector<std::string> out;
    for (const auto& row : r) out.push_back(row[0].is_null() ? "" : row[0].c_str());
    return out;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(e.what(), " in: ", sql.substr(0, 200)));
  }
}

absl::StatusOr<int64_t> BenchSystem::SqlInt(const std::string& sql) const {
  absl::StatusOr<std::vector<std::string>> rows = Sql(sql);
  if (!rows.ok()) return rows.status();
  int64_t v = 0;
  if (rows->empty() || !absl::SimpleAtoi((*rows)[0], &v)) {
    return absl::InternalError(absl::StrCat("not an integer result: ", sql));
  }
  return v;
}

absl::StatusOr<PgbenchResult> BenchSystem::RunPgbench(
    const std::string& script, int clients, absl::Duration duration,
    const std::map<std::string, std::string>& defines) {
  const int run = ++pgbench_runs_;
  const std::string script_path = absl::StrCat(work_dir_, "/pgbench-", run, ".sql");
  {
    std::ofstream out(script_path);
    out << script;
  }
  const std::string log_prefix = absl::StrCat("pgblog", run);
  std::vector<std::string> args = {
      "-n",
      "-M",
      "prepared",
      "-c",
      absl::StrCat(clients),
      "-j",
      absl::StrCat(std::min(clients, 2)),
      "-T",
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(duration))),
      "-f",
      script_path,
      "-l",
      absl::StrCat("--log-prefix=", work_dir_, "/", log_prefix)};
  for (const auto& [k, v] : defines) {
    args.push_back("-D");
    args.push_back(absl::StrCat(k, "=", v));
  }
  args.push_back(database_url());
  const std::string log_name = absl::StrCat("pgbench-", run);
  std::remove(LogPath(log_name).c_str());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({.path = binaries_.pgbench,
                           .args = args,
                           .capture_stdout = true,
                           .stderr_path = LogPath(log_name)});
  if (!child.ok()) return child.status();
  std::string output;
  const absl::Time deadline = absl::Now() + duration + absl::Seconds(60);
  while (true) {
    absl::StatusOr<std::string> line = (*child)->ReadLine(deadline);
    if (!line.ok()) break;
    absl::StrAppend(&output, *line, "\n");
  }
  absl::StatusOr<int> rc = (*child)->Wait(absl::Now() + absl::Seconds(10));
  PgbenchResult result;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, "tps = ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() >= 3) (void)absl::SimpleAtod(parts[2], &result.tps);
    }
    if (absl::StartsWith(line, "number of failed transactions: ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() >= 5) (void)absl::SimpleAtoi(parts[4], &result.failed);
    }
  }
  if (!rc.ok() || *rc != 0 || result.tps <= 0) {
    return absl::InternalError(absl::StrCat("pgbench failed (exit ", rc.ok() ? *rc : -1, "):\n",
                                            output, LogTail(log_name)));
  }
  // Per-transaction log: "client_id transaction_no time_us script_no epoch epoch_us".
  DIR* dir = opendir(work_dir_.c_str());
  if (dir != nullptr) {
    while (dirent* e = readdir(dir)) {
      if (!absl::StartsWith(e->d_name, log_prefix + ".")) continue;
      std::ifstream in(absl::StrCat(work_dir_, "/", e->d_name));
      std::string l;
      while (std::getline(in, l)) {
        std::vector<absl::string_view> f = absl::StrSplit(l, ' ');
        int64_t us = 0;
        if (f.size() >= 3 && absl::SimpleAtoi(f[2], &us)) {
          result.latency.RecordNanos(us * 1000);
          ++result.transactions;
        }
      }
      std::remove(absl::StrCat(work_dir_, "/", e->d_name).c_str());
    }
    closedir(dir);
  }
  return result;
}

absl::StatusOr<kafka::HandlePtr> ConsumerFromBeginning(const std::string& bootstrap,
                                                       const std::string& group,
                                                       const std::vector<std::string>& topics,
                                                       int partitions) {
  kafka::KafkaSettings settings(bootstrap, {{"fetch.wait.max.ms", "1"}});
  absl::StatusOr<kafka::ConfPtr> conf = settings.Build(kafka::KafkaRole::kConsumer, group);
  if (!conf.ok()) return conf.status();
  absl::StatusOr<kafka::HandlePtr> rk = kafka::NewKafkaHandle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk.ok()) return rk.status();
  rd_kafka_poll_set_consumer(rk->get());
  kafka::TopicPartitionListPtr list(
      rd_kafka_topic_partition_list_new(partitions * static_cast<int>(topics.size())));
  for (const std::string& t : topics) {
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), t.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk->get(), list.get()); err) {
    return absl::InternalError(absl::StrCat("assign: ", rd_kafka_err2str(err)));
  }
  return rk;
}

}  // namespace quoteflow::bench
