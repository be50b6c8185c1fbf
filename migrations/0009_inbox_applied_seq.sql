-- The exact order in which each consumer applied its events. received_at is the applying
-- transaction's start time, shared by every event of a batch (up to 100), so it cannot tell which
-- of them was applied first; applied_seq can (the chaos suite's applied-order check, audits).
-- Identity columns need no privilege beyond INSERT on the table.
DO $$
DECLARE
  s text;
BEGIN
  FOR s IN SELECT table_schema FROM information_schema.tables
           WHERE table_name = 'inbox' AND table_schema IN ('quote', 'policy', 'customer', 'saga')
           ORDER BY 1
  LOOP
    EXECUTE format('ALTER TABLE %I.inbox ADD COLUMN applied_seq bigint GENERATED ALWAYS AS IDENTITY',
                   s);
  END LOOP;
END
$$;
