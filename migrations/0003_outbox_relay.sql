-- Outbox relay replicas, one row per running relay and outbox schema: who runs, which shards it holds,
-- how much it published and parked, when it last reported. Informational only (`quotectl outbox stats`,
-- debugging): shard leases are session advisory locks on each relay's connection, and replica liveness
-- for the shard split comes from a per-relay "presence" advisory lock, so a stale row here never blocks
-- anything; relays delete rows whose presence lock is gone.
CREATE TABLE public.quoteflow_outbox_relays (
  schema_name  text NOT NULL,
  relay_id     text NOT NULL,
  backend_pid  int NOT NULL,
  shards       int[] NOT NULL DEFAULT '{}',
  published    bigint NOT NULL DEFAULT 0,
  parked       bigint NOT NULL DEFAULT 0,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, relay_id)
);
