-- Orleans.AiFleet: cluster membership on PostgreSQL for Microsoft.Orleans.Clustering.AdoNet.
--
-- Orleans runs only the SQL text stored in OrleansQuery, binds parameters by name (@DeploymentId is the cluster
-- id) and reads result columns by name. These tables and texts are this project's own. The contract each query
-- meets is written beside it. Safe to apply more than once.

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64) PRIMARY KEY,
    QueryText text        NOT NULL
);

-- One row per cluster: the membership table's version, the optimistic-concurrency token of every membership write.
CREATE TABLE IF NOT EXISTS aifleet_membership_version
(
    deployment_id varchar(150) PRIMARY KEY,
    version       integer      NOT NULL DEFAULT 0,
    updated_at    timestamptz  NOT NULL DEFAULT now()
);

-- One row per silo incarnation (address, port, generation).
CREATE TABLE IF NOT EXISTS aifleet_membership
(
    deployment_id   varchar(150) NOT NULL REFERENCES aifleet_membership_version (deployment_id) ON DELETE CASCADE,
    address         varchar(45)  NOT NULL,
    port            integer      NOT NULL,
    generation      integer      NOT NULL,
    silo_name       varchar(150) NOT NULL,
    host_name       varchar(150) NOT NULL,
    status          integer      NOT NULL,
    proxy_port      integer      NOT NULL,
    suspect_times   text         NULL,
    start_time      timestamptz  NOT NULL,
    i_am_alive_time timestamptz  NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);

-- Read by gateway discovery on every client refresh.
CREATE INDEX IF NOT EXISTS aifleet_membership_gateways ON aifleet_membership (deployment_id, status);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES

-- Creates the cluster's version row if missing. Returns one value: 1 when it was created, 0 when it existed.
('InsertMembershipVersionKey', '
WITH created AS (
    INSERT INTO aifleet_membership_version (deployment_id, version) VALUES (@DeploymentId, 0)
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1)
SELECT count(*) FROM created;'),

-- Adds a silo if the table is still at @Version (the version the caller read): the version moves on and the row
-- is added in one statement, or neither happens. Returns 1 on success, 0 when another writer came first.
('InsertMembershipKey', '
WITH bumped AS (
    UPDATE aifleet_membership_version SET version = version + 1, updated_at = now()
    WHERE deployment_id = @DeploymentId AND version = @Version
      AND NOT EXISTS (SELECT 1 FROM aifleet_membership
                      WHERE deployment_id = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation)
    RETURNING deployment_id),
added AS (
    INSERT INTO aifleet_membership (deployment_id, address, port, generation, silo_name, host_name, status, proxy_port, start_time, i_am_alive_time)
    SELECT deployment_id, @Address, @Port, @Generation, @SiloName, @HostName, @Status, @ProxyPort, @StartTime, @IAmAliveTime FROM bumped
    RETURNING 1)
SELECT count(*) FROM added;'),

-- Changes a silo''s status, suspicions and liveness if the table is still at @Version; same all-or-nothing rule.
('UpdateMembershipKey', '
WITH bumped AS (
    UPDATE aifleet_membership_version SET version = version + 1, updated_at = now()
    WHERE deployment_id = @DeploymentId AND version = @Version
      AND EXISTS (SELECT 1 FROM aifleet_membership
                  WHERE deployment_id = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation)
    RETURNING deployment_id),
changed AS (
    UPDATE aifleet_membership m SET status = @Status, suspect_times = @SuspectTimes, i_am_alive_time = @IAmAliveTime
    FROM bumped
    WHERE m.deployment_id = bumped.deployment_id AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
    RETURNING 1)
SELECT count(*) FROM changed;'),

-- Liveness heartbeat; not versioned (Orleans treats it as a hint, not a membership change).
('UpdateIAmAlivetimeKey', '
UPDATE aifleet_membership SET i_am_alive_time = @IAmAliveTime
WHERE deployment_id = @DeploymentId AND address = @Address AND port = @Port AND generation = @Generation;'),

-- The whole table: one row per silo, each carrying the table version; the version row alone when no silo is there.
('MembershipReadAllKey', '
SELECT v.deployment_id AS "DeploymentId", m.address AS "Address", m.port AS "Port", m.generation AS "Generation",
       m.silo_name AS "SiloName", m.host_name AS "HostName", m.status AS "Status", m.proxy_port AS "ProxyPort",
       m.suspect_times AS "SuspectTimes", m.start_time AS "StartTime", m.i_am_alive_time AS "IAmAliveTime",
       v.version AS "Version"
FROM aifleet_membership_version v
LEFT JOIN aifleet_membership m ON m.deployment_id = v.deployment_id
WHERE v.deployment_id = @DeploymentId;'),

-- One silo, in the same shape as the whole-table read.
('MembershipReadRowKey', '
SELECT v.deployment_id AS "DeploymentId", m.address AS "Address", m.port AS "Port", m.generation AS "Generation",
       m.silo_name AS "SiloName", m.host_name AS "HostName", m.status AS "Status", m.proxy_port AS "ProxyPort",
       m.suspect_times AS "SuspectTimes", m.start_time AS "StartTime", m.i_am_alive_time AS "IAmAliveTime",
       v.version AS "Version"
FROM aifleet_membership_version v
LEFT JOIN aifleet_membership m ON m.deployment_id = v.deployment_id
     AND m.address = @Address AND m.port = @Port AND m.generation = @Generation
WHERE v.deployment_id = @DeploymentId;'),

-- Gateways for clients: silos in @Status (Active) that accept clients.
('GatewaysQueryKey', '
SELECT address AS "Address", proxy_port AS "ProxyPort", generation AS "Generation"
FROM aifleet_membership
WHERE deployment_id = @DeploymentId AND status = @Status AND proxy_port > 0;'),

-- Removes the cluster''s membership (the version row goes with its silos).
('DeleteMembershipTableEntriesKey', '
DELETE FROM aifleet_membership_version WHERE deployment_id = @DeploymentId;'),

-- Removes silos that stopped heart-beating before @IAmAliveTime and are not active.
('CleanupDefunctSiloEntriesKey', '
DELETE FROM aifleet_membership
WHERE deployment_id = @DeploymentId AND i_am_alive_time < @IAmAliveTime AND status <> 3;')

ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
