//! The agent use cases: configure a connection's agent, deploy it to Cloud PCs,
//! read the results and the audit reports, and let the partner report progress.

use super::{Connections, ConnectionsError, Result};
use crate::model::agent::{action_type, authenticated_method, ActionReport, AgentSetting};
use crate::model::TenantId;
use crate::odata::CollectionQuery;
use crate::store::{ListRequest, RowsPage, StatusClock, StoreError};
// What the fronts pass in: a results scope and a partner's progress.
pub use crate::store::{ResultScope, ResultUpdate};
use uuid::Uuid;

/// Who performs an action, as the audit report records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub app_id: String,
    pub app_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub delegated: bool,
    pub guest: bool,
}

impl Actor {
    fn report(
        &self,
        action: &str,
        activity_id: Uuid,
        message: String,
        setting: &AgentSetting,
        at: chrono::DateTime<chrono::Utc>,
    ) -> ActionReport {
        ActionReport {
            action_type: action_type(action),
            authenticated_method: authenticated_method(self.delegated, self.guest),
            app_id: Some(self.app_id.clone()),
            app_name: self.app_name.clone(),
            user_principal_name: self.user_principal_name.clone(),
            created_at: at,
            cloud_pc_id: None,
            agent_name: setting.agent_name(),
            activity_id,
            activity_message: message,
            agent_setting: setting.to_json(),
        }
    }
}

/// A page of results or reports and the query it answers.
pub type Rows = RowsPage;

impl Connections {
    /// The page a query asks for; these collections have no derived status.
    fn request<'a>(&self, q: &'a CollectionQuery) -> ListRequest<'a> {
        ListRequest::page_of(
            q,
            StatusClock {
                fresh_since: self.clock.now(),
            },
        )
    }

    /// Configures the connection's agent; recorded in its action reports.
    pub async fn configure_agent(
        &self,
        tenant: TenantId,
        id: Uuid,
        setting: &AgentSetting,
        actor: &Actor,
    ) -> Result<()> {
        let now = self.clock.now();
        let message = format!(
            "Agent configured: {} (SHA-256 {}), automatic deployment {}.",
            setting.agent_url,
            setting.agent_sha256,
            if setting.auto_deployment_enabled {
                "on"
            } else {
                "off"
            }
        );
        let report = actor.report("configureAgent", Uuid::new_v4(), message, setting, now);
        self.observed(
            self.store
                .configure_agent(tenant, id, &setting.to_json(), &report, now)
                .await,
        )
        .map_err(|e| not_found_as(e, id))?;
        self.forget_cached(tenant, id);
        Ok(())
    }

    /// Asks the partner to deploy the configured agent to Cloud PCs: one `pending`
    /// result per Cloud PC under a new activity id, which it returns.
    pub async fn deploy_agent(
        &self,
        tenant: TenantId,
        id: Uuid,
        cloud_pc_ids: &[Uuid],
        actor: &Actor,
    ) -> Result<Uuid> {
        let connection = self.get(tenant, id).await?.record;
        if !connection.enable_connection() {
            return Err(ConnectionsError::Precondition(
                "The connection is disabled (enableConnection is false); enable it before deploying the agent.".into(),
            ));
        }
        let setting = connection
            .agent_setting()
            .and_then(|v| AgentSetting::parse(&v).ok())
            .ok_or_else(|| {
                ConnectionsError::Precondition(
                    "No agent is configured for this connection; call configureAgent first.".into(),
                )
            })?;
        let now = self.clock.now();
        let activity = Uuid::new_v4();
        let reports: Vec<ActionReport> = cloud_pc_ids
            .iter()
            .map(|pc| {
                let message = format!("Agent deployment to Cloud PC {pc} requested.");
                let mut r = actor.report("deployAgent", activity, message, &setting, now);
                r.cloud_pc_id = Some(*pc);
                r
            })
            .collect();
        self.observed(
            self.store
                .deploy_agent(tenant, id, cloud_pc_ids, &reports, now)
                .await,
        )
        .map_err(|e| not_found_as(e, id))?;
        Ok(activity)
    }

    /// A page of the connection's deployment results.
    pub async fn action_results(
        &self,
        tenant: TenantId,
        id: Uuid,
        scope: &ResultScope,
        q: &CollectionQuery,
    ) -> Result<Rows> {
        self.get(tenant, id).await?;
        Ok(self
            .store
            .list_action_results(tenant, id, scope, &self.request(q), q.count)
            .await?)
    }

    /// A page of the connection's action reports, newest first.
    pub async fn action_reports(
        &self,
        tenant: TenantId,
        id: Uuid,
        q: &CollectionQuery,
    ) -> Result<Rows> {
        self.get(tenant, id).await?;
        Ok(self
            .store
            .list_action_reports(tenant, id, &self.request(q), q.count)
            .await?)
    }

    /// The deployment results a partner has been asked to carry out.
    pub async fn partner_deployments(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
        q: &CollectionQuery,
    ) -> Result<Rows> {
        let connection = self.partner_connection(tenant, partner_id).await?;
        Ok(self
            .store
            .list_action_results(
                tenant,
                connection,
                &ResultScope::default(),
                &self.request(q),
                q.count,
            )
            .await?)
    }

    /// A partner's progress on a deployment; every update applies, or none.
    pub async fn report_deployment(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
        activity_id: Uuid,
        updates: &[ResultUpdate],
    ) -> Result<()> {
        let connection = self.partner_connection(tenant, partner_id).await?;
        let now = self.clock.now();
        match self.observed(
            self.store
                .update_action_results(tenant, connection, activity_id, updates, now)
                .await,
        ) {
            Ok(()) => Ok(()),
            Err(StoreError::UnknownCloudPc(pc)) => Err(ConnectionsError::NoSuchResult {
                activity_id,
                cloud_pc_id: pc,
            }),
            Err(StoreError::IllegalTransition {
                cloud_pc_id,
                from,
                to,
            }) => Err(ConnectionsError::IllegalTransition {
                cloud_pc_id,
                from,
                to,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The record id of a partner's connection in a tenant (enabled or not: a partner
    /// may still report on work it was given).
    async fn partner_connection(&self, tenant: TenantId, partner_id: Uuid) -> Result<Uuid> {
        match self.store.find_by_partner(tenant, partner_id).await {
            Ok(rec) => Ok(rec.id),
            Err(StoreError::NotFound) => Err(ConnectionsError::NoConnection { tenant, partner_id }),
            Err(e) => Err(e.into()),
        }
    }
}

fn not_found_as(e: StoreError, id: Uuid) -> ConnectionsError {
    match e {
        StoreError::NotFound => ConnectionsError::NotFound(id),
        other => other.into(),
    }
}
