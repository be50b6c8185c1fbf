// ApproveQuote's write path on a real PostgreSQL, through an in-process gRPC server: atomicity of
// quote + outbox + request record, idempotency under concurrency, error mapping, and recovery after
// Postgres restarts.
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/grpc_status.h"
#include "api/quote_grpc_service.h"
#include "domain/quote_commands.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "platform/events/event_codec.h"
#include "platform/postgres/pg_quote_repository.h"
#include "platform/runtime/runtime.h"
#include "quoteflow/v1/quote.grpc.pb.h"
#include "tests/support/test_environment.h"

namespace quoteflow {
namespace {

using testing::Env;

class QuoteApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::ResetDatabase().ok());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = v1::QuoteService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                          grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  v1::Quote Create(int64_t premium = 1200) {
    v1::CreateQuoteRequest req;
    req.set_customer_id("cust-456");
    req.set_premium(premium);
    v1::Quote quote;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->CreateQuote(&ctx, req, &quote);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return quote;
  }

  grpc::Status Approve(const std::string& quote_id, const std::string& request_id,
                       v1::ApproveQuoteResponse* response, int64_t expected_version = 0) {
    v1::ApproveQuoteRequest req;
    req.set_quote_id(quote_id);
    req.set_request_id(request_id);
    req.set_expected_version(expected_version);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->ApproveQuote(&ctx, req, response);
  }

  void Exec(const std::string& sql) {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection c(Env().database_url());
    pqxx::nontransaction tx(c);
    return tx.exec(sql)[0][0].as<int64_t>();
  }

  PgPool pool_{{.database_url = Env().database_url(), .size = 16}};
  PgQuoteRepository repository_{pool_, {.schema = "quote", .source = "/quoteflow/quote-api"}};
  SystemClock clock_;
  UuidGenerator ids_;
  QuoteCommands commands_{repository_, clock_, ids_};
  QuoteGrpcService service_{commands_, /*max_approvals=*/1000};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::QuoteService::Stub> stub_;
};

TEST_F(QuoteApiTest, ApproveWritesOneStateChangeAndOneEnvelopeInTheOutbox) {
  v1::Quote quote = Create();
  v1::ApproveQuoteResponse resp;
  ASSERT_TRUE(Approve(quote.quote_id(), "req-1", &resp).ok());
  EXPECT_EQ(resp.quote().status(), v1::QUOTE_STATUS_APPROVED);
  EXPECT_EQ(resp.quote().version(), 2);

  pqxx::connection c(Env().database_url());
  pqxx::nontransaction tx(c);
  pqxx::result q = tx.exec_params("SELECT status, version FROM quote.quotes WHERE quote_id = $1",
                                  quote.quote_id());
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0][0].as<std::string>(), "APPROVED");
  EXPECT_EQ(q[0][1].as<int64_t>(), 2);
  pqxx::result rows = tx.exec(
      "SELECT event_id, event_type, aggregate_id, aggregate_version, payload, traceparent"
      " FROM quote.outbox");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].as<std::string>(), resp.event_id());
  EXPECT_EQ(rows[0][1].as<std::string>(), "QuoteApproved");
  EXPECT_EQ(rows[0][2].as<std::string>(), quote.quote_id());
  EXPECT_EQ(rows[0][3].as<int64_t>(), 2);
  EXPECT_EQ(rows[0][5].as<std::string>().size(), 55u);  // W3C traceparent

  const std::string payload = rows[0][4].as<std::string>();
  for (const char* key :
       {"\"eventID\":", "\"eventType\":\"QuoteApproved\"",
        "\"quoteID\":", "\"aggregateID\":", "\"aggregateVersion\":2",
        "\"occurredAt\":", "\"data\":{\"customerId\":\"cust-456\",\"premium\":\"1200\"}"}) {
    EXPECT_TRUE(absl::StrContains(payload, key)) << key << " not in " << payload;
  }
  absl::StatusOr<DomainEvent> decoded = DecodeEnvelope(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->event_id, resp.event_id());
  EXPECT_EQ(decoded->quote_id, quote.quote_id());
}

