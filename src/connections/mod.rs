//! The use cases every front shares (Graph, partner API, operations): list, count,
//! get, create, update, delete, heartbeat, sync and the status summary, each scoped
//! to one tenant and answering records ready to render, with their health.
//!
//! The data's consistency rules live here, once, so no front has to remember them:
//! a read first settles the tenant's heartbeats this process has answered, and a
//! write forgets the partner directory's cached entry for the connection.

pub mod agent;
pub mod directory;
pub mod heartbeats;

use crate::clock::Clock;
use crate::model::{
    derive_status, HealthPolicy, NewPartner, PartnerRecord, PartnerUpdate, StatusReport, TenantId,
};
use crate::odata::{CollectionQuery, Filter};
use crate::store::{ListRequest, StatusClock, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use directory::{PartnerDirectory, PartnerEntry};
use heartbeats::HeartbeatBuffer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// How far ahead of this service's clock a partner's sync time may be (clock skew);
/// such a time is recorded as now.
const SYNC_SKEW: Duration = Duration::seconds(60);

/// What a use case can fail with, in terms a front can explain to its caller.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionsError {
    #[error("no connection with id {0} exists in this tenant")]
    NotFound(Uuid),
    #[error("a connection for partner {0} already exists in this tenant")]
    DuplicatePartner(Uuid),
    #[error("the connection has changed since the given ETag")]
    VersionMismatch,
    #[error("tenant {tenant} has no connection for partner {partner_id}")]
    NoConnection { tenant: TenantId, partner_id: Uuid },
    #[error("tenant {0} has disabled this partner connection")]
    Disabled(TenantId),
    #[error("{0}")]
    Precondition(String),
    #[error("activity {activity_id} has no result for Cloud PC {cloud_pc_id}")]
    NoSuchResult {
        activity_id: Uuid,
        cloud_pc_id: String,
    },
    #[error("the result for Cloud PC {cloud_pc_id} cannot move from {from} to {to}")]
    IllegalTransition {
        cloud_pc_id: String,
        from: i64,
        to: i64,
    },
    #[error("the read-only property {0} would change")]
    ReadOnlyChanged(&'static str),
    #[error("the sync time {at} is in the future (now {now})")]
    SyncInFuture {
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("the database is busy")]
    Busy,
    #[error("the database cannot store data now: {0}")]
    StorageFailing(String),
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ConnectionsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicatePartner(p) => ConnectionsError::DuplicatePartner(p),
            StoreError::VersionMismatch => ConnectionsError::VersionMismatch,
            StoreError::Busy(_) => ConnectionsError::Busy,
            StoreError::Storage(e) => ConnectionsError::StorageFailing(e),
            StoreError::Unreachable(e) => ConnectionsError::Unreachable(e),
            StoreError::Uncommitted(why) => ConnectionsError::StorageFailing(why),
            other => ConnectionsError::Store(other),
        }
    }
}

type Result<T> = std::result::Result<T, ConnectionsError>;

/// A connection as a client sees it: the stored record and its health now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub record: PartnerRecord,
    pub health: StatusReport,
}

/// One page of a collection, and the total when it was asked for.
#[derive(Debug, Clone)]
pub struct Listing {
    pub items: Vec<Connection>,
    /// More rows follow this page.
    pub more: bool,
    /// The keys the next page starts after, when the order pages by keys.
    pub next_after: Option<crate::odata::Cursor>,
    pub count: Option<u64>,
}

/// How stale the across-tenant status summary (for metrics) may be.
const SUMMARY_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the database is taking writes, as the last write (or heartbeat flush) found.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: AtomicBool,
}

impl WriteHealth {
    /// Notes a write's outcome: a full disk or I/O error marks writes failing, any
    /// success clears it.
    pub fn observe<T>(&self, outcome: &std::result::Result<T, StoreError>) {
        match outcome {
            Ok(_) => self.failing.store(false, Ordering::Relaxed),
            Err(StoreError::Storage(_)) => self.failing.store(true, Ordering::Relaxed),
            Err(_) => {}
        }
    }

    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

/// The partner connections of every tenant, and the rules that keep them consistent.
pub struct Connections {
    writes: Arc<WriteHealth>,
    summary: std::sync::Mutex<Option<(std::time::Instant, [u64; 4])>>,
    summary_scan: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
    heartbeats: Arc<HeartbeatBuffer>,
    directory: PartnerDirectory,
    health: HealthPolicy,
    clock: Arc<dyn Clock>,
}

impl Connections {
    pub fn new(
        store: Arc<dyn Store>,
        health: HealthPolicy,
        partner_cache_ttl: std::time::Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let writes = Arc::new(WriteHealth::default());
        Self {
            heartbeats: Arc::new(HeartbeatBuffer::new(store.clone(), writes.clone())),
            writes,
            summary: std::sync::Mutex::new(None),
            summary_scan: tokio::sync::Mutex::new(()),
            directory: PartnerDirectory::new(partner_cache_ttl),
            store,
            health,
            clock,
        }
    }

