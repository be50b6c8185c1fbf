// In-memory fakes of the domain ports, for unit tests only. Each fake is thread-safe.
#ifndef QUOTEFLOW_DOMAIN_TESTING_FAKES_H_
#define QUOTEFLOW_DOMAIN_TESTING_FAKES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "domain/clock.h"
#include "domain/quote_repository.h"

namespace quoteflow::testing {

// A clock that moves only when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_;
};

// Ids "<prefix>1", "<prefix>2", ...
class SequentialIds : public IdGenerator {
 public:
  explicit SequentialIds(std::string prefix = "id-") : prefix_(std::move(prefix)) {}
  std::string NewId() override;

 private:
  absl::Mutex mu_;
  std::string prefix_;
  int next_ = 1;
};

// QuoteRepository over maps, with the same idempotency and atomicity contract as the Postgres one.
class InMemoryQuoteRepository : public QuoteRepository {
 public:
  absl::StatusOr<Quote> Insert(absl::string_view request_id, const Quote& quote) override;
  absl::StatusOr<QuoteCommandResult> Update(absl::string_view request_id,
                                            absl::string_view quote_id, Decide decide) override;
  absl::StatusOr<Quote> Get(absl::string_view quote_id) override;

  // Every event stored so far, in commit order (the fake's outbox).
  std::vector<DomainEvent> outbox() const;

 private:
  struct Request {
    std::string operation;
    std::string quote_id;
    QuoteCommandResult result;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Quote, std::less<>> quotes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Request, std::less<>> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<DomainEvent> outbox_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quoteflow::testing

#endif  // QUOTEFLOW_DOMAIN_TESTING_FAKES_H_
