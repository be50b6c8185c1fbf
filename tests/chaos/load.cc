#include "tests/chaos/load.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace quoteflow::chaos {
namespace {

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return "OK";
    case grpc::CANCELLED:
      return "CANCELLED";
    case grpc::UNKNOWN:
      return "UNKNOWN";
    case grpc::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::ABORTED:
      return "ABORTED";
    case grpc::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::INTERNAL:
      return "INTERNAL";
    case grpc::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

bool Retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::UNAVAILABLE:
    case grpc::DEADLINE_EXCEEDED:
    case grpc::RESOURCE_EXHAUSTED:
    case grpc::ABORTED:
    case grpc::CANCELLED:
      return true;
    // INTERNAL and UNKNOWN are server errors, never a transient condition: counted as unexpected
    // (retrying them would hide a bug behind a passing scenario).
    default:
      return false;
  }
}

// Per-thread tallies, merged at the end.
struct Tally {
  std::map<std::string, int64_t> codes;
  int64_t calls = 0, given_up = 0, unexpected = 0;
  absl::Duration max_call;
};

}  // namespace

std::string LoadResult::ToString() const {
  std::vector<std::string> parts = {absl::StrCat("calls=", calls)};
  for (const auto& [code, n] : codes) parts.push_back(absl::StrCat(code, "=", n));
  parts.push_back(absl::StrCat("given-up=", given_up));
  parts.push_back(absl::StrCat("unexpected=", unexpected));
  parts.push_back(
      absl::StrCat("elapsed=", absl::FormatDuration(absl::Trunc(elapsed, absl::Milliseconds(1)))));
  parts.push_back(absl::StrCat("slowest-call=",
                               absl::FormatDuration(absl::Trunc(max_call, absl::Milliseconds(1)))));
  return absl::StrJoin(parts, " ");
}

LoadResult LoadDriver::Run() {
  LoadResult result;
  result.approvals.resize(options_.quotes);
  const absl::Time start = absl::Now();
  std::mutex mu;
  Tally total;

  // Calls `attempt` until it returns OK, a non-retryable code, or the operation's time is up.
  auto retry = [&](Tally& t, absl::Time give_up, const std::function<grpc::Status()>& attempt) {
    absl::Duration backoff = options_.min_backoff;
    while (true) {
      const absl::Time before = absl::Now();
      grpc::Status s = attempt();
      t.max_call = std::max(t.max_call, absl::Now() - before);
      ++t.calls;
      ++t.codes[CodeName(s.error_code())];
      if (s.ok()) return true;
      if (!Retryable(s.error_code())) {
        ++t.unexpected;
        ++t.codes[absl::StrCat("unexpected:", CodeName(s.error_code()), ":",
                               s.error_message().substr(0, 60))];
        return false;
      }
      if (absl::Now() + backoff > give_up) return false;
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  };
  auto deadline = [&] {
    return std::chrono::system_clock::now() +
           std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.call_deadline));
  };

  auto client = [&](int first) {
    Tally t;
    for (int i = first; i < options_.quotes; i += options_.concurrency) {
      if (options_.stop != nullptr && options_.stop->load()) break;
      const absl::Time started = absl::Now();
      Approval& a = result.approvals[i];
      a.index = i;
      a.customer_id = options_.customer_of(i);
      a.premium = options_.premium_of(i);
      const absl::Time give_up = absl::Now() + options_.give_up_after;
      v1::CreateQuoteRequest create;
      create.set_customer_id(a.customer_id);
      create.set_premium(a.premium);
      create.set_request_id(absl::StrCat(options_.run_id, "-", i, "-create"));
      v1::Quote quote;
      const bool created = retry(t, give_up, [&] {
        grpc::ClientContext ctx;
        ctx.set_deadline(deadline());
        return stub_.CreateQuote(&ctx, create, &quote);
      });
      if (!created) {
        ++t.given_up;
        continue;
      }
      a.quote_id = quote.quote_id();
      v1::ApproveQuoteRequest approve;
      approve.set_quote_id(a.quote_id);
      approve.set_request_id(absl::StrCat(options_.run_id, "-", i, "-approve"));
      std::mutex amu;
      auto send = [&](Tally& tt) {
        v1::ApproveQuoteResponse resp;
        const bool ok = retry(tt, give_up, [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(deadline());
          return stub_.ApproveQuote(&ctx, approve, &resp);
        });
        if (!ok) return;
        ok_replies_.fetch_add(1);
        std::lock_guard<std::mutex> lock(amu);
        if (!a.acked) {
          a.acked = true;
          a.event_id = resp.event_id();
        }
        a.event_ids_seen.insert(resp.event_id());
      };
      if (options_.sends_per_approve <= 1) {
        send(t);
      } else {
        std::vector<Tally> tallies(options_.sends_per_approve);
        std::vector<std::thread> senders;
        for (int k = 0; k < options_.sends_per_approve; ++k) {
          senders.emplace_back([&, k] { send(tallies[k]); });
        }
        for (std::thread& s : senders) s.join();
        for (Tally& tt : tallies) {
          t.calls += tt.calls;
          t.unexpected += tt.unexpected;
          t.max_call = std::max(t.max_call, tt.max_call);
          for (const auto& [c, n] : tt.codes) t.codes[c] += n;
        }
      }
      if (a.acked) {
        approved_.fetch_add(1);
      } else {
        ++t.given_up;
      }
      const absl::Duration left = options_.pace - (absl::Now() - started);
      if (left > absl::ZeroDuration()) absl::SleepFor(left);  // pacing, not waiting for a state
    }
    std::lock_guard<std::mutex> lock(mu);
    total.calls += t.calls;
    total.given_up += t.given_up;
    total.unexpected += t.unexpected;
    total.max_call = std::max(total.max_call, t.max_call);
    for (const auto& [c, n] : t.codes) total.codes[c] += n;
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < options_.concurrency; ++c) threads.emplace_back(client, c);
  for (std::thread& t : threads) t.join();
  result.codes = std::move(total.codes);
  result.calls = total.calls;
  result.given_up = total.given_up;
  result.unexpected = total.unexpected;
  result.max_call = total.max_call;
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace quoteflow::chaos
