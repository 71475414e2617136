-- Orleans.AiFleet on Kubernetes: a login role per PostgreSQL client, each granted only what its workload runs, so
-- that the superuser's password stays with PostgreSQL and the schema job.
--
-- The schema job runs this as the superuser after db/001_membership.sql and db/002_model_versions.sql (the grants
-- name their tables), with psql 15 or later: the passwords come from the environment (\getenv), so they are on no
-- command line. Safe to run again: a missing role is created; the attributes and password are set every time (a
-- changed Secret takes effect when the job runs again); the table privileges are replaced by exactly these.

\getenv silo_password POSTGRES_SILO_PASSWORD
\getenv client_password POSTGRES_CLIENT_API_PASSWORD

SELECT 'CREATE ROLE aifleet_silo' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aifleet_silo') \gexec
SELECT 'CREATE ROLE aifleet_client' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'aifleet_client') \gexec
-- An unset variable stays ":'silo_password'" in the text, a syntax error: the job fails rather than set no password.
ALTER ROLE aifleet_silo WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'silo_password';
ALTER ROLE aifleet_client WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'client_password';

-- One transaction: a pod querying meanwhile sees the old privileges or the new ones, never none. Revoking on a table
-- revokes its column privileges too. PostgreSQL 15 gives PUBLIC no CREATE on schema public, so neither role can
-- create or change a table (the tables belong to the superuser).
BEGIN;
REVOKE ALL ON OrleansQuery, aifleet_membership_version, aifleet_membership, aifleet_model_versions FROM aifleet_silo, aifleet_client;

-- Silos: Orleans' ADO.NET clustering loads the query texts, then runs every membership query in db/001_membership.sql.
GRANT SELECT ON OrleansQuery TO aifleet_silo;
GRANT SELECT, INSERT, UPDATE, DELETE ON aifleet_membership_version, aifleet_membership TO aifleet_silo;
-- A silo's PostgresModelStore lists and fetches uploaded versions and deletes one that is removed or refused; it
-- never stores one (client-api does).
GRANT SELECT, DELETE ON aifleet_model_versions TO aifleet_silo;

-- client-api: gateway discovery loads the query texts, then runs GatewaysQueryKey, which reads aifleet_membership.
GRANT SELECT ON OrleansQuery, aifleet_membership TO aifleet_client;
-- Uploads (PUT /v1/admin/models/{model}/versions/{version}): PostgresModelStore.SaveAsync's upsert, whose
-- ON CONFLICT (model, version) reads the key columns. Listing and deleting versions goes through the silos.
GRANT INSERT, UPDATE ON aifleet_model_versions TO aifleet_client;
GRANT SELECT (model, version) ON aifleet_model_versions TO aifleet_client;
COMMIT;
