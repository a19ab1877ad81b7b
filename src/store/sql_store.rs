//! The store, written once over either database: each method builds its statement
//! with `sql` and runs it through one of the [`Pools`] primitives.

use super::pools::{Access, PgSettings, Pools};
use super::record_cache::RecordCache;
use super::row::{record_from_cells, Cell, Kind, RECORD_COLUMNS};
use super::{counts, sql};
use super::{Heartbeat, ListRequest, Page, StatusClock, Store, StoreError};
use crate::clock::to_millis;
use crate::model::{NewPartner, PartnerRecord, PartnerUpdate, TenantId};
use crate::odata::Filter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// Partner connections in SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pools: Pools,
    /// Reads whose cost grows with the table (counts, `$skip` offsets) take a permit,
    /// so however many clients loop on them, half the read connections stay free for
    /// the light ones.
    heavy: Arc<tokio::sync::Semaphore>,
    /// PostgreSQL's fold of count changes into the totals; stops with the last clone.
    _fold: Option<Arc<FoldTask>>,
    /// Records read by id, kept between writes: SQLite only, whose one writer is in
    /// this process. PostgreSQL is written by other processes too.
    kept: Option<Arc<RecordCache>>,
}

/// Folds PostgreSQL's appended count changes every second, so counts read the
/// totals plus at most a second's changes, whatever the write rate.
#[derive(Debug)]
struct FoldTask(tokio::task::JoinHandle<()>);

impl FoldTask {
    fn spawn(pools: Pools) -> Self {
        Self(tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = pools.fold_counts().await {
                    // Counts stay exact (they read the changes too); only slower.
                    tracing::warn!(error = %e, "folding count changes failed; will retry");
                }
            }
        }))
    }
}

impl Drop for FoldTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Rows of (slot, number) summed into their slots; slots out of range are ignored.
fn tally<const N: usize>(rows: Vec<Vec<i64>>) -> [i64; N] {
    let mut out = [0; N];
    for row in rows {
        if let [slot, n] = row[..] {
            if let Some(s) = usize::try_from(slot).ok().and_then(|i| out.get_mut(i)) {
                *s += n;
            }
        }
    }
    out
}

impl SqlStore {
    fn over(pools: Pools, read_connections: usize) -> Self {
        let fold = pools
            .is_shared()
            .then(|| Arc::new(FoldTask::spawn(pools.clone())));
        let kept = pools
            .sole_writer()
            .map(|writes| Arc::new(RecordCache::new(writes)));
        Self {
            pools,
            heavy: Arc::new(tokio::sync::Semaphore::new((read_connections / 2).max(1))),
            _fold: fold,
            kept,
        }
    }