TEST_F(QuoteApiTest, TheOutboxRowContinuesTheCallersTrace) {
  v1::Quote quote = Create();
  v1::ApproveQuoteRequest req;
  req.set_quote_id(quote.quote_id());
  grpc::ClientContext ctx;
  ctx.AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  v1::ApproveQuoteResponse resp;
  ASSERT_TRUE(stub_->ApproveQuote(&ctx, req, &resp).ok());
  pqxx::connection c(Env().database_url());
  pqxx::nontransaction tx(c);
  const std::string trace = tx.exec("SELECT traceparent FROM quote.outbox")[0][0].as<std::string>();
  // Same trace id and flags, a new span id.
  EXPECT_EQ(trace.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_EQ(trace.substr(52), "-01");
  EXPECT_NE(trace.substr(36, 16), "00f067aa0ba902b7");
}

// Atomicity of the statement production runs: the failure is injected by the database itself
// (a trigger on the tables the approval writes), so the repository takes its one code path.
struct InjectedFailure {
  const char* name;
  const char* trigger;  // created on the test's database, dropped after the failed call
  grpc::StatusCode code;
};

class QuoteApiFailureTest : public QuoteApiTest,
                            public ::testing::WithParamInterface<InjectedFailure> {};

TEST_P(QuoteApiFailureTest, LeavesNeitherQuoteChangeNorOutboxRowNorRequestRecord) {
  v1::Quote quote = Create();
  Exec(GetParam().trigger);
  v1::ApproveQuoteResponse resp;
  grpc::Status s = Approve(quote.quote_id(), "req-fail", &resp);
  Exec("DROP FUNCTION public.inject_failure() CASCADE");
  EXPECT_EQ(s.error_code(), GetParam().code) << s.error_message();
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.requests WHERE operation = 'approve'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes WHERE status = 'DRAFT' AND version = 1"), 1);
  // The same request id then succeeds: nothing of the failed attempt was kept.
  ASSERT_TRUE(Approve(quote.quote_id(), "req-fail", &resp).ok());
  EXPECT_EQ(resp.quote().status(), v1::QUOTE_STATUS_APPROVED);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.requests WHERE operation = 'approve'"), 1);
}

INSTANTIATE_TEST_SUITE_P(
    InTheStatement, QuoteApiFailureTest,
    ::testing::Values(
        // The outbox INSERT fails after the quote's UPDATE ran in the same statement.
        InjectedFailure{"OutboxInsertFails",
                        "CREATE FUNCTION public.inject_failure() RETURNS trigger LANGUAGE plpgsql "
                        "AS $$BEGIN RAISE EXCEPTION 'injected outbox failure'; END$$; "
                        "CREATE TRIGGER inject_failure BEFORE INSERT ON quote.outbox "
                        "FOR EACH ROW EXECUTE FUNCTION public.inject_failure()",
                        grpc::StatusCode::INTERNAL},
        // Everything was written; the commit itself fails (a deferred constraint trigger runs
        // at COMMIT).
        InjectedFailure{"CommitFails",
                        "CREATE FUNCTION public.inject_failure() RETURNS trigger LANGUAGE plpgsql "
                        "AS $$BEGIN RAISE EXCEPTION 'injected commit failure'; END$$; "
                        "CREATE CONSTRAINT TRIGGER inject_failure AFTER INSERT ON quote.requests "
                        "DEFERRABLE INITIALLY DEFERRED "
                        "FOR EACH ROW EXECUTE FUNCTION public.inject_failure()",
                        grpc::StatusCode::INTERNAL},
        // The server process dies during COMMIT: the client cannot know the outcome and says
        // so (UNAVAILABLE, retry with the same request_id); the retry finds nothing committed.
        InjectedFailure{"ConnectionDiesAtCommit",
                        "CREATE FUNCTION public.inject_failure() RETURNS trigger LANGUAGE plpgsql "
                        "AS $$BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); "
                        "PERFORM pg_sleep(5); RETURN NULL; END$$; "
                        "CREATE CONSTRAINT TRIGGER inject_failure AFTER INSERT ON quote.requests "
                        "DEFERRABLE INITIALLY DEFERRED "
                        "FOR EACH ROW EXECUTE FUNCTION public.inject_failure()",
                        grpc::StatusCode::UNAVAILABLE}),
    [](const ::testing::TestParamInfo<InjectedFailure>& info) { return info.param.name; });

TEST_F(QuoteApiTest, EightConcurrentCopiesOfOneRequestGiveOneIdenticalResult) {
  v1::Quote quote = Create();
  std::vector<v1::ApproveQuoteResponse> responses(8);
  std::vector<grpc::Status> statuses(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = Approve(quote.quote_id(), "same-req", &responses[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(responses[i].SerializeAsString(), responses[0].SerializeAsString()) << i;
  }
  EXPECT_FALSE(responses[0].event_id().empty());
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 1);
  EXPECT_EQ(Count("SELECT version FROM quote.quotes"), 2);
}

TEST_F(QuoteApiTest, EightConcurrentDifferentRequestsGiveOneApprovalAndSayWhy) {
  v1::Quote quote = Create();
  std::vector<grpc::Status> statuses(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      v1::ApproveQuoteResponse r;
      statuses[i] = Approve(quote.quote_id(), "req-" + std::to_string(i), &r);
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const grpc::Status& s : statuses) {
    if (s.ok()) {
      ++ok;
      continue;
    }
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(
        absl::StrContains(s.error_message(), "is APPROVED; only a DRAFT quote can be approved"))
        << s.error_message();
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 1);
}

// Group commit (PgQuoteRepository's batches): a transaction holding one quote's row lock keeps
// the one batch in progress waiting, so every call made meanwhile queues; then they are written
// together. Each command keeps its own outcome: its quote, its one outbox row, its request record,
// the recorded result for a repeated request, NOT_FOUND and INVALID_ARGUMENT for the bad ones.
class QuoteApiBatchTest : public QuoteApiTest {
 protected:
  struct Call {
    std::string quote_id;
    std::string request_id;
    grpc::Status status;
    v1::ApproveQuoteResponse response;
  };

  // Waits until a one-call write (kApproveSql, "WITH upd AS ...") waits for a row lock.
  void WaitForTheBlockedWrite() {
    EXPECT_TRUE(testing::WaitFor(
                    [&] {
                      return Count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                                   " 'Lock' AND query LIKE 'WITH upd AS%'") == 1;
                    },
                    absl::Seconds(20), "the blocked quote's write to wait for the row lock")
                    .ok());
  }

  // Runs `calls` concurrently while `blocked_quote`'s row is locked, once all of them are queued
  // behind the batch that waits for that lock. Returns the blocked quote's own approval status.
  grpc::Status ApproveBehindALock(const std::string& blocked_quote, std::vector<Call>& calls) {
    pqxx::connection locker(Env().database_url());
    pqxx::work lock(locker);
    lock.exec_params("SELECT 1 FROM quote.quotes WHERE quote_id = $1 FOR UPDATE", blocked_quote);
    grpc::Status blocked_status;
    std::thread blocked([&] {
      v1::ApproveQuoteResponse r;
      blocked_status = Approve(blocked_quote, "", &r);
    });
    WaitForTheBlockedWrite();
    std::vector<std::thread> threads;
    for (Call& call : calls) {
      threads.emplace_back(
          [this, c = &call] { c->status = Approve(c->quote_id, c->request_id, &c->response); });
    }
    EXPECT_TRUE(testing::WaitFor(
                    [&] {
                      return repository_.stats().queued.load() ==
                             static_cast<int64_t>(calls.size());
                    },
                    absl::Seconds(20), "every call to queue behind the blocked batch")
                    .ok());
    lock.commit();
    blocked.join();
    for (auto& t : threads) t.join();
    return blocked_status;
  }
};

TEST_F(QuoteApiBatchTest, CallsQueuedTogetherAreWrittenInOneBatchEachWithItsOwnOutcome) {
  const std::string blocked = Create().quote_id();
  std::vector<std::string> quotes;
  for (int i = 0; i < 20; ++i) quotes.push_back(Create().quote_id());
  v1::ApproveQuoteResponse earlier;
  ASSERT_TRUE(Approve(quotes[0], "done-before", &earlier).ok());
  const int64_t batches_before = repository_.stats().batches.load();

  std::vector<Call> calls;
  for (int i = 1; i < 20; ++i) calls.push_back({quotes[i], absl::StrCat("req-", i)});
  calls.push_back({quotes[1], "req-1"});          // the same request again: its one result
  calls.push_back({quotes[0], "done-before"});    // a request committed before: its result
  calls.push_back({quotes[2], "done-before"});    // that request id for another quote
  calls.push_back({"no-such-quote", "req-none"});  // NOT_FOUND
  ASSERT_TRUE(ApproveBehindALock(blocked, calls).ok());

  for (int i = 0; i < 19; ++i) {
    ASSERT_TRUE(calls[i].status.ok()) << i << ": " << calls[i].status.error_message();
    EXPECT_EQ(calls[i].response.quote().status(), v1::QUOTE_STATUS_APPROVED);
    EXPECT_EQ(calls[i].response.quote().version(), 2);
  }
  ASSERT_TRUE(calls[19].status.ok()) << calls[19].status.error_message();
  EXPECT_EQ(calls[19].response.SerializeAsString(), calls[0].response.SerializeAsString());
  ASSERT_TRUE(calls[20].status.ok()) << calls[20].status.error_message();
  EXPECT_EQ(calls[20].response.SerializeAsString(), earlier.SerializeAsString());
  EXPECT_EQ(calls[21].status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(calls[22].status.error_code(), grpc::StatusCode::NOT_FOUND);

  // One outbox row per approved quote, carrying the event id its caller got; one request record
  // per request id.
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 21);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.requests WHERE operation = 'approve'"), 20);
  pqxx::connection c(Env().database_url());
  pqxx::nontransaction tx(c);
  for (int i = 0; i < 19; ++i) {
    pqxx::result row = tx.exec_params(
        "SELECT o.aggregate_id, o.aggregate_version, r.event_id FROM quote.outbox o"
        " JOIN quote.requests r ON r.event_id = o.event_id WHERE o.event_id = $1",
        calls[i].response.event_id());
    ASSERT_EQ(row.size(), 1u) << i;
    EXPECT_EQ(row[0][0].as<std::string>(), calls[i].quote_id);
    EXPECT_EQ(row[0][1].as<int64_t>(), 2);
  }
  // The blocked quote's batch, the 22 distinct commands queued behind it in one, and the
  // repeated request (same quote and request id as another queued call) in the next.
  EXPECT_EQ(repository_.stats().batches.load() - batches_before, 3);
}

// A command that fails inside a batch's statement fails alone: the batch's statement rolls back
// whole, and its commands are then written one by one.
TEST_F(QuoteApiBatchTest, ACommandThatFailsInABatchFailsAloneAndTheOthersAreWritten) {
  const std::string blocked = Create().quote_id();
  std::vector<Call> calls;
  for (int i = 0; i < 6; ++i) calls.push_back({Create().quote_id(), absl::StrCat("req-", i)});
  Exec(absl::StrCat(
      "CREATE FUNCTION public.inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
      " IF NEW.aggregate_id = '",
      calls[3].quote_id,
      "' THEN RAISE EXCEPTION 'injected outbox failure'; END IF; RETURN NEW; END$$;"
      " CREATE TRIGGER inject_failure BEFORE INSERT ON quote.outbox"
      " FOR EACH ROW EXECUTE FUNCTION public.inject_failure()"));
  ASSERT_TRUE(ApproveBehindALock(blocked, calls).ok());
  Exec("DROP FUNCTION public.inject_failure() CASCADE");

  for (int i = 0; i < 6; ++i) {
    if (i == 3) {
      EXPECT_EQ(calls[i].status.error_code(), grpc::StatusCode::INTERNAL);
    } else {
      EXPECT_TRUE(calls[i].status.ok()) << i << ": " << calls[i].status.error_message();
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 6);  // the blocked quote's and 5
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM quote.quotes WHERE quote_id = '",
                               calls[3].quote_id, "' AND status = 'DRAFT' AND version = 1")),
            1);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM quote.requests WHERE request_id = 'req-3'")),
            0);
}

