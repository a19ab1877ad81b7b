//! Storage behind one trait, every call scoped to a tenant, implemented once
//! (`sql_store`) over either database: SQLite, the embedded default, or PostgreSQL,
//! shared by several server processes. Only `pools` knows which one it talks to;
//! `sqlite` and `postgres` know how each runs a statement.

use crate::model::{NewPartner, PartnerRecord, PartnerUpdate, TenantId};
use crate::odata::{Filter, OrderBy};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub mod agent;
mod counts;
pub mod migrations;
pub mod open;
pub mod pools;
pub mod postgres;
mod record_cache;
pub mod row;
pub mod sql;
pub mod sql_store;
pub mod sqlite;

/// One table the store keeps: its name, every column with its kind, and its key.
#[derive(Debug, Clone)]
pub struct StoredTable {
    pub name: &'static str,
    pub columns: Vec<(&'static str, row::Kind)>,
    pub key: Vec<&'static str>,
}

/// Every table the store keeps, those others refer to first: what `migrate-data`
/// copies.
pub fn stored_tables() -> Vec<StoredTable> {
    let described = |t: &agent::DescribedTable| StoredTable {
        name: t.name,
        columns: t.full_row(),
        key: t.key.to_vec(),
    };
    vec![
        StoredTable {
            name: sql::PARTNERS_TABLE,
            columns: row::FULL_ROW_COLUMNS.clone(),
            key: vec!["tenant_id", "id"],
        },
        described(&agent::RESULTS),
        described(&agent::REPORTS),
    ]
}

pub use agent::{AgentStore, ResultScope, ResultUpdate, RowsPage};
pub use open::{open, redact, DatabaseUrl, SQLITE_FILE};
pub use pools::PgSettings;
pub use sql_store::SqlStore;

/// What a store call can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("a connection for partner {0} already exists in this tenant")]
    DuplicatePartner(Uuid),
    #[error("the record does not exist")]
    NotFound,
    #[error("the record has changed since the given ETag")]
    VersionMismatch,
    #[error("the connection is disabled")]
    ConnectionDisabled,
    #[error("the deployment has no result for Cloud PC {0}")]
    UnknownCloudPc(String),
    #[error("the result for Cloud PC {cloud_pc_id} cannot move from state {from} to {to}")]
    IllegalTransition {
        cloud_pc_id: String,
        from: i64,
        to: i64,
    },
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("the database cannot store data now (disk full or I/O error): {0}")]
    Storage(String),
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    /// Every connection stayed in use for the whole wait.
    #[error("every database connection is in use: {0}")]
    Busy(String),
    #[error("the write was not committed: {0}")]
    Uncommitted(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("schema migration failed: {0}")]
    Migrate(String),
    #[error("{0}")]
    CannotOpen(String),
    /// A statement the database refused for a constraint (and undid).
    #[error("{1}")]
    Violation(Violation, String),
}

/// Which constraint a statement broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Unique,
    ForeignKey,
    NotNull,
    Check,
}

impl StoreError {
    /// A duplicate key, from either database.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Violation(v, _) => *v == Violation::Unique,
            _ => false,
        }
    }

    /// A key that refers to a row that is not there, from either database.
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            StoreError::Violation(v, _) => *v == Violation::ForeignKey,
            _ => false,
        }
    }
}

/// The moment and policy against which `connectionStatus` is evaluated in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusClock {
    /// Heartbeats at or after this instant are fresh.
    pub fresh_since: DateTime<Utc>,
}

/// The latest heartbeat of one partner connection, as the coalescer flushes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub tenant: TenantId,
    /// The record's `id` (not the `partnerId`).
    pub id: Uuid,
    pub at: DateTime<Utc>,
}

/// One page of a filtered, ordered collection.
#[derive(Debug, Clone)]
pub struct ListRequest<'a> {
    pub filter: Option<&'a Filter>,
    pub orderby: &'a [OrderBy],
    pub offset: u64,
    /// Where the page starts by its keys, where the table pages by keys.
    pub after: Option<&'a [crate::edm::Scalar]>,
    pub limit: u64,
    pub status: StatusClock,
}

