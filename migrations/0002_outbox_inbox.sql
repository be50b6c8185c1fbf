-- The transactional outbox and the consumer inbox, one pair per service schema.
--
-- Outbox rows are deleted once a successful delivery report arrived (no read cursor, so a row with a
-- lower seq that commits late is still found). `shard` partitions rows among relay replicas: a relay
-- publishes a shard only while it holds that shard's advisory lock, which keeps per-aggregate order.
-- The shard count (64) is fixed here; the relay's --shards must match.
-- Within one aggregate, seq order is commit order: writers take the aggregate's row lock before they
-- insert its event.
CREATE SCHEMA policy;
CREATE SCHEMA customer;

CREATE FUNCTION public.quoteflow_create_outbox(schema_name text) RETURNS void
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
      -- Explicit topic (commands); NULL means: map aggregate_type/event_type to a topic in the relay.
      topic             text,
      -- The Kafka record value: the JSON envelope.
      payload           text NOT NULL,
      -- CloudEvents ce_source, and the W3C trace context of the work that wrote the row.
      source            text NOT NULL,
      traceparent       text NOT NULL DEFAULT '',
      occurred_at       timestamptz NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
      shard             int NOT NULL GENERATED ALWAYS AS ((hashtext(aggregate_id) & 2147483647) %% 64) STORED,
      attempts          int NOT NULL DEFAULT 0,
      last_error        text,
      -- Set when the broker rejected the row permanently; parked rows (and later rows of the same
      -- aggregate) wait for `quotectl outbox retry`.
      parked_at         timestamptz
    );
    CREATE INDEX outbox_shard_seq ON %1$I.outbox (shard, seq) WHERE parked_at IS NULL;
    CREATE INDEX outbox_parked ON %1$I.outbox (aggregate_id) WHERE parked_at IS NOT NULL;

    CREATE FUNCTION %1$I.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $t$
    BEGIN
      PERFORM pg_notify(%2$L, '');
      RETURN NULL;
    END $t$;
    CREATE TRIGGER outbox_notify AFTER INSERT ON %1$I.outbox
      FOR EACH STATEMENT EXECUTE FUNCTION %1$I.outbox_notify();

    -- (consumer, event id) of every event applied; inserted in the same transaction as the effect.
    CREATE TABLE %1$I.inbox (
      consumer    text NOT NULL,
      event_id    text NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id)
    );
    CREATE INDEX inbox_received_at ON %1$I.inbox (received_at);
  $ddl$, schema_name, schema_name || '_outbox');
END
$fn$;

SELECT public.quoteflow_create_outbox('quote');
SELECT public.quoteflow_create_outbox('policy');
SELECT public.quoteflow_create_outbox('customer');
