-- Group roles (NOLOGIN) with exactly the privileges each program needs; deployments grant them to
-- the login users the programs connect as. `advisor-server migrate` runs as the owner of the schema,
-- which keeps every other privilege (CREATE, DROP, ALTER) to itself.
--
--   advisor_server: reads the aggregates, the TURN registry and TURN health; adds to the aggregates,
--     records flush ids, inserts and expires used decision tokens.
--   advisor_prober: syncs the TURN registry, writes TURN health (and reads both back). Its leader
--     lock is an advisory lock, which every role may take: nothing to grant.
--
-- Neither may create or drop tables (PostgreSQL 15 no longer grants CREATE on schema public to
-- PUBLIC, and neither role owns anything), nor read server files (not superusers, not members of
-- pg_read_server_files).
--
-- Grants are per table, here and in every later migration that adds a table, rather than through
-- ALTER DEFAULT PRIVILEGES: default privileges would give each role every future table whichever
-- program it is for, and they only apply to objects created by the role that set them, which is
-- the migrating login of the day. tests/integration/roles_test.cc checks the whole privilege matrix
-- and fails on a table it does not know, so a new table comes with its grants.

-- Roles belong to the cluster, not to the database: another database of the same cluster (a second
-- deployment, a test) may have made them already, or a DBA may have, so that the migrating owner
-- needs no CREATEROLE. Only a missing role is created; the handler covers a concurrent creation in
-- another database's migration.
DO $$
DECLARE
  name text;
BEGIN
  FOREACH name IN ARRAY ARRAY['advisor_server', 'advisor_prober'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',
                       name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$$;

-- USAGE on the schema: PUBLIC has it on schema public by default; granted by name as well where the
-- migrating user may (it owns the schema), so that revoking it from PUBLIC leaves the programs
-- working.
DO $$
BEGIN
  IF has_schema_privilege(current_schema(), 'USAGE WITH GRANT OPTION') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO advisor_server, advisor_prober', current_schema());
  END IF;
END
$$;

-- The aggregate upsert adds to stored counters (UPDATE reading the old values: SELECT).
GRANT SELECT, INSERT, UPDATE ON outcome_aggregates TO advisor_server;
GRANT EXECUTE ON FUNCTION advisor_array_add(bigint[], bigint[]) TO advisor_server;
-- A flush records its id, then sets the row count on it.
GRANT SELECT, INSERT, UPDATE ON applied_flushes TO advisor_server;
-- INSERT ... RETURNING token_id needs SELECT; ForgetExpiredTokens locks the rows it deletes with
-- FOR UPDATE SKIP LOCKED, which needs UPDATE on at least one column: expires_at only.
GRANT SELECT, INSERT, DELETE ON used_decision_tokens TO advisor_server;
GRANT UPDATE (expires_at) ON used_decision_tokens TO advisor_server;
GRANT SELECT ON turn_servers, turn_health TO advisor_server;

-- The registry sync upserts servers and disables the ones no longer listed; health is upserted per
-- (server, region). No DELETE: removed servers keep their rows.
GRANT SELECT, INSERT, UPDATE ON turn_servers, turn_health TO advisor_prober;
