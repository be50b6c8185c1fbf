-- policy-worker's and customer-worker's state (their outbox/inbox tables are in 0002).

-- One policy per quote: policy_id is derived from quote_id ("pol-" || quote_id).
CREATE TABLE policy.policies (
  policy_id           text PRIMARY KEY,
  quote_id            text NOT NULL UNIQUE,
  customer_id         text NOT NULL,
  premium             bigint NOT NULL CHECK (premium > 0),
  status              text NOT NULL CHECK (status IN ('ACTIVE', 'CANCELLED')),
  cancellation_reason text NOT NULL DEFAULT '',
  -- The quote's aggregate version in its QuoteApproved event: the compensation's QuoteRejected
  -- carries the next one.
  quote_version       bigint NOT NULL CHECK (quote_version > 0),
  version             bigint NOT NULL CHECK (version > 0),
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL
);
CREATE INDEX policies_customer ON policy.policies (customer_id);

-- Approved quotes the policy side refused to insure (premium above the underwriting limit), so a
-- repeated QuoteApproved is recognised and not answered twice.
CREATE TABLE policy.declined_quotes (
  quote_id    text PRIMARY KEY,
  customer_id text NOT NULL,
  premium     bigint NOT NULL,
  reason      text NOT NULL,
  declined_at timestamptz NOT NULL
);

CREATE TABLE customer.customers (
  customer_id  text PRIMARY KEY,
  name         text NOT NULL,
  max_policies bigint NOT NULL CHECK (max_policies > 0),
  policy_count bigint NOT NULL CHECK (policy_count >= 0),
  version      bigint NOT NULL CHECK (version > 0),
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);

-- CreateCustomer idempotency keys.
CREATE TABLE customer.requests (
  request_id  text PRIMARY KEY,
  customer_id text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_requests_created_at ON customer.requests (created_at);

-- What the customer side decided about each policy, one row per policy id ever: COUNTED (in the
-- customer's policy_count), REJECTED (never counted), UNCOUNTED (counted, then cancelled; or
-- cancelled before it was seen). policy_count = the customer's COUNTED rows.
CREATE TABLE customer.policy_counts (
  policy_id   text PRIMARY KEY,
  customer_id text NOT NULL,
  quote_id    text NOT NULL,
  status      text NOT NULL CHECK (status IN ('COUNTED', 'REJECTED', 'UNCOUNTED')),
  reason      text NOT NULL DEFAULT '',
  updated_at  timestamptz NOT NULL
);
CREATE INDEX policy_counts_customer ON customer.policy_counts (customer_id, status);
