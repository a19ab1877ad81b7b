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
    tenant_id TEXT   NOT NULL,
    kind      BIGINT NOT NULL,
    second    BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, second)
);

-- Changes not yet folded into partner_counts. PostgreSQL's triggers append here so
-- concurrent writers never queue on one total's row lock; SQLite has one writer and
-- updates the totals directly, so this stays empty, and both read the same query.
CREATE TABLE partner_count_changes (
    tenant_id TEXT   NOT NULL,
    kind      BIGINT NOT NULL,
    second    BIGINT NOT NULL,
    n         BIGINT NOT NULL
);
CREATE INDEX partner_count_changes_by_tenant ON partner_count_changes (tenant_id);

-- For the rows of the second the freshness cut falls in.
CREATE INDEX external_partners_by_heartbeat ON external_partners (tenant_id, last_heartbeat_at);

INSERT INTO partner_counts (tenant_id, kind, second, n)
SELECT tenant_id, kind, 0, COUNT(*) FROM (
    SELECT tenant_id,
           CASE WHEN NOT enable_connection THEN 0
                WHEN last_heartbeat_at IS NULL OR last_heartbeat_at < enabled_at THEN 1
                ELSE 2 END AS kind
    FROM external_partners) AS c
GROUP BY tenant_id, kind;

INSERT INTO partner_counts (tenant_id, kind, second, n)
SELECT tenant_id, 3, last_heartbeat_at / 1000, COUNT(*) FROM external_partners
WHERE enable_connection AND last_heartbeat_at IS NOT NULL
  AND (enabled_at IS NULL OR last_heartbeat_at >= enabled_at)
GROUP BY tenant_id, last_heartbeat_at / 1000;

CREATE TRIGGER partner_counts_insert AFTER INSERT ON external_partners
BEGIN
    INSERT INTO partner_counts (tenant_id, kind, second, n)
    VALUES (NEW.tenant_id,
            CASE WHEN NOT NEW.enable_connection THEN 0
                 WHEN NEW.last_heartbeat_at IS NULL OR NEW.last_heartbeat_at < NEW.enabled_at THEN 1
                 ELSE 2 END,
            0, 1)
    ON CONFLICT (tenant_id, kind, second) DO UPDATE SET n = n + 1;
    INSERT INTO partner_counts (tenant_id, kind, second, n)
    SELECT NEW.tenant_id, 3, NEW.last_heartbeat_at / 1000, 1
    WHERE NEW.enable_connection AND NEW.last_heartbeat_at IS NOT NULL
      AND (NEW.enabled_at IS NULL OR NEW.last_heartbeat_at >= NEW.enabled_at)
    ON CONFLICT (tenant_id, kind, second) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER partner_counts_delete AFTER DELETE ON external_partners
BEGIN
    UPDATE partner_counts SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND second = 0
      AND kind = CASE WHEN NOT OLD.enable_connection THEN 0
                      WHEN OLD.last_heartbeat_at IS NULL OR OLD.last_heartbeat_at < OLD.enabled_at THEN 1
                      ELSE 2 END;
    UPDATE partner_counts SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND kind = 3 AND second = OLD.last_heartbeat_at / 1000
      AND OLD.enable_connection AND OLD.last_heartbeat_at IS NOT NULL
      AND (OLD.enabled_at IS NULL OR OLD.last_heartbeat_at >= OLD.enabled_at);
    DELETE FROM partner_counts
    WHERE tenant_id = OLD.tenant_id AND n = 0
      AND ((kind = 3 AND second = OLD.last_heartbeat_at / 1000) OR second = 0);
END;

-- Fires only when the class or the heartbeat's second changes, which is at most
-- once per heartbeat flush per connection.
CREATE TRIGGER partner_counts_update
AFTER UPDATE OF enable_connection, enabled_at, last_heartbeat_at ON external_partners
WHEN (CASE WHEN NOT OLD.enable_connection THEN 0
           WHEN OLD.last_heartbeat_at IS NULL OR OLD.last_heartbeat_at < OLD.enabled_at THEN 1
           ELSE 2 END)
     IS NOT
     (CASE WHEN NOT NEW.enable_connection THEN 0
           WHEN NEW.last_heartbeat_at IS NULL OR NEW.last_heartbeat_at < NEW.enabled_at THEN 1
           ELSE 2 END)
  OR OLD.last_heartbeat_at / 1000 IS NOT NEW.last_heartbeat_at / 1000
BEGIN
    UPDATE partner_counts SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND second = 0
      AND kind = CASE WHEN NOT OLD.enable_connection THEN 0
                      WHEN OLD.last_heartbeat_at IS NULL OR OLD.last_heartbeat_at < OLD.enabled_at THEN 1
                      ELSE 2 END;
    UPDATE partner_counts SET n = n - 1
    WHERE tenant_id = OLD.tenant_id AND kind = 3 AND second = OLD.last_heartbeat_at / 1000
      AND OLD.enable_connection AND OLD.last_heartbeat_at IS NOT NULL
      AND (OLD.enabled_at IS NULL OR OLD.last_heartbeat_at >= OLD.enabled_at);
    INSERT INTO partner_counts (tenant_id, kind, second, n)
    VALUES (NEW.tenant_id,
            CASE WHEN NOT NEW.enable_connection THEN 0
                 WHEN NEW.last_heartbeat_at IS NULL OR NEW.last_heartbeat_at < NEW.enabled_at THEN 1
                 ELSE 2 END,
            0, 1)
    ON CONFLICT (tenant_id, kind, second) DO UPDATE SET n = n + 1;
    INSERT INTO partner_counts (tenant_id, kind, second, n)
    SELECT NEW.tenant_id, 3, NEW.last_heartbeat_at / 1000, 1
    WHERE NEW.enable_connection AND NEW.last_heartbeat_at IS NOT NULL
      AND (NEW.enabled_at IS NULL OR NEW.last_heartbeat_at >= NEW.enabled_at)
    ON CONFLICT (tenant_id, kind, second) DO UPDATE SET n = n + 1;
    DELETE FROM partner_counts
    WHERE tenant_id = OLD.tenant_id AND n = 0
      AND ((kind = 3 AND second = OLD.last_heartbeat_at / 1000) OR second = 0);
END;
