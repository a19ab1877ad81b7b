-- The agent members Microsoft added to cloudPcExternalPartner in 2026.
-- The configured agent (cloudPcExternalPartnerAgentSetting), as JSON; NULL until configured.
ALTER TABLE external_partners ADD COLUMN agent_setting TEXT;

-- One Cloud PC's part of an agent deployment (cloudPcExternalPartnerActionResult).
-- States and error codes are enum values; times are epoch milliseconds.
CREATE TABLE agent_action_results (
    tenant_id         TEXT COLLATE "C" NOT NULL,
    partner_record_id TEXT COLLATE "C" NOT NULL,
    activity_id       TEXT COLLATE "C" NOT NULL,
    cloud_pc_id       TEXT COLLATE "C" NOT NULL,
    state             BIGINT NOT NULL,
    start_at          BIGINT NOT NULL,
    last_modified_at  BIGINT NOT NULL,
    error_code        BIGINT NOT NULL,
    error_message     TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, activity_id, cloud_pc_id),
    FOREIGN KEY (tenant_id, partner_record_id) REFERENCES external_partners (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_action_results_by_partner
    ON agent_action_results (tenant_id, partner_record_id, start_at, activity_id, cloud_pc_id);

-- Who configured or deployed what, and when (cloudPcExternalPartnerActionReport).
CREATE TABLE agent_action_reports (
    tenant_id                          TEXT COLLATE "C" NOT NULL,
    partner_record_id                  TEXT COLLATE "C" NOT NULL,
    id                                 TEXT COLLATE "C" NOT NULL,
    action_type                        BIGINT NOT NULL,
    authenticated_method               BIGINT NOT NULL,
    authenticated_app_id               TEXT COLLATE "C",
    authenticated_app_name             TEXT COLLATE "C",
    authenticated_user_principal_name  TEXT COLLATE "C",
    created_at                         BIGINT NOT NULL,
    cloud_pc_id                        TEXT COLLATE "C",
    cloud_pc_name                      TEXT COLLATE "C",
    agent_name                         TEXT COLLATE "C",
    activity_id                        TEXT COLLATE "C",
    activity_message                   TEXT COLLATE "C",
    agent_setting                      TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, partner_record_id) REFERENCES external_partners (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_action_reports_by_partner
    ON agent_action_reports (tenant_id, partner_record_id, created_at, id);