// A call that no batch takes within the acquire timeout (the batch in progress is stuck) gives
// up with DEADLINE_EXCEEDED, as a call waiting for a pooled connection does, and writes nothing.
TEST_F(QuoteApiBatchTest, ACallNoBatchTakesInTimeGivesUpAndWritesNothing) {
  PgQuoteRepository repository(pool_, {.schema = "quote", .source = "/quoteflow/quote-api"},
                               absl::Milliseconds(300));
  QuoteCommands commands(repository, clock_, ids_);
  const std::string blocked = Create().quote_id();
  const std::string late = Create().quote_id();
  pqxx::connection locker(Env().database_url());
  pqxx::work lock(locker);
  lock.exec_params("SELECT 1 FROM quote.quotes WHERE quote_id = $1 FOR UPDATE", blocked);
  absl::Status blocked_status;
  std::thread blocked_call(
      [&] { blocked_status = commands.ApproveQuote({.quote_id = blocked}).status(); });
  WaitForTheBlockedWrite();

  absl::StatusOr<ApproveQuoteResult> gave_up =
      commands.ApproveQuote({.quote_id = late, .request_id = "req-late"});
  EXPECT_EQ(gave_up.status().code(), absl::StatusCode::kDeadlineExceeded) << gave_up.status();
  EXPECT_EQ(repository.stats().queued.load(), 0);
  lock.commit();
  blocked_call.join();
  EXPECT_TRUE(blocked_status.ok()) << blocked_status;
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM quote.quotes WHERE quote_id = '", late,
                               "' AND status = 'DRAFT' AND version = 1")),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.requests WHERE request_id = 'req-late'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 1);  // the blocked quote's
}

