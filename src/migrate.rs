//! `migrate-data`: copies every record of an embedded (SQLite) deployment into
//! PostgreSQL, preserving ids, timestamps and versions (so ETags stay valid). The
//! columns come from the entity description, so new properties are copied too.
//!
//! Re-runnable: records already in the target (same tenant and id) are skipped. A
//! record whose `partnerId` is already taken by a different record in the same
//! tenant stops the copy with an error, leaving earlier batches in place.

use crate::store::pools::{Access, PgSettings};
use crate::store::row::{names, Cell, Kind, FULL_ROW_COLUMNS};
use crate::store::sql::Statement;
use crate::store::{DatabaseUrl, SqlStore, StoreError};
use anyhow::{bail, Context};

/// Rows copied per statement (one transaction each).
const BATCH: i64 = 1000;

/// What a migration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MigrationReport {
    pub read: u64,
    pub copied: u64,
    pub skipped: u64,
}

/// Copies all records from `from` (`sqlite:PATH`) to `to` (`postgres://…`).
pub async fn migrate_data(
    from: &str,
    to: &str,
    settings: &PgSettings,
) -> anyhow::Result<MigrationReport> {
    let path = match DatabaseUrl::parse(Some(from), std::path::Path::new(".")) {
        Ok(DatabaseUrl::Sqlite(path)) => path,
        _ => bail!("--from must be sqlite:PATH (an embedded database file), not '{from}'"),
    };
    let Ok(DatabaseUrl::Postgres(to)) = DatabaseUrl::parse(Some(to), std::path::Path::new("."))
    else {
        bail!("--to must be a postgres:// URL");
    };
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    let source = SqlStore::sqlite(&path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let target = SqlStore::postgres(&to, settings)
        .await
        .with_context(|| format!("cannot connect to {}", crate::store::redact(&to)))?;

    let kinds: Vec<Kind> = FULL_ROW_COLUMNS.iter().map(|(_, k)| *k).collect();
    let columns = names(&FULL_ROW_COLUMNS);
    let mut report = MigrationReport::default();
    let (mut after_tenant, mut after_id) = (String::new(), String::new());
    loop {
        let mut page = Statement::default();
        let (t, i, n) = (
            page.bind(Cell::Text(after_tenant.clone())),
            page.bind(Cell::Text(after_id.clone())),
            page.bind(Cell::Int(BATCH)),
        );
        page.sql = format!(
            "SELECT {columns} FROM external_partners WHERE (tenant_id, id) > ({t}, {i}) ORDER BY tenant_id, id LIMIT {n}"
        );
        let rows = source.pools().rows(Access::Write, &page, &kinds).await?;
        let Some(last) = rows.last() else { break };
        if let [Cell::Text(tenant), Cell::Text(id), ..] = &last[..] {
            (after_tenant, after_id) = (tenant.clone(), id.clone());
        } else {
            bail!("a stored row has no tenant or id");
        }
        let copied = target
            .pools()
            .execute(&insert_rows(&columns, rows.iter()))
            .await
            .map_err(|e| match &e {
                StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation() => anyhow::anyhow!(
                    "a record in the batch ending at tenant {after_tenant} has a partnerId that a different record in the same tenant already has in the target; resolve it there and run again"
                ),
                _ => anyhow::Error::new(e),
            })?;
        report.read += rows.len() as u64;
        report.copied += copied;
        report.skipped += rows.len() as u64 - copied;
    }
    Ok(report)
}

/// One multi-row `INSERT` that skips rows already present.
fn insert_rows<'a>(columns: &str, rows: impl Iterator<Item = &'a Vec<Cell>>) -> Statement {
    let mut s = Statement::default();
    let tuples: Vec<String> = rows
        .map(|row| {
            let params: Vec<String> = row.iter().map(|c| s.bind(c.clone())).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    s.sql = format!(
        "INSERT INTO external_partners ({columns}) VALUES {} ON CONFLICT (tenant_id, id) DO NOTHING",
        tuples.join(", ")
    );
    s
}