    /// The record with its health at `now`.
    fn judged(&self, record: PartnerRecord, now: DateTime<Utc>) -> Connection {
        let health = derive_status(&record, now, &self.health);
        Connection { record, health }
    }

    /// What the store needs to evaluate `connectionStatus` in SQL at `now`: the same
    /// instant the records are judged at, so filters and representations agree.
    fn status_clock(&self, now: DateTime<Utc>) -> StatusClock {
        StatusClock {
            fresh_since: self.health.fresh_since(now),
        }
    }

    /// Heartbeats this process already answered must be visible to whatever a call
    /// reads or returns (a PATCH answers with the status too).
    /// A failed flush does not fail the read: it is served from what is stored (the
    /// heartbeats stay pending, and heartbeats are refused while writes fail).
    async fn settle(&self, tenant: TenantId) -> Result<()> {
        if let Err(e) = self.heartbeats.settle_tenant(tenant).await {
            tracing::warn!(error = %e, %tenant, "could not write pending heartbeats before a read");
        }
        Ok(())
    }

    /// Notes a write's outcome for readiness and the heartbeat path, and passes it on.
    fn observed<T>(
        &self,
        outcome: std::result::Result<T, StoreError>,
    ) -> std::result::Result<T, StoreError> {
        self.writes.observe(&outcome);
        outcome
    }

    /// One page of the tenant's connections, as the query asks.
    pub async fn list(&self, tenant: TenantId, q: &CollectionQuery) -> Result<Listing> {
        self.settle(tenant).await?;
        let now = self.clock.now();
        let status = self.status_clock(now);
        let page = self
            .store
            .list_partners(tenant, &ListRequest::page_of(q, status))
            .await?;
        let count = match q.count {
            true => Some(
                self.store
                    .count_partners(tenant, q.filter.as_ref(), status)
                    .await?,
            ),
            false => None,
        };
        Ok(Listing {
            items: page
                .items
                .into_iter()
                .map(|r| self.judged(r, now))
                .collect(),
            more: page.more,
            next_after: page.next_after,
            count,
        })
    }

    /// How many of the tenant's connections match `filter`.
    pub async fn count(&self, tenant: TenantId, filter: Option<&Filter>) -> Result<u64> {
        self.settle(tenant).await?;
        let status = self.status_clock(self.clock.now());
        Ok(self.store.count_partners(tenant, filter, status).await?)
    }

    /// One connection by its id.
    pub async fn get(&self, tenant: TenantId, id: Uuid) -> Result<Connection> {
        self.settle(tenant).await?;
        let record = self
            .store
            .get_partner(tenant, id)
            .await
            .map_err(|e| not_found_as(e, id))?;
        Ok(self.judged(record, self.clock.now()))
    }

    /// Stores a new connection; durable when it returns.
    pub async fn create(&self, tenant: TenantId, new: &NewPartner) -> Result<Connection> {
        self.settle(tenant).await?;
        let now = self.clock.now();
        let record = self.observed(self.store.create_partner(tenant, new, now).await)?;
        Ok(self.judged(record, now))
    }