// ApproveQuoteThen (what quote-api's ApproveQuote, a gRPC callback method, calls) queues the call
// and returns: no thread waits for the write. The repository's writer settles each call, and the
// repository's destruction writes what is still queued.
TEST_F(QuoteApiBatchTest, ApprovalsQueueWithoutAWaitingThreadAndTheWriterSettlesThem) {
  auto repository = std::make_unique<PgQuoteRepository>(
      pool_, OutboxTarget{.schema = "quote", .source = "/quoteflow/quote-api"});
  QuoteCommands commands(*repository, clock_, ids_);
  const std::string blocked = Create().quote_id();
  std::vector<std::string> quotes;
  for (int i = 0; i < 50; ++i) quotes.push_back(Create().quote_id());
  pqxx::connection locker(Env().database_url());
  pqxx::work lock(locker);
  lock.exec_params("SELECT 1 FROM quote.quotes WHERE quote_id = $1 FOR UPDATE", blocked);

  absl::Mutex mu;
  std::map<std::string, absl::StatusOr<ApproveQuoteResult>> results;
  auto record = [&](const std::string& quote_id) {
    return [&, quote_id](absl::StatusOr<ApproveQuoteResult> result) {
      absl::MutexLock l(&mu);
      results.emplace(quote_id, std::move(result));
    };
  };
  // Every call from this one thread, each returning before its write.
  commands.ApproveQuoteThen({.quote_id = blocked}, record(blocked));
  WaitForTheBlockedWrite();
  for (const std::string& q : quotes) {
    commands.ApproveQuoteThen({.quote_id = q, .request_id = "req-" + q}, record(q));
  }
  EXPECT_EQ(repository->stats().queued.load(), 50);
  {
    absl::MutexLock l(&mu);
    EXPECT_TRUE(results.empty());
  }
  lock.commit();
  repository.reset();
  ASSERT_EQ(results.size(), 51u);
  for (const auto& [quote_id, result] : results) {
    ASSERT_TRUE(result.ok()) << quote_id << ": " << result.status();
    EXPECT_EQ(result->quote.status(), QuoteStatus::kApproved) << quote_id;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 51);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.requests WHERE operation = 'approve'"), 50);
}

