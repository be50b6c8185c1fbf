-- Bounded tables (issue 14): every worker deletes its bookkeeping rows past --retention in bounded
-- batches, oldest first (consumers/common/retention_sweeper.h). The inboxes, quote.requests and
-- customer.requests have their time index already; saga.history gets one, so that the sweep of
-- finished sagas' history reads the oldest rows first instead of the whole table.
CREATE INDEX history_at ON saga.history (at);