impl<'a> ListRequest<'a> {
    /// The page a collection query asks for, with `connectionStatus` evaluated at
    /// `status`; or, for a later page of a walk ordered by it, at the instant the
    /// walk started, which its cursor carries first: the order, and so the walk,
    /// stays one order from the first page to the last.
    pub fn page_of(q: &'a crate::odata::CollectionQuery, status: StatusClock) -> Self {
        use crate::edm::{Scalar, Source};
        let window = q.window();
        let derived_order = q
            .orderby
            .iter()
            .any(|o| matches!(o.property.source, Source::Derived(_)));
        let (status, after) = match (q.after.as_deref(), derived_order) {
            (Some([Scalar::Time(started), rest @ ..]), true) => (
                StatusClock {
                    fresh_since: *started,
                },
                Some(rest),
            ),
            (after, _) => (status, after),
        };
        ListRequest {
            filter: q.filter.as_ref(),
            orderby: &q.orderby,
            offset: window.offset,
            after,
            limit: window.limit,
            status,
        }
    }
}

/// A page of records and whether more follow it.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<PartnerRecord>,
    pub more: bool,
    /// The keys the next page starts after, when the order pages by keys.
    pub next_after: Option<crate::odata::Cursor>,
}

/// Persistence for partner connections. No call reads or writes across tenants.
#[async_trait]
pub trait Store: AgentStore + Send + Sync + 'static {
    /// Stores a new connection; a second one with the same `partnerId` in the tenant
    /// is [`StoreError::DuplicatePartner`]. Durable when it returns.
    async fn create_partner(
        &self,
        tenant: TenantId,
        new: &NewPartner,
        now: DateTime<Utc>,
    ) -> Result<PartnerRecord, StoreError>;

    async fn get_partner(&self, tenant: TenantId, id: Uuid) -> Result<PartnerRecord, StoreError>;

    /// Applies an update, if `expected_version` is `None` or matches. Durable when it returns.
    async fn update_partner(
        &self,
        tenant: TenantId,
        id: Uuid,
        update: &PartnerUpdate,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<PartnerRecord, StoreError>;

    /// Deletes, if `expected_version` is `None` or matches.
    async fn delete_partner(
        &self,
        tenant: TenantId,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError>;

    async fn list_partners(
        &self,
        tenant: TenantId,
        request: &ListRequest<'_>,
    ) -> Result<Page, StoreError>;

    async fn count_partners(
        &self,
        tenant: TenantId,
        filter: Option<&Filter>,
        status: StatusClock,
    ) -> Result<u64, StoreError>;

    /// The tenant's connection for a partner, looked up by `partnerId`.
    async fn find_by_partner(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
    ) -> Result<PartnerRecord, StoreError>;

    /// Writes a batch of heartbeats in one transaction. A heartbeat only moves
    /// `last_heartbeat_at` forward (the newest wins, across processes too), and is
    /// dropped if the connection is disabled or was re-enabled after it.
    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError>;

    /// Records a data sync (durably) on an enabled connection; `lastSyncDateTime`
    /// only moves forward. [`StoreError::NotFound`] or [`StoreError::ConnectionDisabled`] otherwise.
    async fn record_sync(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// How many connections, across all tenants, are in each status (indexed by the
    /// status's value); an operational aggregate for metrics that exposes no record.
    async fn status_counts(&self, status: StatusClock) -> Result<[u64; 4], StoreError>;

    /// Stores whole records as given (ids, timestamps, heartbeats), all or none; for
    /// seeding. A taken `partnerId` is [`StoreError::DuplicatePartner`].
    async fn insert_records(&self, records: &[(TenantId, PartnerRecord)])
        -> Result<(), StoreError>;

    /// Deletes every connection of a tenant (`None`: of every tenant) with its
    /// agent data; returns how many connections went. For development resets.
    async fn delete_tenant(&self, tenant: Option<TenantId>) -> Result<u64, StoreError>;

    /// Succeeds when the database answers; for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Succeeds when the database accepts writes (a write transaction, rolled back):
    /// checked at start-up, so a read-only data dir fails loudly instead of every write.
    async fn check_writable(&self) -> Result<(), StoreError>;

    /// Writes everything to the main database file and closes the connections.
    async fn close(&self);
}

/// The record a create stores: a new id, version 1, and, if enabled, enabled now.
pub(crate) fn new_record(new: &NewPartner, now: DateTime<Utc>) -> PartnerRecord {
    PartnerRecord {
        id: Uuid::new_v4(),
        values: new.values.clone(),
        enabled_at: new.enable_connection().then_some(now),
        last_heartbeat_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}