    /// Applies an update if the version matches (`None`: any); durable when it returns.
    pub async fn update(
        &self,
        tenant: TenantId,
        id: Uuid,
        update: &PartnerUpdate,
        expected_version: Option<i64>,
    ) -> Result<Connection> {
        self.settle(tenant).await?;
        if !update.unchanged.is_empty() {
            // Read-only values sent back must be the connection's as it is now (the
            // status as derived now); the update itself cannot change them.
            let current = self.get(tenant, id).await?;
            if let Some((p, _)) = update.unchanged.iter().find(|(p, v)| {
                let now = match p.source {
                    crate::edm::Source::Derived(_) => {
                        crate::edm::Scalar::Enum(current.health.status.value())
                    }
                    _ => current.record.value_of(p),
                };
                now != *v
            }) {
                return Err(ConnectionsError::ReadOnlyChanged(p.name));
            }
        }
        let now = self.clock.now();
        let record = self
            .observed(
                self.store
                    .update_partner(tenant, id, update, expected_version, now)
                    .await,
            )
            .map_err(|e| not_found_as(e, id))?;
        self.forget_cached(tenant, id);
        Ok(self.judged(record, now))
    }

    /// A write changed the connection: partner calls must not trust the cached entry.
    fn forget_cached(&self, tenant: TenantId, id: Uuid) {
        self.directory.forget(tenant, id);
    }

