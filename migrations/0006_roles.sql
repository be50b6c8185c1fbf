-- Least privilege: one NOLOGIN group role per service, allowed only into its own schema, and one per
-- outbox relay, allowed only its outbox (read, delete published rows, park) plus its bookkeeping row in
-- public.quoteflow_outbox_relays. Operators create LOGIN users that are members of these, e.g.
--   CREATE ROLE quote_api_prod LOGIN PASSWORD '...' IN ROLE quoteflow_quote_api;
-- and keep the owner (the user that runs `quotectl migrate`) for migrations only.
--
-- Roles are cluster-global while migrations run per database, possibly concurrently in one cluster:
-- creation tolerates a role that exists or is being created by another database's migration. Grants
-- are per database. quoteflow_grant_roles() grants on every table and sequence that exists: a later
-- migration that adds tables calls it again.
CREATE FUNCTION public.quoteflow_ensure_role(role_name text) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;  -- created meanwhile by a migration of another database in the same cluster
END
$f$;

CREATE FUNCTION public.quoteflow_grant_roles() RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
  service record;
  relay text;
BEGIN
  FOR service IN SELECT * FROM (VALUES ('quoteflow_quote_api', 'quote'),
                                       ('quoteflow_quote_worker', 'quote'),
                                       ('quoteflow_policy_worker', 'policy'),
                                       ('quoteflow_customer_worker', 'customer'),
                                       ('quoteflow_saga', 'saga')) AS s(role_name, schema_name) LOOP
    PERFORM public.quoteflow_ensure_role(service.role_name);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', service.schema_name, service.role_name);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
                   service.schema_name, service.role_name);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I',
                   service.schema_name, service.role_name);
    -- Every binary checks that the schema is current at start.
    EXECUTE format('GRANT SELECT ON public.quoteflow_migrations TO %I', service.role_name);
  END LOOP;
  FOR relay IN SELECT unnest(ARRAY['quote', 'policy', 'customer', 'saga']) LOOP
    PERFORM public.quoteflow_ensure_role('quoteflow_relay_' || relay);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', relay, 'quoteflow_relay_' || relay);
    EXECUTE format('GRANT SELECT, UPDATE, DELETE ON %I.outbox TO %I', relay,
                   'quoteflow_relay_' || relay);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.quoteflow_outbox_relays TO %I',
                   'quoteflow_relay_' || relay);
    EXECUTE format('GRANT SELECT ON public.quoteflow_migrations TO %I', 'quoteflow_relay_' || relay);
  END LOOP;
END
$f$;

SELECT public.quoteflow_grant_roles();
