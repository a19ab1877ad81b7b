//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through a single connection with `synchronous=FULL`, so a write that
//! returned is on disk (it survives `kill -9` and power loss) and writers never
//! contend for the lock; reads use a small pool of their own that WAL lets run
//! beside the writer.

use super::row::PartnerRow;
use super::sql::{self, Bind, Statement};
use super::{Heartbeat, ListRequest, Page, StatusClock, Store, StoreError};
use crate::clock::to_millis;
use crate::model::{NewPartner, PartnerRecord, PartnerUpdate, TenantId};
use crate::odata::Filter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Arguments, SqlitePool};
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

/// Partner connections in an embedded SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }

    /// The pool writes go through; for the heartbeat flusher and data migration.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }
}

pub(crate) fn arguments(binds: &[Bind]) -> Result<SqliteArguments<'static>, StoreError> {
    let mut args = SqliteArguments::default();
    for b in binds {
        let added = match b {
            Bind::Bool(v) => args.add(*v),
            Bind::Int(v) => args.add(*v),
            Bind::Text(v) => args.add(v.clone()),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

async fn fetch_rows(pool: &SqlitePool, s: Statement) -> Result<Vec<PartnerRow>, StoreError> {
    let args = arguments(&s.binds)?;
    Ok(sqlx::query_as_with::<_, PartnerRow, _>(&s.sql, args)
        .fetch_all(pool)
        .await?)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_partner(
        &self,
        tenant: TenantId,
        new: &NewPartner,
        now: DateTime<Utc>,
    ) -> Result<PartnerRecord, StoreError> {
        let record = super::new_record(new, now);
        let s = sql::insert(&tenant.to_string(), &record);
        let args = arguments(&s.binds)?;
        match sqlx::query_with(&s.sql, args).execute(&self.writer).await {
            Ok(_) => Ok(record),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::DuplicatePartner(new.partner_id))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_partner(&self, tenant: TenantId, id: Uuid) -> Result<PartnerRecord, StoreError> {
        let rows = fetch_rows(
            &self.readers,
            sql::get(&tenant.to_string(), &id.to_string()),
        )
        .await?;
        rows.into_iter()
            .next()
            .ok_or(StoreError::NotFound)?
            .try_into()
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
            update.enable_connection,
            expected_version,
            to_millis(now),
        );
        match fetch_rows(&self.writer, s).await?.into_iter().next() {
            Some(row) => row.try_into(),
            None => match expected_version {
                // Tell "gone" from "changed under you".
                Some(_) => self
                    .get_partner(tenant, id)
                    .await
                    .and(Err(StoreError::VersionMismatch)),
                None => Err(StoreError::NotFound),
            },
        }
    }

    async fn delete_partner(
        &self,
        tenant: TenantId,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let s = sql::delete(&tenant.to_string(), &id.to_string(), expected_version);
        let args = arguments(&s.binds)?;
        let done = sqlx::query_with(&s.sql, args).execute(&self.writer).await?;
        match (done.rows_affected(), expected_version) {
            (0, Some(_)) => self
                .get_partner(tenant, id)
                .await
                .and(Err(StoreError::VersionMismatch)),
            (0, None) => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn list_partners(
        &self,
        tenant: TenantId,
        request: &ListRequest<'_>,
    ) -> Result<Page, StoreError> {
        let rows = fetch_rows(&self.readers, sql::list(&tenant.to_string(), request)).await?;
        super::page_from_rows(rows, request.limit)
    }

    async fn count_partners(
        &self,
        tenant: TenantId,
        filter: Option<&Filter>,
        status: StatusClock,
    ) -> Result<u64, StoreError> {
        let s = sql::count(&tenant.to_string(), filter, status);
        let args = arguments(&s.binds)?;
        let n: i64 = sqlx::query_scalar_with(&s.sql, args)
            .fetch_one(&self.readers)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn find_by_partner(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
    ) -> Result<PartnerRecord, StoreError> {
        let s = sql::find_by_partner(&tenant.to_string(), &partner_id.to_string());
        fetch_rows(&self.readers, s)
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        // The whole batch as one statement over a JSON array: one transaction, one
        // fsync, and no round trip per row to SQLite's worker thread.
        let rows: Vec<(i64, String, String)> = beats
            .iter()
            .map(|b| (to_millis(b.at), b.tenant.to_string(), b.id.to_string()))
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(sql::HEARTBEATS_SQLITE)
            .bind(json)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn record_sync(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let s = sql::sync(&tenant.to_string(), &partner_id.to_string(), to_millis(at));
        let args = arguments(&s.binds)?;
        let updated: Option<String> = sqlx::query_scalar_with(&s.sql, args)
            .fetch_optional(&self.writer)
            .await?;
        match updated {
            Some(_) => Ok(()),
            // Tell "no such connection" from "disabled".
            None => self
                .find_by_partner(tenant, partner_id)
                .await
                .and(Err(StoreError::ConnectionDisabled)),
        }
    }

    async fn status_counts(&self, status: StatusClock) -> Result<[u64; 4], StoreError> {
        let s = sql::status_counts(status);
        let args = arguments(&s.binds)?;
        let rows: Vec<(i64, i64)> = sqlx::query_as_with(&s.sql, args)
            .fetch_all(&self.readers)
            .await?;
        Ok(super::fold_status_counts(&rows))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{derive_status, ConnectionStatus, HealthPolicy};
    use crate::odata::filter::parse_filter;
    use crate::odata::EntityShape;
    use proptest::prelude::*;

    /// (enabled, enabled_at, last heartbeat) in seconds from an origin.
    type Row = (bool, Option<i64>, Option<i64>);

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
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
                let tenant = TenantId(Uuid::nil());
                let origin = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
                let at = |s: i64| origin + chrono::Duration::seconds(s);
                let policy = HealthPolicy { heartbeat_timeout: chrono::Duration::seconds(300) };
                let mut expected = [0u64; 4];
                for (enabled, enabled_at, beat) in &rows {
                    let rec = PartnerRecord {
                        id: Uuid::new_v4(),
                        partner_id: Uuid::new_v4(),
                        enable_connection: *enabled,
                        enabled_at: enabled_at.map(at),
                        last_heartbeat_at: beat.map(at),
                        last_sync_at: None,
                        created_at: origin,
                        updated_at: origin,
                        version: 1,
                    };
                    expected[derive_status(&rec, at(now), &policy).status.value() as usize] += 1;
                    sqlx::query("INSERT INTO external_partners (tenant_id, id, partner_id, enable_connection, enabled_at, last_heartbeat_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, 0)")
                        .bind(tenant.to_string())
                        .bind(rec.id.to_string())
                        .bind(rec.partner_id.to_string())
                        .bind(rec.enable_connection)
                        .bind(rec.enabled_at.map(to_millis))
                        .bind(rec.last_heartbeat_at.map(to_millis))
                        .execute(store.writer())
                        .await
                        .unwrap();
                }
                let clock = StatusClock { fresh_since: policy.fresh_since(at(now)) };
                for s in ConnectionStatus::ALL {
                    let f = parse_filter(&format!("connectionStatus eq '{}'", s.as_str()), &EntityShape::PARTNERS).unwrap();
                    let n = store.count_partners(tenant, Some(&f), clock).await.unwrap();
                    assert_eq!(n, expected[s.value() as usize], "{s:?}");
                }
                assert_eq!(store.status_counts(clock).await.unwrap(), expected);
            });
        }
    }
}
