-- Text columns use the "C" collation so $orderby sorts byte-wise, exactly as on SQLite.
-- Partner connections. Timestamps are milliseconds since the Unix epoch (UTC) so the
-- same comparisons run on SQLite and PostgreSQL.
CREATE TABLE external_partners (
    tenant_id         TEXT COLLATE "C" NOT NULL,
    id                TEXT COLLATE "C" NOT NULL,
    partner_id        TEXT COLLATE "C" NOT NULL,
    enable_connection BOOLEAN NOT NULL,
    enabled_at        BIGINT,
    last_heartbeat_at BIGINT,
    last_sync_at      BIGINT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    version           BIGINT  NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, partner_id)
);

CREATE INDEX external_partners_by_creation ON external_partners (tenant_id, created_at, id);
