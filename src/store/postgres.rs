//! The shared store: PostgreSQL, for several stateless server processes behind a load
//! balancer. Same SQL as SQLite (built by `sql`); every write is one statement or one
//! transaction, so processes need no coordination beyond the database's own.

use super::row::PartnerRow;
use super::sql::{self, Bind, Statement};
use super::{Heartbeat, ListRequest, Page, StatusClock, Store, StoreError};
use crate::clock::to_millis;
use crate::model::{NewPartner, PartnerRecord, PartnerUpdate, TenantId};
use crate::odata::Filter;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::{Arguments, PgPool};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// How a process connects to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Most connections this process holds.
    pub pool_size: u32,
    /// How long a request waits for a free connection before it gets a 503.
    pub acquire_timeout: Duration,
    /// The longest any one statement may run (server-side `statement_timeout`).
    pub statement_timeout: Duration,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            pool_size: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Partner connections in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and applies pending migrations. Safe when several processes start at
    /// once: sqlx serialises migrations with a PostgreSQL advisory lock.
    pub async fn connect(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(url)?
            .application_name("cloudpc-partners")
            .options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool; for data migration.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn arguments(binds: &[Bind]) -> Result<PgArguments, StoreError> {
    let mut args = PgArguments::default();
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

async fn fetch_rows(pool: &PgPool, s: Statement) -> Result<Vec<PartnerRow>, StoreError> {
    let args = arguments(&s.binds)?;
    Ok(sqlx::query_as_with::<_, PartnerRow, _>(&s.sql, args)
        .fetch_all(pool)
        .await?)
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_partner(
        &self,
        tenant: TenantId,
        new: &NewPartner,
        now: DateTime<Utc>,
    ) -> Result<PartnerRecord, StoreError> {
        let record = super::new_record(new, now);
        let s = sql::insert(&tenant.to_string(), &record);
        match sqlx::query_with(&s.sql, arguments(&s.binds)?)
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(record),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::DuplicatePartner(new.partner_id))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_partner(&self, tenant: TenantId, id: Uuid) -> Result<PartnerRecord, StoreError> {
        fetch_rows(&self.pool, sql::get(&tenant.to_string(), &id.to_string()))
            .await?
            .into_iter()
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
        match fetch_rows(&self.pool, s).await?.into_iter().next() {
            Some(row) => row.try_into(),
            None => match expected_version {
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
        let done = sqlx::query_with(&s.sql, arguments(&s.binds)?)
            .execute(&self.pool)
            .await?;
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
        let rows = fetch_rows(&self.pool, sql::list(&tenant.to_string(), request)).await?;
        super::page_from_rows(rows, request.limit)
    }

    async fn count_partners(
        &self,
        tenant: TenantId,
        filter: Option<&Filter>,
        status: StatusClock,
    ) -> Result<u64, StoreError> {
        let s = sql::count(&tenant.to_string(), filter, status);
        let n: i64 = sqlx::query_scalar_with(&s.sql, arguments(&s.binds)?)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn find_by_partner(
        &self,
        tenant: TenantId,
        partner_id: Uuid,
    ) -> Result<PartnerRecord, StoreError> {
        fetch_rows(
            &self.pool,
            sql::find_by_partner(&tenant.to_string(), &partner_id.to_string()),
        )
        .await?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound)?
        .try_into()
    }

    async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        let mut sorted: Vec<&Heartbeat> = beats.iter().collect();
        sorted.sort_by_key(|b| (b.tenant.0, b.id));
        let at: Vec<i64> = sorted.iter().map(|b| to_millis(b.at)).collect();
        let tenants: Vec<String> = sorted.iter().map(|b| b.tenant.to_string()).collect();
        let ids: Vec<String> = sorted.iter().map(|b| b.id.to_string()).collect();
        sqlx::query(sql::HEARTBEATS_POSTGRES)
            .bind(at)
            .bind(tenants)
            .bind(ids)
            .execute(&self.pool)
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
        let updated: Option<String> = sqlx::query_scalar_with(&s.sql, arguments(&s.binds)?)
            .fetch_optional(&self.pool)
            .await?;
        match updated {
            Some(_) => Ok(()),
            None => self
                .find_by_partner(tenant, partner_id)
                .await
                .and(Err(StoreError::ConnectionDisabled)),
        }
    }

    async fn status_counts(&self, status: StatusClock) -> Result<[u64; 4], StoreError> {
        let s = sql::status_counts(status);
        let rows: Vec<(i64, i64)> = sqlx::query_as_with(&s.sql, arguments(&s.binds)?)
            .fetch_all(&self.pool)
            .await?;
        Ok(super::fold_status_counts(&rows))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
