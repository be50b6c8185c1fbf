-- The relays' wake-up leaves the writing transaction (issue 13). 0002's outbox_notify trigger ran
-- pg_notify() in every transaction that inserted outbox rows. A transaction that has notified takes
-- a database-wide lock at commit and holds it through its WAL flush, so every outbox-writing
-- transaction of the database committed one at a time and group commit was lost (UPDATE quote +
-- INSERT outbox under pgbench, 16 clients: 237-252 tps with the trigger, 1,015-1,146 without).
--
-- Writers now ring a doorbell after they committed (platform/postgres/outbox_doorbell.h): at most
-- one NOTIFY "<schema>_outbox" per few milliseconds per process, in its own transaction, on its
-- own connection, with synchronous_commit off. Relays LISTEN on the same channel as before and
-- poll as a fallback (--poll-interval).
--
-- This drops the trigger and its function from every outbox that has them, and redefines
-- quoteflow_create_outbox() so that outboxes created by later migrations have none.
DO $drop$
DECLARE
  s text;
BEGIN
  FOR s IN SELECT n.nspname FROM pg_trigger t
             JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE t.tgname = 'outbox_notify' AND c.relname = 'outbox' AND NOT t.tgisinternal LOOP
    EXECUTE format('DROP TRIGGER outbox_notify ON %I.outbox', s);
  END LOOP;
  FOR s IN SELECT n.nspname FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.proname = 'outbox_notify' AND p.pronargs = 0 LOOP
    EXECUTE format('DROP FUNCTION %I.outbox_notify()', s);
  END LOOP;
END
$drop$;

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
      parked_at         timestamptz
    );
    CREATE INDEX outbox_shard_seq ON %1$I.outbox (shard, seq) WHERE parked_at IS NULL;
    CREATE INDEX outbox_parked ON %1$I.outbox (aggregate_id) WHERE parked_at IS NOT NULL;

    -- (consumer, event id) of every event applied; inserted in the same transaction as the effect.
    CREATE TABLE %1$I.inbox (
      consumer    text NOT NULL,
      event_id    text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id)
    );
    CREATE INDEX inbox_received_at ON %1$I.inbox (received_at);
  $ddl$, schema_name);
END
$fn$;
