-- The saga by orchestration (saga-orchestrator): one row per approved quote with where its saga
-- stands, the history of its steps, and the orchestrator's own outbox (commands, each row with an
-- explicit command topic) and inbox (QuoteApproved and the participants' replies).
CREATE SCHEMA saga;

CREATE TABLE saga.sagas (
  quote_id       text PRIMARY KEY,
  customer_id    text NOT NULL,
  policy_id      text NOT NULL,
  premium        bigint NOT NULL,
  quote_version  bigint NOT NULL,
  state          text NOT NULL CHECK (state IN ('POLICY_REQUESTED', 'CUSTOMER_UPDATE_REQUESTED',
                   'ISSUE_REQUESTED', 'COMPLETED', 'RELEASE_COUNT_REQUESTED',
                   'CANCEL_POLICY_REQUESTED', 'REJECT_QUOTE_REQUESTED', 'COMPENSATED', 'STUCK')),
  step           text NOT NULL,
  attempt        int NOT NULL CHECK (attempt >= 1),
  step_attempts  int NOT NULL CHECK (step_attempts >= 1),
  -- When the current step's reply is due; NULL when terminal or STUCK.
  deadline       timestamptz,
  failure_reason text NOT NULL DEFAULT '',
  stuck_reason   text NOT NULL DEFAULT '',
  version        bigint NOT NULL CHECK (version > 0),
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
-- The deadline sweeper: SELECT ... WHERE deadline <= $now ORDER BY deadline FOR UPDATE SKIP LOCKED.
CREATE INDEX sagas_deadline ON saga.sagas (deadline) WHERE deadline IS NOT NULL;
CREATE INDEX sagas_state ON saga.sagas (state);

CREATE TABLE saga.history (
  quote_id text NOT NULL REFERENCES saga.sagas (quote_id),
  seq      bigserial,
  at       timestamptz NOT NULL,
  step     text NOT NULL,
  attempt  int NOT NULL,
  outcome  text NOT NULL,
  detail   text NOT NULL DEFAULT '',
  PRIMARY KEY (quote_id, seq)
);

SELECT public.quoteflow_create_outbox('saga');
