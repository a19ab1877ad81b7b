//! `migrate-data`: copies every record of an embedded (SQLite) deployment into
//! PostgreSQL, preserving ids, timestamps and versions (so ETags stay valid), then
//! the agent deployments' results and reports. The columns come from the
//! descriptions, so new properties are copied too.
//!
//! Re-runnable: records already in the target (same tenant and id) are skipped. A
//! record whose `partnerId` is already taken by a different record in the same
//! tenant stops the copy with an error, leaving earlier batches in place.

use crate::store::agent::{REPORTS, RESULTS};
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

    // Connections first: the agent tables refer to them.
    let tables = [
        (
            "external_partners",
            FULL_ROW_COLUMNS.clone(),
            vec!["tenant_id", "id"],
        ),
        (RESULTS.name, RESULTS.full_row(), RESULTS.key.to_vec()),
        (REPORTS.name, REPORTS.full_row(), REPORTS.key.to_vec()),
    ];
    let mut report = MigrationReport::default();
    for (table, columns, key) in &tables {
        let counted = copy_table(&source, &target, table, columns, key).await?;
        // What the report counts is connections; the agent rows come with them.
        if *table == "external_partners" {
            report = counted;
        }
    }
    Ok(report)
}

/// Copies one table, a keyset-paged batch per statement.
async fn copy_table(
    source: &SqlStore,
    target: &SqlStore,
    table: &str,
    columns: &[(&'static str, Kind)],
    key: &[&str],
) -> anyhow::Result<MigrationReport> {
    let kinds: Vec<Kind> = columns.iter().map(|(_, k)| *k).collect();
    let list = names(columns);
    let key_at: Vec<usize> = key
        .iter()
        .filter_map(|k| columns.iter().position(|(c, _)| c == k))
        .collect();
    let mut report = MigrationReport::default();
    let mut after: Vec<String> = vec![String::new(); key.len()];
    loop {
        let mut page = Statement::default();
        let params: Vec<String> = after
            .iter()
            .map(|v| page.bind(Cell::Text(v.clone())))
            .collect();
        let n = page.bind(Cell::Int(BATCH));
        page.sql = format!(
            "SELECT {list} FROM {table} WHERE ({}) > ({}) ORDER BY {} LIMIT {n}",
            key.join(", "),
            params.join(", "),
            key.join(", ")
        );
        let rows = source.pools().rows(Access::Write, &page, &kinds).await?;
        let Some(last) = rows.last() else { break };
        after = key_at
            .iter()
            .map(|i| match &last[*i] {
                Cell::Text(s) => s.clone(),
                _ => String::new(),
            })
            .collect();
        let copied = target
            .pools()
            .execute(&insert_rows(table, &list, key, rows.iter()))
            .await
            .map_err(|e| match &e {
                StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation() => anyhow::anyhow!(
                    "a record of {table} in the batch ending at {after:?} conflicts with a different record already in the target (for connections: the same partnerId in the same tenant); resolve it there and run again"
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
fn insert_rows<'a>(
    table: &str,
    columns: &str,
    key: &[&str],
    rows: impl Iterator<Item = &'a Vec<Cell>>,
) -> Statement {
    let mut s = Statement::default();
    let tuples: Vec<String> = rows
        .map(|row| {
            let params: Vec<String> = row.iter().map(|c| s.bind(c.clone())).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    s.sql = format!(
        "INSERT INTO {table} ({columns}) VALUES {} ON CONFLICT ({}) DO NOTHING",
        tuples.join(", "),
        key.join(", ")
    );
    s
}