TEST_F(QuoteApiTest, ErrorsAreProperStatuses) {
  v1::ApproveQuoteResponse resp;
  EXPECT_EQ(Approve("no-such-quote", "", &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::Quote quote = Create();
  EXPECT_EQ(Approve(quote.quote_id(), "", &resp, /*expected_version=*/5).error_code(),
            grpc::StatusCode::ABORTED);

  v1::CreateQuoteRequest req;
  req.set_customer_id("cust-1");
  req.set_premium(0);
  v1::Quote out;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->CreateQuote(&ctx, req, &out);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::Status rich;
  ASSERT_TRUE(rich.ParseFromString(s.error_details()));
  google::rpc::BadRequest bad;
  ASSERT_TRUE(rich.details(0).UnpackTo(&bad));
  EXPECT_EQ(bad.field_violations(0).field(), "premium");
  EXPECT_EQ(Count("SELECT count(*) FROM quote.quotes"), 1);
}

TEST_F(QuoteApiTest, PostgresDownGivesUnavailableAndTheServerRecovers) {
  LocalPostgres* pg = Env().postgres();
  if (pg == nullptr) GTEST_SKIP() << "external database: cannot stop it";
  v1::Quote quote = Create();
  ASSERT_TRUE(pg->Stop(LocalPostgres::Mode::kImmediate).ok());
  v1::ApproveQuoteResponse resp;
  grpc::Status down = Approve(quote.quote_id(), "req-down", &resp);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  ASSERT_TRUE(pg->Restart().ok());
  absl::Status recovered =
      testing::WaitFor([&] { return Approve(quote.quote_id(), "req-down", &resp).ok(); },
                       absl::Seconds(30), "ApproveQuote to succeed after Postgres restarted");
  EXPECT_TRUE(recovered.ok()) << recovered;
  EXPECT_EQ(resp.quote().status(), v1::QUOTE_STATUS_APPROVED);
  EXPECT_EQ(Count("SELECT count(*) FROM quote.outbox"), 1);
}

// Both ends of every pooled connection bound a silently lost link (PgLinkLiveness; the outbox
// relay's lease session uses the same settings, and chaos NetPartition.* cut such links): the
// client socket's keepalive and TCP_USER_TIMEOUT as the kernel reports them, and the server
// session's tcp_* settings.
TEST_F(QuoteApiTest, PooledConnectionsBoundALostLinkOnBothEnds) {
  ASSERT_TRUE(absl::StrContains(Env().database_url(), "@127.0.0.1:"))
      << "needs a TCP connection: " << Env().database_url();
  PgPool pool({.database_url = Env().database_url(),
               .size = 1,
               .liveness = {.tcp_user_timeout = absl::Seconds(12),
                            .keepalive_idle = absl::Seconds(7),
                            .keepalive_interval = absl::Seconds(3)}});
  absl::StatusOr<PgPool::Lease> lease = pool.Acquire(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(lease.ok()) << lease.status();
  auto option = [&](int level, int name) {
    int value = -1;
    socklen_t size = sizeof(value);
    EXPECT_EQ(getsockopt((*lease)->sock(), level, name, &value, &size), 0) << name;
    return value;
  };
  EXPECT_EQ(option(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_KEEPIDLE), 7);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_KEEPINTVL), 3);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_USER_TIMEOUT), 12000);
  pqxx::nontransaction tx(**lease);
  pqxx::row server = tx.exec1(
      "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'), "
      "current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout')");
  EXPECT_EQ(server[0].as<std::string>(), "7");  // seconds
  EXPECT_EQ(server[1].as<std::string>(), "3");
  EXPECT_EQ(server[2].as<std::string>(), "3");
  EXPECT_EQ(server[3].as<std::string>(), "12000");  // milliseconds
}

}  // namespace
}  // namespace quoteflow
