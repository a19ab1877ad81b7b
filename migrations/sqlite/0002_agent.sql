-- The agent members Microsoft added to cloudPcExternalPartner in 2026.
-- The configured agent (cloudPcExternalPartnerAgentSetting), as JSON; NULL until configured.
ALTER TABLE external_partners ADD COLUMN agent_setting TEXT;

-- One Cloud PC's part of an agent deployment (cloudPcExternalPartnerActionResult).
-- States and error codes are enum values; times are epoch milliseconds.
CREATE TABLE agent_action_results (
    tenant_id         TEXT NOT NULL,
    partner_record_id TEXT NOT NULL,
    activity_id       TEXT NOT NULL,
    cloud_pc_id       TEXT NOT NULL,
    state             BIGINT NOT NULL,
    start_at          BIGINT NOT NULL,
    last_modified_at  BIGINT NOT NULL,
    error_code        BIGINT NOT NULL,
    error_message     TEXT,
    PRIMARY KEY (tenant_id, activity_id, cloud_pc_id),
    FOREIGN KEY (tenant_id, partner_record_id) REFERENCES external_partners (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_action_results_by_partner
    ON agent_action_results (tenant_id, partner_record_id, start_at, activity_id, cloud_pc_id);

-- Who configured or deployed what, and when (cloudPcExternalPartnerActionReport).
CREATE TABLE agent_action_reports (
    tenant_id                          TEXT NOT NULL,
    partner_record_id                  TEXT NOT NULL,
    id                                 TEXT NOT NULL,
    action_type                        BIGINT NOT NULL,
    authenticated_method               BIGINT NOT NULL,
    authenticated_app_id               TEXT,
    authenticated_app_name             TEXT,
    authenticated_user_principal_name  TEXT,
    created_at                         BIGINT NOT NULL,
    cloud_pc_id                        TEXT,
    cloud_pc_name                      TEXT,
    agent_name                         TEXT,
    activity_id                        TEXT,
    activity_message                   TEXT,
    agent_setting                      TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, partner_record_id) REFERENCES external_partners (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_action_reports_by_partner
    ON agent_action_reports (tenant_id, partner_record_id, created_at, id);