    /// Deletes a connection if the version matches (`None`: any).
    pub async fn delete(
        &self,
        tenant: TenantId,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<()> {
        self.settle(tenant).await?;
        self.observed(
            self.store
                .delete_partner(tenant, id, expected_version)
                .await,
        )
        .map_err(|e| not_found_as(e, id))?;
        self.forget_cached(tenant, id);
        Ok(())
    }

    /// The partner is alive. Memory-only: coalesced and flushed in the background.
    pub async fn heartbeat(&self, tenant: TenantId, partner_id: Uuid) -> Result<()> {
        let conn = self.partner_entry(tenant, partner_id).await?;
        if !conn.enabled {
            return Err(ConnectionsError::Disabled(tenant));
        }
        // A heartbeat is acknowledged only while it can be written within the flush
        // interval; while writes fail, the crash-loss bound would not hold.
        if self.writes.failing() {
            return Err(ConnectionsError::StorageFailing(
                "heartbeats cannot be written now".into(),
            ));
        }
        // Counted no earlier than the connection's enable time: with the dev clock
        // moved back before it, a heartbeat answered 204 must still show.
        let now = self.clock.now();
        let at = conn.enabled_at.map_or(now, |enabled| enabled.max(now));
        self.heartbeats.record(tenant, conn.id, at);
        Ok(())
    }

    /// The partner finished a data sync at `reported` (or now); durable when it returns.
    /// A time slightly ahead of this service's clock (skew) counts as now.
    pub async fn sync(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
        reported: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let at = sync_instant(reported, self.clock.now())?;
        match self.observed(self.store.record_sync(tenant, partner_id, at).await) {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(ConnectionsError::NoConnection { tenant, partner_id }),
            Err(StoreError::ConnectionDisabled) => Err(ConnectionsError::Disabled(tenant)),
            Err(e) => Err(e.into()),
        }
    }

    /// The connection a partner call is for, from the directory cache or the store.
    async fn partner_entry(&self, tenant: TenantId, partner_id: Uuid) -> Result<PartnerEntry> {
        if let Some(entry) = self.directory.get(tenant, partner_id) {
            return Ok(entry);
        }
        match self.store.find_by_partner(tenant, partner_id).await {
            Ok(rec) => Ok(self.directory.remember(tenant, &rec)),
            Err(StoreError::NotFound) => Err(ConnectionsError::NoConnection { tenant, partner_id }),
            Err(e) => Err(e.into()),
        }
    }

    /// Connections across all tenants in each status (indexed by the status's value):
    /// an operational aggregate that exposes no record.
    /// Computed at most every [`SUMMARY_TTL`]: it scans every tenant's rows, and any
    /// number of scrapers must not multiply that.
    pub async fn status_summary(&self) -> Result<[u64; 4]> {
        let cache = |s: &Self| *s.summary.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, counts)) = cache(self) {
            if at.elapsed() < SUMMARY_TTL {
                return Ok(counts);
            }
        }
        // One scan at a time; the others wait for it and take its answer.
        let _scan = self.summary_scan.lock().await;
        if let Some((at, counts)) = cache(self) {
            if at.elapsed() < SUMMARY_TTL {
                return Ok(counts);
            }
        }
        let status = self.status_clock(self.clock.now());
        let counts = self.store.status_counts(status).await?;
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), counts));
        Ok(counts)
    }

    /// How many connections have a heartbeat not yet written.
    pub fn pending_heartbeats(&self) -> usize {
        self.heartbeats.pending_len()
    }

    /// Succeeds when the database answers and its last write did not fail.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await?;
        if self.writes.failing() {
            return Err(ConnectionsError::StorageFailing(
                "the last write failed (disk full or I/O error)".into(),
            ));
        }
        Ok(())
    }

    /// The health rules in force.
    pub fn health(&self) -> HealthPolicy {
        self.health
    }

    /// The records whose tenant has no connection for their partner yet: a seed
    /// file loaded again at the next start adds only what is missing.
    pub async fn not_yet_seeded(
        &self,
        records: Vec<(TenantId, PartnerRecord)>,
    ) -> Result<Vec<(TenantId, PartnerRecord)>> {
        let mut missing = Vec::with_capacity(records.len());
        for (tenant, r) in records {
            match self.store.find_by_partner(tenant, r.partner_id()).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => missing.push((tenant, r)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(missing)
    }

    /// Stores seeded connections as given, all or none.
    pub async fn seed(&self, records: &[(TenantId, PartnerRecord)]) -> Result<()> {
        match self.observed(self.store.insert_records(records).await) {
            Ok(()) => Ok(()),
            Err(StoreError::DuplicatePartner(_)) => {
                // Name the partner that is taken, not merely the first of the seed.
                for (tenant, r) in records {
                    if self
                        .store
                        .find_by_partner(*tenant, r.partner_id())
                        .await
                        .is_ok()
                    {
                        return Err(ConnectionsError::DuplicatePartner(r.partner_id()));
                    }
                }
                Err(ConnectionsError::DuplicatePartner(
                    records
                        .first()
                        .map(|(_, r)| r.partner_id())
                        .unwrap_or_default(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a tenant's connections (`None`: every tenant's) with their agent data
    /// and anything this process holds for them; returns how many went.
    pub async fn reset(&self, tenant: Option<TenantId>) -> Result<u64> {
        // Heartbeats answered before the reset must not outlive it.
        self.settle_all(tenant).await;
        let gone = self.observed(self.store.delete_tenant(tenant).await)?;
        self.directory.forget_tenant(tenant);
        Ok(gone)
    }

    async fn settle_all(&self, tenant: Option<TenantId>) {
        let flushed = match tenant {
            Some(t) => self.heartbeats.settle_tenant(t).await,
            None => self.heartbeats.flush().await.map(|_| ()),
        };
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "could not write pending heartbeats before a reset");
        }
    }

    /// Fails when the database would refuse writes (a read-only data dir).
    pub async fn check_writable(&self) -> Result<()> {
        Ok(self.store.check_writable().await?)
    }

    /// Writes pending heartbeats and closes the database cleanly.
    pub async fn close(&self) {
        if let Err(e) = self.heartbeats.flush().await {
            tracing::error!(error = %e, "final heartbeat flush failed");
        }
        self.store.close().await;
    }

    /// Writes coalesced heartbeats every `interval` until `shutdown`, then once more.
    pub fn spawn_heartbeat_flusher(
        &self,
        interval: std::time::Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        self.heartbeats.clone().spawn_flusher(interval, shutdown)
    }
}

/// The instant a sync is recorded at: the reported time (or now), at the stored
/// millisecond precision; up to [`SYNC_SKEW`] ahead counts as now, further is refused.
fn sync_instant(reported: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let at = reported.unwrap_or(now);
    if at > now + SYNC_SKEW {
        return Err(ConnectionsError::SyncInFuture { at, now });
    }
    Ok(crate::clock::from_millis(at.min(now).timestamp_millis()))
}

/// The store's "no such row" for a record addressed by id.
fn not_found_as(e: StoreError, id: Uuid) -> ConnectionsError {
    match e {
        StoreError::NotFound => ConnectionsError::NotFound(id),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sync_times_allow_skew_but_not_the_future() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        let hour_ago = now - Duration::hours(1);
        assert_eq!(sync_instant(Some(hour_ago), now).unwrap(), hour_ago);
        assert_eq!(sync_instant(None, now).unwrap(), now);
        assert_eq!(
            sync_instant(Some(now + Duration::seconds(30)), now).unwrap(),
            now,
            "skew clamps to now"
        );
        assert!(matches!(
            sync_instant(Some(now + Duration::minutes(5)), now),
            Err(ConnectionsError::SyncInFuture { .. })
        ));
    }
}
