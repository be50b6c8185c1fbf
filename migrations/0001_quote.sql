-- quote-api's schema: the Quote aggregate, request idempotency records, its outbox and inbox.
CREATE SCHEMA quote;

CREATE TABLE quote.quotes (
  quote_id         text PRIMARY KEY,
  customer_id      text NOT NULL,
  premium          bigint NOT NULL CHECK (premium > 0),
  status           text NOT NULL CHECK (status IN ('DRAFT', 'APPROVED', 'ISSUED', 'REJECTED')),
  version          bigint NOT NULL CHECK (version > 0),
  rejection_reason text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);

-- One row per idempotency key: the first request's result is returned for every repeat.
CREATE TABLE quote.requests (
  request_id       text PRIMARY KEY,
  operation        text NOT NULL CHECK (operation IN ('create', 'approve')),
  quote_id         text NOT NULL,
  -- The quote as the request left it (customer_id, premium, created_at never change).
  status           text NOT NULL,
  version          bigint NOT NULL,
  rejection_reason text NOT NULL DEFAULT '',
  updated_at       timestamptz NOT NULL,
  event_id         text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requests_created_at ON quote.requests (created_at);
