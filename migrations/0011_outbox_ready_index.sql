-- The rows the relay may publish next, in seq order (issue 13). A relay that holds every shard
-- reads `parked_at IS NULL AND next_attempt_at IS NULL ... ORDER BY seq LIMIT batch`. Without an
-- index of exactly those rows the planner had to guess how many rows pass the test, and once the
-- guess fell below the batch (0.5 % of the table, i.e. any outbox under 200 batches) it read and
-- sorted the whole outbox for every batch: 0.6-0.95 s per 5,000-row read of a 300,000-row
-- backlog, so a 1,000,000-row drain ran at 4,500 rows/s. Walking this index it takes 9-20 ms,
-- with or without table statistics. The index is built without CONCURRENTLY (migrations run in a
-- transaction), which blocks writes to the outbox while it builds: a drained outbox holds few
-- rows, so that is milliseconds; migrate a large backlog's outbox after the relay has drained it.
DO $add$
DECLARE
  s text;
BEGIN
  -- Every outbox has both columns since 0010.
  FOR s IN SELECT schemaname FROM pg_tables WHERE tablename = 'outbox' LOOP
    EXECUTE format('CREATE INDEX outbox_ready ON %I.outbox (seq) '
                   'WHERE parked_at IS NULL AND next_attempt_at IS NULL', s);
  END LOOP;
END
$add$;

-- Outboxes created by later migrations get the index too: the table DDL stays where 0010 wrote
-- it, under a new name, and quoteflow_create_outbox() adds the index after it.
ALTER FUNCTION public.quoteflow_create_outbox(text) RENAME TO quoteflow_create_outbox_0010;

CREATE FUNCTION public.quoteflow_create_outbox(schema_name text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM public.quoteflow_create_outbox_0010(schema_name);
  EXECUTE format('CREATE INDEX outbox_ready ON %I.outbox (seq) '
                 'WHERE parked_at IS NULL AND next_attempt_at IS NULL', schema_name);
END
$fn$;