    /// The embedded database: an SQLite file, created and migrated as needed.
    pub async fn sqlite(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::over(
            Pools::sqlite(path).await?,
            super::sqlite::READERS,
        ))
    }

    /// An SQLite database in memory, for tests and throwaway runs.
    pub async fn memory() -> Result<Self, StoreError> {
        Ok(Self::over(Pools::sqlite_memory().await?, 1))
    }

    /// PostgreSQL, migrated as needed.
    pub async fn postgres(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        Ok(Self::over(
            Pools::postgres(url, settings).await?,
            settings.pool_size as usize,
        ))
    }

    /// Waits for a heavy-read permit.
    async fn heavy_read(&self) -> Result<tokio::sync::SemaphorePermit<'_>, StoreError> {
        self.heavy
            .acquire()
            .await
            .map_err(|_| StoreError::Unreachable("the store is closed".into()))
    }

    /// How many connections (of a tenant, or all) are in each status, from the
    /// running totals; `None` where they cannot answer (a clock before 1970).
    async fn class_totals(
        &self,
        tenant: Option<TenantId>,
        status: StatusClock,
    ) -> Result<Option<[u64; 4]>, StoreError> {
        let tenant = tenant.map(|t| t.to_string());
        let Some(s) = sql::status_totals(tenant.as_deref(), status) else {
            return Ok(None);
        };
        // By kind: disabled, waiting, with a heartbeat, fresh whole seconds, fresh edge.
        let [disabled, waiting, beating, whole, edge] =
            tally(self.integers(Access::Read, &s, 2).await?);
        let healthy = whole + edge;
        Ok(Some(
            [disabled, waiting, healthy, beating - healthy].map(|n| u64::try_from(n).unwrap_or(0)),
        ))
    }

    /// The pools; for data migration and tests.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    async fn records(
        &self,
        access: Access,
        s: &sql::Statement,
    ) -> Result<Vec<PartnerRecord>, StoreError> {
        let kinds: Vec<Kind> = RECORD_COLUMNS.iter().map(|(_, k)| *k).collect();
        self.pools
            .rows(access, s, &kinds)
            .await?
            .into_iter()
            .map(record_from_cells)
            .collect()
    }

    async fn first_record(
        &self,
        access: Access,
        s: &sql::Statement,
    ) -> Result<Option<PartnerRecord>, StoreError> {
        Ok(self.records(access, s).await?.into_iter().next())
    }

    async fn integers(
        &self,
        access: Access,
        s: &sql::Statement,
        columns: usize,
    ) -> Result<Vec<Vec<i64>>, StoreError> {
        let kinds = vec![Kind::Int; columns];
        Ok(self
            .pools
            .rows(access, s, &kinds)
            .await?
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|c| match c {
                        Cell::Int(n) => n,
                        _ => 0,
                    })
                    .collect()
            })
            .collect())
    }

    /// "Changed under you" when the record still exists, else "gone".
    async fn version_mismatch_or_gone(&self, tenant: TenantId, id: Uuid) -> StoreError {
        match self.get_partner(tenant, id).await {
            Ok(_) => StoreError::VersionMismatch,
            Err(e) => e,
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_partner(
        &self,
        tenant: TenantId,
        new: &NewPartner,
        now: DateTime<Utc>,
    ) -> Result<PartnerRecord, StoreError> {
        let record = super::new_record(new, now);
        match self
            .pools
            .execute(&sql::insert(&tenant.to_string(), &record))
            .await
        {
            Ok(_) => Ok(record),
            Err(e) if e.is_unique_violation() => {
                Err(StoreError::DuplicatePartner(new.partner_id()))
            }
            Err(e) => Err(e),
        }
    }

    async fn get_partner(&self, tenant: TenantId, id: Uuid) -> Result<PartnerRecord, StoreError> {
        let start = match &self.kept {
            Some(kept) => match kept.get(tenant, id) {
                Ok(record) => return Ok(record),
                Err(start) => Some(start),
            },
            None => None,
        };
        let s = sql::get(&tenant.to_string(), &id.to_string());
        let record = self
            .first_record(Access::Read, &s)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let (Some(kept), Some(start)) = (&self.kept, start) {
            kept.keep(start, tenant, &record);
        }
        Ok(record)
    }

    async fn update_partner(
        &self,
        tenant: TenantId,
        id: Uuid,
        update: &PartnerUpdate,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<PartnerRecord, StoreError> {
        let s = sql::update(
            &tenant.to_string(),
            &id.to_string(),
            &update.values,
            expected_version,
            to_millis(now),
        );
        match (
            self.first_record(Access::Write, &s).await?,
            expected_version,
        ) {
            (Some(rec), _) => Ok(rec),
            (None, Some(_)) => Err(self.version_mismatch_or_gone(tenant, id).await),
            (None, None) => Err(StoreError::NotFound),
        }
    }

    async fn delete_partner(
        &self,
        tenant: TenantId,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let s = sql::delete(&tenant.to_string(), &id.to_string(), expected_version);
        match (self.pools.execute(&s).await?, expected_version) {
            (0, Some(_)) => Err(self.version_mismatch_or_gone(tenant, id).await),
            (0, None) => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn list_partners(
        &self,
        tenant: TenantId,
        request: &ListRequest<'_>,
    ) -> Result<Page, StoreError> {
        // An offset makes the database walk past the skipped rows; keys do not.
        let offset = request.offset > 0 && request.after.is_none();
        let (_permit, access) = match offset {
            true => (Some(self.heavy_read().await?), Access::Scan),
            false => (None, Access::Read),
        };
        let statement = sql::list(&tenant.to_string(), request);
        let start = match &self.kept {
            Some(kept) if !offset => match kept.page(&statement) {
                Ok(rows) => Ok(rows),
                Err(start) => Err(Some(start)),
            },
            _ => Err(None),
        };
        let mut items = match start {
            Ok(rows) => rows,
            Err(start) => {
                let rows = self.records(access, &statement).await?;
                if let (Some(kept), Some(start)) = (&self.kept, start) {
                    kept.keep_page(start, &statement, &rows);
                }
                rows
            }
        };
        // The statement reads one row past the page to tell whether more follow.
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next_after = items
            .last()
            .filter(|_| more)
            .and_then(|last| sql::partner_cursor(request.orderby, last, request.status));
        Ok(Page {
            items,
            more,
            next_after,
        })
    }

    async fn count_partners(
        &self,
        tenant: TenantId,
        filter: Option<&Filter>,
        status: StatusClock,
    ) -> Result<u64, StoreError> {
        if let Some(keep) = counts::classes(filter) {
            if let Some(totals) = self.class_totals(Some(tenant), status).await? {
                return Ok(counts::total(keep, totals));
            }
        }
        let s = sql::count(&tenant.to_string(), filter, status);
        let _permit = self.heavy_read().await?;
        let n = self
            .integers(Access::Scan, &s, 1)
            .await?
            .first()
            .and_then(|r| r.first().copied())
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn find_by_partner(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
    ) -> Result<PartnerRecord, StoreError> {
        let s = sql::find_by_partner(&tenant.to_string(), &partner_id.to_string());
        self.first_record(Access::Read, &s)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        self.pools.record_heartbeats(beats).await
    }

    async fn record_sync(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let s = sql::sync(&tenant.to_string(), &partner_id.to_string(), to_millis(at));
        let updated = self.pools.rows(Access::Write, &s, &[Kind::Text]).await?;
        if !updated.is_empty() {
            return Ok(());
        }
        // Tell "no such connection" from "disabled".
        self.find_by_partner(tenant, partner_id)
            .await
            .and(Err(StoreError::ConnectionDisabled))
    }

    async fn status_counts(&self, status: StatusClock) -> Result<[u64; 4], StoreError> {
        if let Some(totals) = self.class_totals(None, status).await? {
            return Ok(totals);
        }
        let _permit = self.heavy_read().await?;
        let rows = self
            .integers(Access::Scan, &sql::status_counts(status), 2)
            .await?;
        Ok(tally::<4>(rows).map(|n| u64::try_from(n).unwrap_or(0)))
    }

    async fn insert_records(
        &self,
        records: &[(TenantId, PartnerRecord)],
    ) -> Result<(), StoreError> {
        let steps: Vec<(sql::Statement, Option<u64>)> = records
            .iter()
            .map(|(t, r)| (sql::insert(&t.to_string(), r), Some(1)))
            .collect();
        match self.pools.transaction(&steps).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(i)) => Err(StoreError::DuplicatePartner(records[i].1.partner_id())),
            Err(e) if e.is_unique_violation() => {
                // Which one: the first whose partner is already there, or repeated.
                let taken = records
                    .iter()
                    .map(|(_, r)| r.partner_id())
                    .next()
                    .unwrap_or_default();
                Err(StoreError::DuplicatePartner(taken))
            }
            Err(e) => Err(e),
        }
    }

    async fn delete_tenant(&self, tenant: Option<TenantId>) -> Result<u64, StoreError> {
        let mut s = sql::Statement::default();
        s.sql = match tenant {
            Some(t) => {
                let p = s.bind(sql::Bind::Text(t.to_string()));
                format!("DELETE FROM external_partners WHERE tenant_id = {p}")
            }
            None => "DELETE FROM external_partners".into(),
        };
        // The agent tables follow by ON DELETE CASCADE.
        self.pools.execute(&s).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.pools.ping().await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        self.pools.check_writable().await
    }

    async fn close(&self) {
        self.pools.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::{Scalar, Values};
    use crate::model::schema::{ENABLE_CONNECTION, PARTNERS, PARTNER_ID};
    use crate::model::{derive_status, ConnectionStatus, HealthPolicy};
    use crate::odata::filter::parse_filter;
    use proptest::prelude::*;

    /// (enabled, enabled_at, last heartbeat) in seconds from an origin.
    type Row = (bool, Option<i64>, Option<i64>);

    /// A connection with a new partner, as stored by a create at `created`.
    fn record(
        enabled: bool,
        enabled_at: Option<DateTime<Utc>>,
        beat: Option<DateTime<Utc>>,
        created: DateTime<Utc>,
    ) -> PartnerRecord {
        let mut values = Values::new();
        values.set(PARTNER_ID, Scalar::Text(Uuid::new_v4().to_string()));
        values.set(ENABLE_CONNECTION, Scalar::Bool(enabled));
        PartnerRecord {
            id: Uuid::new_v4(),
            values,
            enabled_at,
            last_heartbeat_at: beat,
            created_at: created,
            updated_at: created,
            version: 1,
        }
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            any::<bool>(),
            proptest::option::of(0i64..600),
            proptest::option::of(0i64..600),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The SQL that filters on `connectionStatus` classifies every record exactly
        /// as `derive_status` renders it.
        #[test]
        fn sql_status_agrees_with_derive_status(rows in proptest::collection::vec(row(), 1..25), now in 0i64..900) {
            with_scratch_store(async |store, tenant, origin| {
                let at = |s: i64| origin + chrono::Duration::seconds(s);
                let policy = HealthPolicy { heartbeat_timeout: chrono::Duration::seconds(300) };
                let mut expected = [0u64; 4];
                for (enabled, enabled_at, beat) in &rows {
                    let rec = record(*enabled, enabled_at.map(at), beat.map(at), origin);
                    expected[derive_status(&rec, at(now), &policy).status.value() as usize] += 1;
                    store.pools().execute(&sql::insert(&tenant.to_string(), &rec)).await.unwrap();
                }
                let clock = StatusClock { fresh_since: policy.fresh_since(at(now)) };
                for s in ConnectionStatus::ALL {
                    let f = parse_filter(&format!("connectionStatus eq '{}'", s.as_str()), &PARTNERS).unwrap();
                    let n = store.count_partners(tenant, Some(&f), clock).await.unwrap();
                    assert_eq!(n, expected[s.value() as usize], "{s:?}");
                }
                assert_eq!(store.status_counts(clock).await.unwrap(), expected);
            });
        }
    }

    /// A change to one of the connections (by index, modulo how many there are).
    #[derive(Debug, Clone)]
    enum Change {
        Insert(Row),
        Enable(usize, bool, i64),
        Beat(usize, i64),
        Delete(usize),
    }

    /// Times in milliseconds over twenty seconds, so heartbeats often share the
    /// second the freshness cut falls in.
    fn change() -> impl Strategy<Value = Change> {
        let ms = || 0i64..20_000;
        prop_oneof![
            (
                any::<bool>(),
                proptest::option::of(ms()),
                proptest::option::of(ms())
            )
                .prop_map(Change::Insert),
            (any::<usize>(), any::<bool>(), ms()).prop_map(|(i, e, at)| Change::Enable(i, e, at)),
            (any::<usize>(), ms()).prop_map(|(i, at)| Change::Beat(i, at)),
            any::<usize>().prop_map(Change::Delete),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// After any inserts, enables, disables, heartbeats and deletes, in two
        /// tenants, counts from the running totals equal the statuses of the rows
        /// themselves, at any moment (including cuts inside and on a second).
        #[test]
        fn running_totals_follow_every_write(
            changes in proptest::collection::vec((any::<bool>(), change()), 1..40),
            nows in proptest::collection::vec(299_000i64..321_000, 1..6),
        ) {
            with_scratch_store(async |store, tenant, origin| {
                let tenants = [tenant, TenantId(Uuid::from_u128(7))];
                let at = |ms: i64| origin + chrono::Duration::milliseconds(ms);
                let mut ids: [Vec<Uuid>; 2] = [Vec::new(), Vec::new()];
                for (second_tenant, c) in &changes {
                    let which = usize::from(*second_tenant);
                    let t = tenants[which].to_string();
                    let mine = &mut ids[which];
                    match c {
                        Change::Insert((enabled, enabled_at, beat)) => {
                            let rec = record(*enabled, enabled_at.map(at), beat.map(at), origin);
                            mine.push(rec.id);
                            store.pools().execute(&sql::insert(&t, &rec)).await.unwrap();
                        }
                        _ if mine.is_empty() => {}
                        Change::Enable(i, enabled, when) => {
                            let id = mine[i % mine.len()];
                            let mut s = sql::Statement::default();
                            let e = s.bind(Cell::Bool(*enabled));
                            let w = s.bind(Cell::Int(to_millis(at(*when))));
                            let tp = s.bind(Cell::Text(t.clone()));
                            let ip = s.bind(Cell::Text(id.to_string()));
                            s.sql = format!("UPDATE external_partners SET enable_connection = {e}, enabled_at = {w} WHERE tenant_id = {tp} AND id = {ip}");
                            store.pools().execute(&s).await.unwrap();
                        }
                        Change::Beat(i, when) => {
                            let id = mine[i % mine.len()];
                            store.record_heartbeats(&[Heartbeat { tenant: tenants[which], id, at: at(*when) }]).await.unwrap();
                        }
                        Change::Delete(i) => {
                            let id = mine.remove(i % mine.len());
                            store.pools().execute(&sql::delete(&t, &id.to_string(), None)).await.unwrap();
                        }
                    }
                }
                let policy = HealthPolicy { heartbeat_timeout: chrono::Duration::seconds(300) };
                let everything = crate::odata::query::parse_collection(Some("$top=999"), &PARTNERS, None).unwrap();
                for now in &nows {
                    let now = origin + chrono::Duration::milliseconds(*now);
                    let clock = StatusClock { fresh_since: policy.fresh_since(now) };
                    let mut overall = [0u64; 4];
                    for t in tenants {
                        let mut expected = [0u64; 4];
                        for rec in page_of(&store, t, clock, everything.clone()).await.items {
                            expected[derive_status(&rec, now, &policy).status.value() as usize] += 1;
                        }
                        let totals = store.class_totals(Some(t), clock).await.unwrap().unwrap();
                        assert_eq!(totals, expected, "tenant {t} at {now}");
                        for (o, e) in overall.iter_mut().zip(expected) {
                            *o += e;
                        }
                    }
                    assert_eq!(store.status_counts(clock).await.unwrap(), overall);
                }
            });
        }
    }

    async fn page_of(
        store: &SqlStore,
        tenant: TenantId,
        status: StatusClock,
        q: crate::odata::CollectionQuery,
    ) -> Page {
        let request = ListRequest::page_of(&q, status);
        store.list_partners(tenant, &request).await.unwrap()
    }

    /// Runs a test body on a fresh embedded database.
    fn with_scratch_store(
        body: impl AsyncFnOnce(SqlStore, TenantId, chrono::DateTime<chrono::Utc>),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqlStore::sqlite(&dir.path().join("t.db")).await.unwrap();
            let origin = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            body(store, TenantId(Uuid::nil()), origin).await;
        });
    }

    fn filters() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(""),
            Just("enableConnection eq true"),
            Just("connectionStatus ne 'healthy'"),
            Just("lastSyncDateTime eq null or enableConnection eq false"),
        ]
    }

    fn orderings() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(""),
            Just("partnerId"),
            Just("enableConnection desc,lastSyncDateTime"),
            Just("lastSyncDateTime desc"),
            Just("enableConnection,lastSyncDateTime desc,id desc"),
            Just("connectionStatus desc"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Following next tokens from any `$top`, `$skip`, `$filter` and `$orderby`
        /// visits every matching record after the skipped ones exactly once, in order.
        #[test]
        fn paging_visits_every_match_once(
            rows in proptest::collection::vec((any::<bool>(), proptest::option::of(0i64..5), proptest::option::of(0i64..5)), 0..40),
            top in 1u64..12,
            skip in 0u64..6,
            filter in filters(),
            orderby in orderings(),
        ) {
            use crate::odata::query::parse_collection;
            with_scratch_store(async |store, tenant, origin| {
                for (enabled, beat, sync) in &rows {
                    let mut values = Values::new();
                    values.set(PARTNER_ID, Scalar::Text(Uuid::new_v4().to_string()));
                    values.set(ENABLE_CONNECTION, Scalar::Bool(*enabled));
                    // Few distinct values, so sorting meets many ties.
                    values.set("lastSyncDateTime", sync.map_or(Scalar::Null, |m| Scalar::Time(origin + chrono::Duration::minutes(m))));
                    let rec = PartnerRecord {
                        id: Uuid::new_v4(),
                        values,
                        enabled_at: Some(origin),
                        last_heartbeat_at: beat.map(|m| origin + chrono::Duration::minutes(m)),
                        created_at: origin,
                        updated_at: origin,
                        version: 1,
                    };
                    store.pools().execute(&sql::insert(&tenant.to_string(), &rec)).await.unwrap();
                }
                let status = StatusClock { fresh_since: origin + chrono::Duration::minutes(2) };
                let mut options = Vec::new();
                if !filter.is_empty() { options.push(format!("$filter={filter}")); }
                if !orderby.is_empty() { options.push(format!("$orderby={orderby}")); }
                let page = |q: &crate::odata::CollectionQuery| page_of(&store, tenant, status, q.clone());
                let everything = parse_collection(Some(&[options.clone(), vec!["$top=999".into()]].concat().join("&")), &PARTNERS, None).unwrap();
                let all: Vec<Uuid> = page(&everything).await.items.iter().map(|r| r.id).collect();
                let expected: Vec<Uuid> = all.iter().skip(skip as usize).copied().collect();

                let first = [options.clone(), vec![format!("$top={top}"), format!("$skip={skip}")]].concat().join("&");
                let mut q = parse_collection(Some(&first), &PARTNERS, None).unwrap();
                let mut seen = Vec::new();
                for _ in 0..100 {
                    let p = page(&q).await;
                    assert!(p.items.len() as u64 <= top);
                    seen.extend(p.items.iter().map(|r| r.id));
                    let Some(token) = q.next_token(p.next_after.clone()).filter(|_| p.more) else { break };
                    let next = [options.clone(), vec![format!("$top={top}"), format!("$skiptoken={}", token.encode())]].concat().join("&");
                    q = parse_collection(Some(&next), &PARTNERS, None).unwrap();
                }
                assert_eq!(seen, expected);
            });
        }
    }
}
