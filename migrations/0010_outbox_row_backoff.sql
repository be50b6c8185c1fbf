-- Per-aggregate retry backoff in the outbox (issue 14). A row whose delivery failed transiently
-- (a partition without a leader, NOT_ENOUGH_REPLICAS, a message timeout) used to keep the lowest
-- seq and be read again by every batch: once more than a batch of such rows piled up, nothing
-- else was read, and every key of the outbox stalled behind one broken partition or topic.
--
-- Now the relay sets next_attempt_at (exponential in `retries`, capped by its --max-row-backoff)
-- and last_error on a transiently failed row. Until then the row is not read, nor is any later
-- row of its aggregate (per-aggregate order, invariant I3), while other aggregates flow.
-- `attempts` still counts only permanent refusals (--max-attempts before parking).
--
-- Two partial indexes hold only the rows in backoff: outbox_backoff answers "has this aggregate
-- an earlier row in backoff" (aggregate_id, seq), and outbox_retry lets the relay read the rows due
-- for a retry in seq order without walking the primary key over the whole backlog (issue 13: 35-124
-- ms per batch with 100k rows in the outbox before the planner has statistics for it).
--
-- Every outbox gets the columns and the indexes, and quoteflow_create_outbox() is redefined so that
-- outboxes created by later migrations have them too.
DO $add$
DECLARE
  s text;
BEGIN
  FOR s IN SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = 'outbox' AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                            AND a.attname = 'parked_at' AND NOT a.attisdropped) LOOP
    EXECUTE format('ALTER TABLE %I.outbox ADD COLUMN retries int NOT NULL DEFAULT 0, '
                   'ADD COLUMN next_attempt_at timestamptz', s);
    EXECUTE format('CREATE INDEX outbox_backoff ON %I.outbox (aggregate_id, seq) '
                   'WHERE next_attempt_at IS NOT NULL', s);
    EXECUTE format('CREATE INDEX outbox_retry ON %I.outbox (seq) '
                   'WHERE next_attempt_at IS NOT NULL', s);
  END LOOP;
END
$add$;

CREATE OR REPLACE FUNCTION public.quoteflow_create_outbox(schema_name text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format($ddl$
    CREATE TABLE %1$I.outbox (
      seq               bigserial PRIMARY KEY,
      event_id          text NOT NULL UNIQUE,
      event_type        text NOT NULL,
      aggregate_type    text NOT NULL,
      aggregate_id      text NOT NULL,
      aggregate_version bigint NOT NULL,
      quote_id          text NOT NULL,
      -- Explicit topic (commands); NULL means: map aggregate_type/event_type to a topic in the
      -- relay.
      topic             text,
      -- The Kafka record value: the JSON envelope.
      payload           text NOT NULL,
      -- CloudEvents ce_source, and the W3C trace context of the work that wrote the row.
      source            text NOT NULL,
      traceparent       text NOT NULL DEFAULT '',
      occurred_at       timestamptz NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
      shard             int NOT NULL
                        GENERATED ALWAYS AS ((hashtext(aggregate_id) & 2147483647) %% 64) STORED,
      attempts          int NOT NULL DEFAULT 0,
      last_error        text,
      -- Set when the broker rejected the row permanently; parked rows (and later rows of the same
      -- aggregate) wait for `quotectl outbox retry`.
      parked_at         timestamptz,
      -- Transient delivery failures, and when the row (and the later rows of its aggregate) may
      -- be read again (0010_outbox_row_backoff.sql).
      retries           int NOT NULL DEFAULT 0,
      next_attempt_at   timestamptz
    );
    CREATE INDEX outbox_shard_seq ON %1$I.outbox (shard, seq) WHERE parked_at IS NULL;
    CREATE INDEX outbox_parked ON %1$I.outbox (aggregate_id) WHERE parked_at IS NOT NULL;
    CREATE INDEX outbox_backoff ON %1$I.outbox (aggregate_id, seq)
      WHERE next_attempt_at IS NOT NULL;
    CREATE INDEX outbox_retry ON %1$I.outbox (seq) WHERE next_attempt_at IS NOT NULL;

    -- (consumer, event id) of every event applied; inserted in the same transaction as the effect.
    CREATE TABLE %1$I.inbox (
      consumer    text NOT NULL,
      event_id    text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      applied_seq bigint GENERATED ALWAYS AS IDENTITY,  -- 0009_inbox_applied_seq.sql
      PRIMARY KEY (consumer, event_id)
    );
    CREATE INDEX inbox_received_at ON %1$I.inbox (received_at);
  $ddl$, schema_name);
END
$fn$;
