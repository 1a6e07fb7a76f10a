-- Test-only SQL emulation of the Citus node-metadata API (pg_dist_node, pg_dist_authinfo,
-- citus_add_node, citus_update_node, citus_remove_node, citus_set_coordinator_host).
--
-- Written for patroni-mpp from the documented behaviour of Citus 13.2 and checked against real Citus
-- 13.2.2; it is NOT Citus and holds no data placement logic. See README.md next to this file for what
-- is and is not emulated.
--
-- Idempotent: running it again replaces the functions and keeps existing rows. It creates tables in
-- pg_catalog, which needs a superuser (allow_system_table_mods is switched on for this transaction).
-- Run it as one transaction (install_emulation() in emulation.py does).

SET LOCAL allow_system_table_mods = on;
SET LOCAL client_min_messages = warning;
SELECT pg_catalog.pg_advisory_xact_lock(1129883733, -1);  -- serialise concurrent installs

CREATE SCHEMA IF NOT EXISTS citus_emulation;
COMMENT ON SCHEMA citus_emulation IS
    'patroni-mpp test-only emulation of the Citus metadata API (not Citus)';

DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type
                   WHERE typname = 'noderole' AND typnamespace = 'pg_catalog'::regnamespace) THEN
        CREATE TYPE pg_catalog.noderole AS ENUM ('primary', 'secondary', 'unavailable');
    END IF;
END
$do$;

CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_node_nodeid_seq AS int MINVALUE 1;
CREATE SEQUENCE IF NOT EXISTS pg_catalog.pg_dist_groupid_seq AS int MINVALUE 1;

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_node (
    nodeid int NOT NULL DEFAULT nextval('pg_catalog.pg_dist_node_nodeid_seq') PRIMARY KEY,
    groupid int NOT NULL DEFAULT 0,
    nodename text NOT NULL,
    nodeport int NOT NULL DEFAULT 5432,
    noderack text NOT NULL DEFAULT 'default',
    hasmetadata bool NOT NULL DEFAULT false,
    isactive bool NOT NULL DEFAULT true,
    noderole pg_catalog.noderole NOT NULL DEFAULT 'primary',
    nodecluster name NOT NULL DEFAULT 'default',
    metadatasynced bool NOT NULL DEFAULT false,
    shouldhaveshards bool NOT NULL DEFAULT true,
    nodeisclone bool NOT NULL DEFAULT false,
    nodeprimarynodeid int4 NOT NULL DEFAULT 0,
    CONSTRAINT pg_dist_node_nodename_nodeport_key UNIQUE (nodename, nodeport),
    CONSTRAINT primaries_only_in_default_cluster
        CHECK (noderole <> 'primary' OR nodecluster = 'default')
);
ALTER SEQUENCE pg_catalog.pg_dist_node_nodeid_seq OWNED BY pg_catalog.pg_dist_node.nodeid;

