-- Running totals of each tenant's connections by health class, kept by triggers on
-- every write, so a count by connectionStatus or enableConnection reads a few rows
-- rather than the tenant's whole table.
--
-- kind 0: disabled (notAvailable); 1: enabled, no heartbeat since enabled (available);
-- 2: enabled with such a heartbeat, however old; 3: the same rows again, by the epoch
-- second of that heartbeat (in `second`; 0 for the other kinds). Whether a kind-2 row
-- is healthy depends on the clock, so a count sums the kind-3 seconds inside the
-- heartbeat timeout and reads the rows of the one second the cut falls in.
-- The classification mirrors `status_expr` in src/store/sql.rs.
CREATE TABLE partner_counts (
    tenant_id TEXT COLLATE "C" NOT NULL,
    kind      BIGINT NOT NULL,
    second    BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, second)
);

-- Triggers append changes here rather than update partner_counts, so concurrent
-- writers in one tenant never queue on a total's row lock until their commit; the
-- service folds them into partner_counts every second, and counts read both.
CREATE TABLE partner_count_changes (
    tenant_id TEXT COLLATE "C" NOT NULL,
    kind      BIGINT NOT NULL,
    second    BIGINT NOT NULL,
    n         BIGINT NOT NULL
);
CREATE INDEX partner_count_changes_by_tenant ON partner_count_changes (tenant_id);

-- For the rows of the second the freshness cut falls in.
CREATE INDEX external_partners_by_heartbeat ON external_partners (tenant_id, last_heartbeat_at);

-- The totals a connection adds to: its class, and its heartbeat's second when live.
CREATE FUNCTION partner_count_keys(enabled BOOLEAN, enabled_at BIGINT, beat BIGINT)
RETURNS TABLE (kind BIGINT, second BIGINT)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT enabled THEN 0
                WHEN beat IS NULL OR beat < enabled_at THEN 1
                ELSE 2 END::BIGINT,
           0::BIGINT
    UNION ALL
    SELECT 3::BIGINT, beat / 1000
    WHERE enabled AND beat IS NOT NULL AND (enabled_at IS NULL OR beat >= enabled_at)
$$;

INSERT INTO partner_counts (tenant_id, kind, second, n)
SELECT p.tenant_id, k.kind, k.second, COUNT(*)
FROM external_partners p,
     partner_count_keys(p.enable_connection, p.enabled_at, p.last_heartbeat_at) k
GROUP BY 1, 2, 3;

-- Statement-level, over the transition tables: a heartbeat flush of a thousand rows
-- appends one grouped change per class and second, not a thousand.
CREATE FUNCTION partner_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_count_changes (tenant_id, kind, second, n)
    SELECT r.tenant_id, k.kind, k.second, COUNT(*)
    FROM new_rows r, partner_count_keys(r.enable_connection, r.enabled_at, r.last_heartbeat_at) k
    GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

CREATE FUNCTION partner_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_count_changes (tenant_id, kind, second, n)
    SELECT r.tenant_id, k.kind, k.second, -COUNT(*)
    FROM old_rows r, partner_count_keys(r.enable_connection, r.enabled_at, r.last_heartbeat_at) k
    GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

CREATE FUNCTION partner_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_count_changes (tenant_id, kind, second, n)
    SELECT tenant_id, kind, second, SUM(n)
    FROM (SELECT r.tenant_id, k.kind, k.second, -1 AS n
          FROM old_rows r, partner_count_keys(r.enable_connection, r.enabled_at, r.last_heartbeat_at) k
          UNION ALL
          SELECT r.tenant_id, k.kind, k.second, 1
          FROM new_rows r, partner_count_keys(r.enable_connection, r.enabled_at, r.last_heartbeat_at) k) c
    GROUP BY 1, 2, 3
    HAVING SUM(n) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER partner_counts_insert AFTER INSERT ON external_partners
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION partner_counts_inserted();
CREATE TRIGGER partner_counts_delete AFTER DELETE ON external_partners
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION partner_counts_deleted();
CREATE TRIGGER partner_counts_update AFTER UPDATE ON external_partners
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION partner_counts_updated();
