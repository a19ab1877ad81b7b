//! `migrate-data`: copies every record of an embedded (SQLite) deployment into
//! PostgreSQL, preserving ids, timestamps and versions (so ETags stay valid).
//!
//! Re-runnable: records already in the target (same tenant and id) are skipped. A
//! record whose `partnerId` is already taken by a different record in the same
//! tenant stops the copy with an error, leaving earlier batches in place.

use crate::store::{PgSettings, PostgresStore, SqliteStore};
use anyhow::{bail, Context};
use std::path::Path;

/// Rows copied per transaction.
const BATCH: i64 = 1000;

/// What a migration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MigrationReport {
    pub read: u64,
    pub copied: u64,
    pub skipped: u64,
}

#[derive(sqlx::FromRow)]
struct FullRow {
    tenant_id: String,
    id: String,
    partner_id: String,
    enable_connection: bool,
    enabled_at: Option<i64>,
    last_heartbeat_at: Option<i64>,
    last_sync_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

const INSERT: &str = "INSERT INTO external_partners \
    (tenant_id, id, partner_id, enable_connection, enabled_at, last_heartbeat_at, last_sync_at, created_at, updated_at, version) \
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[]) \
    ON CONFLICT (tenant_id, id) DO NOTHING";

/// Copies all records from `from` (`sqlite:PATH`) to `to` (`postgres://…`).
pub async fn migrate_data(from: &str, to: &str) -> anyhow::Result<MigrationReport> {
    let Some(path) = from
        .strip_prefix("sqlite://")
        .or_else(|| from.strip_prefix("sqlite:"))
    else {
        bail!("--from must be sqlite:PATH (an embedded database file), not '{from}'");
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// URL");
    }
    let path = Path::new(path);
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    let source = SqliteStore::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let target = PostgresStore::connect(to, &PgSettings::default())
        .await
        .with_context(|| format!("cannot connect to {}", crate::store::redact(to)))?;

    let mut report = MigrationReport::default();
    let (mut after_tenant, mut after_id) = (String::new(), String::new());
    loop {
        let rows: Vec<FullRow> = sqlx::query_as(
            "SELECT tenant_id, id, partner_id, enable_connection, enabled_at, last_heartbeat_at, last_sync_at, created_at, updated_at, version \
             FROM external_partners WHERE (tenant_id, id) > ($1, $2) ORDER BY tenant_id, id LIMIT $3",
        )
        .bind(&after_tenant)
        .bind(&after_id)
        .bind(BATCH)
        .fetch_all(source.writer())
        .await?;
        let Some(last) = rows.last() else { break };
        (after_tenant, after_id) = (last.tenant_id.clone(), last.id.clone());
        let copied = sqlx::query(INSERT)
            .bind(rows.iter().map(|r| r.tenant_id.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.partner_id.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.enable_connection).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.enabled_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.last_heartbeat_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.last_sync_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
            .execute(target.pool())
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => anyhow::anyhow!(
                    "a record in the batch after tenant {after_tenant} has a partnerId that a different record in the same tenant already has in the target; resolve it there and run again"
                ),
                _ => anyhow::Error::new(e),
            })?
            .rows_affected();
        report.read += rows.len() as u64;
        report.copied += copied;
        report.skipped += rows.len() as u64 - copied;
    }
    Ok(report)
}