-- authinfo may only carry the libpq keys password, sslcert and sslkey (NULL when unparsable)
CREATE OR REPLACE FUNCTION citus_emulation.authinfo_keys(info text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
    pos int := 1;
    len int := length(info);
    ch text;
    key text;
    keys text[] := '{}';
BEGIN
    LOOP
        WHILE pos <= len AND substr(info, pos, 1) ~ '\s' LOOP pos := pos + 1; END LOOP;
        EXIT WHEN pos > len;
        key := '';
        WHILE pos <= len AND substr(info, pos, 1) !~ '[\s=]' LOOP
            key := key || substr(info, pos, 1);
            pos := pos + 1;
        END LOOP;
        WHILE pos <= len AND substr(info, pos, 1) ~ '\s' LOOP pos := pos + 1; END LOOP;
        IF key = '' OR pos > len OR substr(info, pos, 1) <> '=' THEN
            RETURN NULL;
        END IF;
        pos := pos + 1;
        WHILE pos <= len AND substr(info, pos, 1) ~ '\s' LOOP pos := pos + 1; END LOOP;
        IF pos <= len AND substr(info, pos, 1) = '''' THEN
            pos := pos + 1;
            LOOP
                IF pos > len THEN RETURN NULL; END IF;  -- unterminated quote
                ch := substr(info, pos, 1);
                IF ch = '\' THEN
                    pos := pos + 2;
                ELSIF ch = '''' THEN
                    pos := pos + 1;
                    EXIT;
                ELSE
                    pos := pos + 1;
                END IF;
            END LOOP;
        ELSE
            WHILE pos <= len AND substr(info, pos, 1) !~ '\s' LOOP
                IF substr(info, pos, 1) = '\' THEN pos := pos + 2; ELSE pos := pos + 1; END IF;
            END LOOP;
        END IF;
        keys := keys || key;
    END LOOP;
    RETURN keys;
END
$fn$;

CREATE OR REPLACE FUNCTION citus_emulation.authinfo_valid(info text) RETURNS bool
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT info IS NOT NULL
       AND citus_emulation.authinfo_keys(info) IS NOT NULL
       AND citus_emulation.authinfo_keys(info) <@ ARRAY['password', 'sslcert', 'sslkey']
$fn$;

CREATE TABLE IF NOT EXISTS pg_catalog.pg_dist_authinfo (
    nodeid int NOT NULL,
    rolename name NOT NULL,
    authinfo text NOT NULL,
    CONSTRAINT pg_dist_authinfo_rolename_nodeid_key UNIQUE (rolename, nodeid),
    CONSTRAINT pg_dist_authinfo_nodeid_check CHECK (nodeid >= -1),
    CONSTRAINT authinfo_valid CHECK (citus_emulation.authinfo_valid(authinfo))
);

-- emulation bookkeeping -------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS citus_emulation.config (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    log_calls bool NOT NULL DEFAULT true
);
INSERT INTO citus_emulation.config DEFAULT VALUES ON CONFLICT DO NOTHING;

-- one row per call of an emulated function (transactional: a rolled-back call leaves no row)
CREATE TABLE IF NOT EXISTS citus_emulation.call_log (
    seq bigserial PRIMARY KEY,
    fn text NOT NULL,
    args text NOT NULL,
    backend_pid int NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
-- bumped by every call, committed or not (sequences are not transactional)
CREATE SEQUENCE IF NOT EXISTS citus_emulation.call_counter;

-- rows written by citus_emulation.client_write(): the emulated "distributed table"
CREATE TABLE IF NOT EXISTS citus_emulation.client_writes (
    seq bigserial PRIMARY KEY,
    groupid int NOT NULL,
    payload text,
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- the addresses a (test) server listens on, as far as the emulation knows: Citus connects to a
-- primary it adds and to every metadata node it propagates a change to, and syncs metadata to a node
-- only while it can reach it. node_index is the CitusTestServer node number (NULL: other servers).
CREATE TABLE IF NOT EXISTS citus_emulation.reachable_node (
    nodename text NOT NULL,
    nodeport int NOT NULL,
    node_index int,
    reachable bool NOT NULL DEFAULT true,
    PRIMARY KEY (nodename, nodeport)
);

CREATE OR REPLACE FUNCTION citus_emulation.register_node(
    nodename text, nodeport int, node_index int DEFAULT NULL
) RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO citus_emulation.reachable_node AS r (nodename, nodeport, node_index, reachable)
    VALUES (nodename, nodeport, node_index, true)
    ON CONFLICT (nodename, nodeport) DO UPDATE
        SET node_index = excluded.node_index, reachable = true
$fn$;

-- take a registered node down (false) or bring it back (true); returns the number of addresses
CREATE OR REPLACE FUNCTION citus_emulation.set_node_reachable(node_index int, reachable bool)
RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    changed int;
BEGIN
    UPDATE citus_emulation.reachable_node r SET reachable = set_node_reachable.reachable
     WHERE r.node_index = set_node_reachable.node_index;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$fn$;

CREATE OR REPLACE FUNCTION citus_emulation.is_reachable(nodename text, nodeport int) RETURNS bool
LANGUAGE sql STABLE AS $fn$
    SELECT EXISTS (SELECT 1 FROM citus_emulation.reachable_node r
                    WHERE r.nodename = is_reachable.nodename AND r.nodeport = is_reachable.nodeport
                      AND r.reachable)
$fn$;

-- the error Citus raises when it cannot connect to a node (SQLSTATE 08006, libpq's text)
CREATE OR REPLACE FUNCTION citus_emulation.connection_error(nodename text, nodeport int)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'connection to the remote node %@%:% failed with the following error: %',
        current_user, nodename, nodeport,
        E'Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?'
        USING ERRCODE = 'connection_failure';
END
$fn$;

CREATE OR REPLACE FUNCTION citus_emulation.log_call(fn text, args text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM nextval('citus_emulation.call_counter');
    IF (SELECT log_calls FROM citus_emulation.config) THEN
        INSERT INTO citus_emulation.call_log (fn, args) VALUES (fn, args);
    END IF;
END
$fn$;

-- the advisory-lock key pair standing for "all shard placements of group g"
CREATE OR REPLACE FUNCTION citus_emulation.lock_namespace() RETURNS int
LANGUAGE sql IMMUTABLE AS $fn$ SELECT 1129883733 $fn$;

-- metadata nodes: active primaries with hasmetadata. citus_update_node marks the workers among them
-- (groupid > 0) unsynced in its transaction; citus_emulation.sync_metadata(), the emulated
-- maintenance daemon, marks them synced again once committed, while they are reachable.
CREATE OR REPLACE FUNCTION citus_emulation.unsynced_node() RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format('%s:%s', n.nodename, n.nodeport) FROM pg_catalog.pg_dist_node n
     WHERE n.hasmetadata AND NOT n.metadatasynced AND n.isactive AND n.noderole = 'primary'
     ORDER BY n.nodeid LIMIT 1
$fn$;

CREATE OR REPLACE FUNCTION citus_emulation.error_if_metadata_unsynced() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    node text := citus_emulation.unsynced_node();
BEGIN
    IF node IS NOT NULL THEN
        RAISE EXCEPTION '% is a metadata node, but is out of sync', node
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'If the node is up, wait until metadata gets synced to it and try again.';
    END IF;
END
$fn$;

-- propagating a change connects to every metadata worker: fail on the first unreachable one
CREATE OR REPLACE FUNCTION citus_emulation.error_if_metadata_node_unreachable() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    node pg_catalog.pg_dist_node;
BEGIN
    SELECT * INTO node FROM pg_catalog.pg_dist_node n
     WHERE n.hasmetadata AND n.isactive AND n.noderole = 'primary' AND n.groupid <> 0
       AND NOT citus_emulation.is_reachable(n.nodename, n.nodeport)
     ORDER BY n.nodeid LIMIT 1;
    IF FOUND THEN
        PERFORM citus_emulation.connection_error(node.nodename, node.nodeport);
    END IF;
END
$fn$;

-- what a node change checks before it is propagated: every metadata node in sync and reachable
CREATE OR REPLACE FUNCTION citus_emulation.check_metadata_nodes() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM citus_emulation.error_if_metadata_unsynced();
    PERFORM citus_emulation.error_if_metadata_node_unreachable();
END
$fn$;

-- One round of the emulated maintenance daemon: mark synced every unsynced metadata worker that is
-- reachable. Like Citus's, it skips the round (returns 0) while another transaction changes
-- pg_dist_node (an uncommitted citus_update_node holds an EXCLUSIVE lock on it). Returns the number
-- of nodes synced. Not a Citus function; not in the call log.
CREATE OR REPLACE FUNCTION citus_emulation.sync_metadata() RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    synced int;
BEGIN
    BEGIN
        LOCK TABLE pg_catalog.pg_dist_node IN ROW EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RETURN 0;
    END;
    UPDATE pg_catalog.pg_dist_node n SET metadatasynced = true
     WHERE n.hasmetadata AND NOT n.metadatasynced AND n.isactive AND n.noderole = 'primary'
       AND n.groupid <> 0 AND citus_emulation.is_reachable(n.nodename, n.nodeport);
    GET DIAGNOSTICS synced = ROW_COUNT;
    RETURN synced;
END
$fn$;

-- Citus API --------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pg_catalog.citus_add_node(
    nodename text,
    nodeport int,
    groupid int DEFAULT -1,
    noderole pg_catalog.noderole DEFAULT 'primary',
    nodecluster name DEFAULT 'default'
) RETURNS int
LANGUAGE plpgsql STRICT AS $fn$
DECLARE
    existing int;
    new_group int := groupid;
    new_id int;
    coordinator_name text;
    is_coordinator bool;
    with_metadata bool;
BEGIN
    PERFORM citus_emulation.log_call('citus_add_node',
        format('%L, %s, %s, %L, %L', nodename, nodeport, groupid, noderole, nodecluster));
    SELECT n.nodeid INTO existing FROM pg_catalog.pg_dist_node n
     WHERE n.nodename = citus_add_node.nodename AND n.nodeport = citus_add_node.nodeport;
    IF FOUND THEN
        RETURN existing;
    END IF;
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT n.nodeid INTO existing FROM pg_catalog.pg_dist_node n
     WHERE n.nodename = citus_add_node.nodename AND n.nodeport = citus_add_node.nodeport;
    IF FOUND THEN
        RETURN existing;
    END IF;
    IF new_group <> 0 AND nodename <> 'localhost' THEN
        SELECT n.nodename INTO coordinator_name FROM pg_catalog.pg_dist_node n
         WHERE n.groupid = 0 AND n.noderole = 'primary';
        IF coordinator_name = 'localhost' THEN
            RAISE EXCEPTION 'cannot add a worker node when the coordinator hostname is set to localhost';
        END IF;
    END IF;
    IF new_group = -1 THEN
        new_group := nextval('pg_catalog.pg_dist_groupid_seq');
    END IF;
    IF noderole = 'primary' AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_dist_node n
             WHERE n.groupid = new_group AND n.noderole = 'primary') THEN
        RAISE EXCEPTION 'group % already has a primary node', new_group;
    END IF;
    IF noderole = 'primary' AND nodecluster <> 'default' THEN
        RAISE EXCEPTION 'primaries must be added to the default cluster';
    END IF;
    -- the new row is propagated to every metadata worker: all must be in sync and reachable
    PERFORM citus_emulation.check_metadata_nodes();
    is_coordinator := new_group = 0;
    -- activating a primary worker connects to it (a secondary is only recorded)
    IF NOT is_coordinator AND noderole = 'primary'
            AND NOT citus_emulation.is_reachable(nodename, nodeport) THEN
        PERFORM citus_emulation.connection_error(nodename, nodeport);
    END IF;
    with_metadata := is_coordinator OR noderole = 'primary';
    INSERT INTO pg_catalog.pg_dist_node AS n
        (groupid, nodename, nodeport, hasmetadata, isactive, noderole, nodecluster,
         metadatasynced, shouldhaveshards)
    VALUES (new_group, nodename, nodeport, with_metadata, true, noderole, nodecluster,
            with_metadata, NOT is_coordinator)
    RETURNING n.nodeid INTO new_id;
    RETURN new_id;
END
$fn$;

CREATE OR REPLACE FUNCTION pg_catalog.citus_update_node(
    node_id int,
    new_node_name text,
    new_node_port int,
    force bool DEFAULT false,
    lock_cooldown int DEFAULT 10000
) RETURNS void
LANGUAGE plpgsql STRICT AS $fn$
DECLARE
    same_address int;
    node pg_catalog.pg_dist_node;
    lock_ns int := citus_emulation.lock_namespace();
    waited_since timestamptz;
    holder int;
BEGIN
    PERFORM citus_emulation.log_call('citus_update_node',
        format('%s, %L, %s, %s, %s', node_id, new_node_name, new_node_port, force, lock_cooldown));
    SELECT n.nodeid INTO same_address FROM pg_catalog.pg_dist_node n
     WHERE n.nodename = new_node_name AND n.nodeport = new_node_port;
    IF FOUND THEN
        IF same_address = node_id THEN
            RETURN;  -- nothing changes
        END IF;
        RAISE EXCEPTION 'there is already another node with the specified hostname and port'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT * INTO node FROM pg_catalog.pg_dist_node n WHERE n.nodeid = node_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node % not found', node_id USING ERRCODE = 'no_data_found';
    END IF;
    IF node.noderole = 'primary' THEN
        -- block writes to the group's shards until the end of the transaction (reads go on)
        IF force THEN
            waited_since := pg_catalog.clock_timestamp();
            WHILE NOT pg_catalog.pg_try_advisory_xact_lock(lock_ns, node.groupid) LOOP
                IF pg_catalog.clock_timestamp() - waited_since
                        >= make_interval(secs => lock_cooldown / 1000.0) THEN
                    FOR holder IN
                        SELECT l.pid FROM pg_catalog.pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted
                           AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                              WHERE datname = pg_catalog.current_database())
                           AND l.classid::bigint = lock_ns AND l.objid::bigint = node.groupid
                           AND l.objsubid = 2 AND l.pid <> pg_catalog.pg_backend_pid()
                    LOOP
                        PERFORM pg_catalog.pg_terminate_backend(holder);
                    END LOOP;
                END IF;
                PERFORM pg_catalog.pg_sleep(0.01);
            END LOOP;
        ELSE
            PERFORM pg_catalog.pg_advisory_xact_lock(lock_ns, node.groupid);
        END IF;
    END IF;
    -- Citus does not propagate the change itself: it marks every metadata worker unsynced (under an
    -- EXCLUSIVE lock on pg_dist_node, held to the end of the transaction) and leaves the sync to its
    -- maintenance daemon, after commit. The coordinator (group 0) stays synced. The lock comes
    -- before the row is written: taken after, it would deadlock with the emulated daemon, which
    -- holds ROW EXCLUSIVE and waits for that row.
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    UPDATE pg_catalog.pg_dist_node n SET nodename = new_node_name, nodeport = new_node_port
     WHERE n.nodeid = node_id;
    UPDATE pg_catalog.pg_dist_node n SET metadatasynced = false
     WHERE n.hasmetadata AND n.metadatasynced AND n.groupid > 0;
END
$fn$;

CREATE OR REPLACE FUNCTION pg_catalog.citus_remove_node(nodename text, nodeport int) RETURNS void
LANGUAGE plpgsql STRICT AS $fn$
DECLARE
    node_id int;
BEGIN
    PERFORM citus_emulation.log_call('citus_remove_node', format('%L, %s', nodename, nodeport));
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT n.nodeid INTO node_id FROM pg_catalog.pg_dist_node n
     WHERE n.nodename = citus_remove_node.nodename AND n.nodeport = citus_remove_node.nodeport;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node at "%:%" does not exist', nodename, nodeport;
    END IF;
    DELETE FROM pg_catalog.pg_dist_node n WHERE n.nodeid = node_id;
    -- the removal is propagated to the other metadata workers, which must be in sync and reachable
    -- (the removed node itself may be out of sync or down)
    PERFORM citus_emulation.check_metadata_nodes();
END
$fn$;

CREATE OR REPLACE FUNCTION pg_catalog.citus_set_coordinator_host(
    host text,
    port int DEFAULT pg_catalog.current_setting('port')::int,
    node_role pg_catalog.noderole DEFAULT 'primary',
    node_cluster name DEFAULT 'default'
) RETURNS void
LANGUAGE plpgsql STRICT AS $fn$
DECLARE
    coordinator_id int;
BEGIN
    PERFORM citus_emulation.log_call('citus_set_coordinator_host',
        format('%L, %s, %L, %L', host, port, node_role, node_cluster));
    LOCK TABLE pg_catalog.pg_dist_node IN EXCLUSIVE MODE;
    SELECT n.nodeid INTO coordinator_id FROM pg_catalog.pg_dist_node n
     WHERE n.groupid = 0 AND n.noderole = 'primary';
    IF FOUND THEN
        UPDATE pg_catalog.pg_dist_node n SET nodename = host, nodeport = port
         WHERE n.nodeid = coordinator_id;
        -- propagated to the metadata workers (even when the address does not change)
        PERFORM citus_emulation.check_metadata_nodes();
        RETURN;
    END IF;
    IF node_role = 'primary' AND node_cluster <> 'default' THEN
        RAISE EXCEPTION 'primaries must be added to the default cluster';
    END IF;
    INSERT INTO pg_catalog.pg_dist_node
        (groupid, nodename, nodeport, hasmetadata, isactive, noderole, nodecluster,
         metadatasynced, shouldhaveshards)
    VALUES (0, host, port, true, true, node_role, node_cluster, true, false);
    PERFORM citus_emulation.check_metadata_nodes();
END
$fn$;

-- test-only client traffic -------------------------------------------------------------------------
-- Real Citus routes a query on a distributed table to the shard placements of a group; a write
-- waits for the exclusive locks citus_update_node holds on their metadata. The emulation has no
-- shards: a client "write" on group g takes the shared side of the group's advisory lock instead.
-- The query then runs on the group's primary: Citus connects to the address of its row, which fails
-- when nothing listens there (a group without a primary row is let through: the emulation has no
-- placements to check).
CREATE OR REPLACE FUNCTION citus_emulation.connect_to_group(groupid int) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    node pg_catalog.pg_dist_node;
BEGIN
    SELECT * INTO node FROM pg_catalog.pg_dist_node n
     WHERE n.groupid = connect_to_group.groupid AND n.noderole = 'primary' AND n.groupid <> 0;
    IF FOUND AND NOT citus_emulation.is_reachable(node.nodename, node.nodeport) THEN
        PERFORM citus_emulation.connection_error(node.nodename, node.nodeport);
    END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION citus_emulation.client_write(groupid int, payload text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    row_seq bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(citus_emulation.lock_namespace(), groupid);
    PERFORM citus_emulation.connect_to_group(groupid);
    INSERT INTO citus_emulation.client_writes AS w (groupid, payload)
    VALUES (client_write.groupid, client_write.payload)
    RETURNING w.seq INTO row_seq;
    RETURN row_seq;
END
$fn$;

-- A read takes no lock: on Citus an uncommitted citus_update_node of the group's primary blocks
-- writes to the group's shards, not reads.
CREATE OR REPLACE FUNCTION citus_emulation.client_read(groupid int) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM citus_emulation.connect_to_group(groupid);
    RETURN (SELECT count(*) FROM citus_emulation.client_writes w
             WHERE w.groupid = client_read.groupid);
END
$fn$;

-- empty the metadata (tests): nodes, authinfo, call log, client writes; restart the id sequences;
-- every registered node is reachable again (the registry itself is kept, like the test servers)
CREATE OR REPLACE FUNCTION citus_emulation.reset() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE pg_catalog.pg_dist_node, pg_catalog.pg_dist_authinfo,
             citus_emulation.call_log, citus_emulation.client_writes;
    UPDATE citus_emulation.reachable_node SET reachable = true WHERE NOT reachable;
    ALTER SEQUENCE pg_catalog.pg_dist_node_nodeid_seq RESTART;
    ALTER SEQUENCE pg_catalog.pg_dist_groupid_seq RESTART;
    ALTER SEQUENCE citus_emulation.call_counter RESTART;
    UPDATE citus_emulation.config SET log_calls = true;
END
$fn$;

-- like Citus, the node-management functions are for superusers only
REVOKE ALL ON FUNCTION pg_catalog.citus_add_node(text, int, int, pg_catalog.noderole, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.citus_update_node(int, text, int, bool, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.citus_remove_node(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.citus_set_coordinator_host(text, int, pg_catalog.noderole, name)
    FROM PUBLIC;
GRANT SELECT ON pg_catalog.pg_dist_node TO PUBLIC;

-- A placeholder pg_extension row named citus (version '13.2-emulated'), so that the engine's
-- "CREATE EXTENSION IF NOT EXISTS citus" is a no-op here. Only install_emulation(placeholder_extension=True)
-- calls it; is_real_citus() tells the placeholder from the real extension by its version.
CREATE OR REPLACE FUNCTION citus_emulation.register_placeholder_extension() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('allow_system_table_mods', 'on', true);
    INSERT INTO pg_catalog.pg_extension
        (oid, extname, extowner, extnamespace, extrelocatable, extversion, extconfig, extcondition)
    VALUES (pg_catalog.pg_nextoid('pg_catalog.pg_extension', 'oid',
                                  'pg_catalog.pg_extension_oid_index'),
            'citus', 10, 'pg_catalog'::regnamespace, false, '13.2-emulated', NULL, NULL);
END
$fn$;

CREATE OR REPLACE FUNCTION citus_emulation.version() RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$ SELECT 'patroni-mpp citus emulation 2 (Citus 13.2 metadata API)' $fn$;
