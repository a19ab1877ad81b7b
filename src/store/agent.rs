//! Storage of the agent side: a connection's configured agent, each deployment's
//! per-Cloud-PC results, and the report of every configure and deploy. Written once
//! over either database, with the same statement builder as the connections.

use super::pools::Access;
use super::row::{cell_of, Cell, Kind};
use super::sql::{self, Bind, Statement, Table};
use super::{ListRequest, SqlStore, StoreError};
use crate::clock::{from_millis, to_millis};
use crate::edm::{EdmType, EntityType, Scalar, Source, Values};
use crate::model::agent::{may_move, ActionReport};
use crate::model::schema::{ACTION_REPORT, ACTION_RESULT};
use crate::model::TenantId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// One page of a collection of described rows.
#[derive(Debug, Clone)]
pub struct RowsPage {
    pub items: Vec<Values>,
    pub more: bool,
    pub count: Option<u64>,
}

/// Which deployment results a read is about; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultScope {
    pub activity_id: Option<String>,
    pub cloud_pc_id: Option<String>,
}

/// A partner's report on one Cloud PC of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultUpdate {
    pub cloud_pc_id: String,
    pub state: i64,
    pub error_code: i64,
    pub error_message: Option<String>,
}

/// Persistence for the agent side. Every call is scoped to a tenant and a connection.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Stores the connection's agent setting and the report of it, in one transaction.
    async fn configure_agent(
        &self,
        tenant: TenantId,
        id: Uuid,
        setting: &Value,
        report: &ActionReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Stores a deployment's results (all `pending`) and its reports, in one transaction.
    async fn deploy_agent(
        &self,
        tenant: TenantId,
        id: Uuid,
        cloud_pc_ids: &[Uuid],
        reports: &[ActionReport],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// One page of a connection's deployment results.
    async fn list_action_results(
        &self,
        tenant: TenantId,
        id: Uuid,
        scope: &ResultScope,
        request: &ListRequest<'_>,
        count: bool,
    ) -> Result<RowsPage, StoreError>;

    /// One page of a connection's action reports.
    async fn list_action_reports(
        &self,
        tenant: TenantId,
        id: Uuid,
        request: &ListRequest<'_>,
        count: bool,
    ) -> Result<RowsPage, StoreError>;

    /// Moves a deployment's results forward, all or none:
    /// [`StoreError::NotFound`] for an unknown activity or Cloud PC of this connection,
    /// [`StoreError::IllegalTransition`] for a move the state rules forbid.
    async fn update_action_results(
        &self,
        tenant: TenantId,
        id: Uuid,
        activity_id: Uuid,
        updates: &[ResultUpdate],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// A table whose columns are an entity description's properties.
pub struct DescribedTable {
    pub name: &'static str,
    pub entity: &'static EntityType,
    /// The final sort keys, unique per row.
    tiebreak: &'static str,
    /// Its own columns besides the described ones, first in a full row.
    pub scope_columns: &'static [&'static str],
    /// The primary key.
    pub key: &'static [&'static str],
}

impl DescribedTable {
    /// Every stored column, scope first: what a data migration copies.
    pub fn full_row(&self) -> Vec<(&'static str, Kind)> {
        let mut cols: Vec<(&str, Kind)> = self
            .scope_columns
            .iter()
            .map(|c| (*c, Kind::Text))
            .collect();
        cols.extend(
            self.entity
                .columns()
                .map(|(p, c)| (c, super::row::kind_of(&p.edm))),
        );
        cols
    }
}

pub const RESULTS: DescribedTable = DescribedTable {
    name: "agent_action_results",
    entity: &ACTION_RESULT,
    tiebreak: "start_at ASC, activity_id ASC, cloud_pc_id ASC",
    scope_columns: &["tenant_id", "partner_record_id"],
    key: &["tenant_id", "activity_id", "cloud_pc_id"],
};

/// Newest first, as an audit log reads.
pub const REPORTS: DescribedTable = DescribedTable {
    name: "agent_action_reports",
    entity: &ACTION_REPORT,
    tiebreak: "created_at DESC, id DESC",
    scope_columns: &["tenant_id", "partner_record_id", "id"],
    key: &["tenant_id", "id"],
};

/// The select list of a described table: its properties' columns, in order.
fn columns(entity: &EntityType) -> (String, Vec<Kind>) {
    let cols: Vec<(&str, Kind)> = entity
        .columns()
        .map(|(p, c)| (c, super::row::kind_of(&p.edm)))
        .collect();
    (
        super::row::names(&cols),
        cols.iter().map(|(_, k)| *k).collect(),
    )
}

/// A row read in [`columns`] order, as property values.
fn values_from_cells(entity: &EntityType, cells: Vec<Cell>) -> Result<Values, StoreError> {
    let mut values = Values::new();
    for ((p, _), cell) in entity.columns().zip(cells) {
        let v = match (&p.edm, cell) {
            (_, Cell::Null) => Scalar::Null,
            (EdmType::Boolean, Cell::Bool(b)) => Scalar::Bool(b),
            (EdmType::DateTimeOffset, Cell::Int(ms)) => Scalar::Time(from_millis(ms)),
            (EdmType::Enum(_), Cell::Int(v)) => Scalar::Enum(v),
            (EdmType::Complex(_), Cell::Text(s)) => Scalar::Json(
                serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            (_, Cell::Text(s)) => Scalar::Text(s),
            (_, other) => {
                return Err(StoreError::Corrupt(format!(
                    "column of '{}' holds {other:?}",
                    p.name
                )))
            }
        };
        values.set(p.name, v);
    }
    Ok(values)
}

/// An `INSERT` of one described row, plus the scoping columns.
fn insert_row(
    table: &str,
    scope: &[(&str, Bind)],
    entity: &EntityType,
    values: &Values,
) -> Statement {
    let mut s = Statement::default();
    let mut cols: Vec<&str> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for (c, v) in scope {
        cols.push(c);
        params.push(s.bind(v.clone()));
    }
    for p in entity.properties {
        if let Source::Column(c) = p.source {
            cols.push(c);
            params.push(s.bind(cell_of(values.get(p.name))));
        }
    }
    s.sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        cols.join(", "),
        params.join(", ")
    );
    s
}

fn report_insert(tenant: &str, record: &str, r: &ActionReport) -> Statement {
    let text = |v: &Option<String>| v.clone().map_or(Scalar::Null, Scalar::Text);
    let mut v = Values::new();
    v.set("actionType", Scalar::Enum(r.action_type));
    v.set("authenticatedMethod", Scalar::Enum(r.authenticated_method));
    v.set("authenticatedAppId", text(&r.app_id));
    v.set("authenticatedAppName", text(&r.app_name));
    v.set(
        "authenticatedUserPrincipalName",
        text(&r.user_principal_name),
    );
    v.set("createdDateTime", Scalar::Time(r.created_at));
    v.set("cloudPcId", text(&r.cloud_pc_id.map(|c| c.to_string())));
    v.set("agentName", text(&r.agent_name));
    v.set("activityId", Scalar::Text(r.activity_id.to_string()));
    v.set("activityMessage", Scalar::Text(r.activity_message.clone()));
    v.set("agentSetting", Scalar::Json(r.agent_setting.clone()));
    insert_row(
        REPORTS.name,
        &[
            ("tenant_id", Bind::Text(tenant.into())),
            ("partner_record_id", Bind::Text(record.into())),
            ("id", Bind::Text(Uuid::new_v4().to_string())),
        ],
        REPORTS.entity,
        &v,
    )
}

impl SqlStore {
    async fn rows_page(
        &self,
        described: &DescribedTable,
        tenant: TenantId,
        scope: &[(&str, Bind)],
        request: &ListRequest<'_>,
        count: bool,
    ) -> Result<RowsPage, StoreError> {
        let (cols, kinds) = columns(described.entity);
        let table = Table {
            name: described.name,
            columns: &cols,
            tiebreak: described.tiebreak,
            keyset: None,
        };
        let tenant = tenant.to_string();
        let s = sql::list_page(&table, &tenant, scope, request);
        let mut items = self
            .pools()
            .rows(Access::Read, &s, &kinds)
            .await?
            .into_iter()
            .map(|cells| values_from_cells(described.entity, cells))
            .collect::<Result<Vec<_>, _>>()?;
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let count = match count {
            false => None,
            true => {
                let s = sql::count_rows(&table, &tenant, scope, request.filter, request.status);
                let rows = self.pools().rows(Access::Scan, &s, &[Kind::Int]).await?;
                match rows.first().and_then(|r| r.first()) {
                    Some(Cell::Int(n)) => Some(u64::try_from(*n).unwrap_or(0)),
                    _ => Some(0),
                }
            }
        };
        Ok(RowsPage { items, more, count })
    }

    /// The state a result is in now, if it exists.
    async fn result_state(
        &self,
        tenant: &str,
        record: &str,
        activity: &str,
        cloud_pc: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut s = Statement::default();
        let (t, r, a, c) = (
            s.bind(Bind::Text(tenant.into())),
            s.bind(Bind::Text(record.into())),
            s.bind(Bind::Text(activity.into())),
            s.bind(Bind::Text(cloud_pc.into())),
        );
        s.sql = format!(
            "SELECT state FROM agent_action_results WHERE tenant_id = {t} AND partner_record_id = {r} AND activity_id = {a} AND cloud_pc_id = {c}"
        );
        let rows = self.pools().rows(Access::Write, &s, &[Kind::Int]).await?;
        Ok(match rows.first().and_then(|r| r.first()) {
            Some(Cell::Int(v)) => Some(*v),
            _ => None,
        })
    }
}

#[async_trait]
impl AgentStore for SqlStore {
    async fn configure_agent(
        &self,
        tenant: TenantId,
        id: Uuid,
        setting: &Value,
        report: &ActionReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (tenant, record) = (tenant.to_string(), id.to_string());
        let mut update = Statement::default();
        let (v, n, t, i) = (
            update.bind(Bind::Text(setting.to_string())),
            update.bind(Bind::Int(to_millis(now))),
            update.bind(Bind::Text(tenant.clone())),
            update.bind(Bind::Text(record.clone())),
        );
        update.sql = format!(
            "UPDATE external_partners SET agent_setting = {v}, updated_at = {n}, version = version + 1 WHERE tenant_id = {t} AND id = {i}"
        );
        let steps = [
            (update, Some(1)),
            (report_insert(&tenant, &record, report), Some(1)),
        ];
        match self.pools().transaction(&steps).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::NotFound),
        }
    }

    async fn deploy_agent(
        &self,
        tenant: TenantId,
        id: Uuid,
        cloud_pc_ids: &[Uuid],
        reports: &[ActionReport],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (tenant, record) = (tenant.to_string(), id.to_string());
        let Some(activity) = reports.first().map(|r| r.activity_id.to_string()) else {
            return Ok(());
        };
        let pending = crate::model::agent::state_value("pending").unwrap_or(1);
        let none = crate::model::agent::error_code_value("none").unwrap_or(0);
        let mut steps = Vec::with_capacity(cloud_pc_ids.len() + reports.len());
        for cloud_pc in cloud_pc_ids {
            let mut v = Values::new();
            v.set("activityId", Scalar::Text(activity.clone()));
            v.set("cloudPcId", Scalar::Text(cloud_pc.to_string()));
            v.set("state", Scalar::Enum(pending));
            v.set("startDateTime", Scalar::Time(now));
            v.set("lastModifiedDateTime", Scalar::Time(now));
            v.set("errorCode", Scalar::Enum(none));
            let scope = [
                ("tenant_id", Bind::Text(tenant.clone())),
                ("partner_record_id", Bind::Text(record.clone())),
            ];
            steps.push((
                insert_row(RESULTS.name, &scope, RESULTS.entity, &v),
                Some(1),
            ));
        }
        for r in reports {
            steps.push((report_insert(&tenant, &record, r), Some(1)));
        }
        match self.pools().transaction(&steps).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(StoreError::NotFound),
            // The connection was deleted meanwhile: its key no longer exists.
            Err(e) if e.is_foreign_key_violation() => Err(StoreError::NotFound),
            Err(e) => Err(e),
        }
    }

    async fn list_action_results(
        &self,
        tenant: TenantId,
        id: Uuid,
        scope: &ResultScope,
        request: &ListRequest<'_>,
        count: bool,
    ) -> Result<RowsPage, StoreError> {
        let mut where_: Vec<(&str, Bind)> = vec![("partner_record_id", Bind::Text(id.to_string()))];
        if let Some(a) = &scope.activity_id {
            where_.push(("activity_id", Bind::Text(a.clone())));
        }
        if let Some(c) = &scope.cloud_pc_id {
            where_.push(("cloud_pc_id", Bind::Text(c.clone())));
        }
        self.rows_page(&RESULTS, tenant, &where_, request, count)
            .await
    }

    async fn list_action_reports(
        &self,
        tenant: TenantId,
        id: Uuid,
        request: &ListRequest<'_>,
        count: bool,
    ) -> Result<RowsPage, StoreError> {
        let where_ = [("partner_record_id", Bind::Text(id.to_string()))];
        self.rows_page(&REPORTS, tenant, &where_, request, count)
            .await
    }

    async fn update_action_results(
        &self,
        tenant: TenantId,
        id: Uuid,
        activity_id: Uuid,
        updates: &[ResultUpdate],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (tenant, record, activity) =
            (tenant.to_string(), id.to_string(), activity_id.to_string());
        let all_states: Vec<i64> =
            (0..crate::model::schema::ACTION_STATE.members.len() as i64).collect();
        let steps: Vec<(Statement, Option<u64>)> = updates
            .iter()
            .map(|u| {
                // Guarded by the states it may come from, so a race cannot move it back.
                let from: Vec<String> = all_states
                    .iter()
                    .filter(|s| may_move(**s, u.state))
                    .map(i64::to_string)
                    .collect();
                let mut s = Statement::default();
                let (st, ec, em, n) = (
                    s.bind(Bind::Int(u.state)),
                    s.bind(Bind::Int(u.error_code)),
                    s.bind(u.error_message.clone().map_or(Cell::Null, Bind::Text)),
                    s.bind(Bind::Int(to_millis(now))),
                );
                let (t, r, a, c) = (
                    s.bind(Bind::Text(tenant.clone())),
                    s.bind(Bind::Text(record.clone())),
                    s.bind(Bind::Text(activity.clone())),
                    s.bind(Bind::Text(u.cloud_pc_id.clone())),
                );
                s.sql = format!(
                    "UPDATE agent_action_results SET state = {st}, error_code = {ec}, error_message = {em}, last_modified_at = {n} \
                     WHERE tenant_id = {t} AND partner_record_id = {r} AND activity_id = {a} AND cloud_pc_id = {c} AND state IN ({})",
                    from.join(", ")
                );
                (s, Some(1))
            })
            .collect();
        match self.pools().transaction(&steps).await? {
            Ok(()) => Ok(()),
            Err(i) => {
                let u = &updates[i];
                match self
                    .result_state(&tenant, &record, &activity, &u.cloud_pc_id)
                    .await?
                {
                    None => Err(StoreError::UnknownCloudPc(u.cloud_pc_id.clone())),
                    Some(from) => Err(StoreError::IllegalTransition {
                        cloud_pc_id: u.cloud_pc_id.clone(),
                        from,
                        to: u.state,
                    }),
                }
            }
        }
    }
}
