//! `migrate-data`: copies every record of an embedded (SQLite) deployment into
//! PostgreSQL, preserving ids, timestamps and versions (so ETags stay valid), then
//! the agent deployments' results and reports. The columns come from the
//! descriptions, so new properties are copied too.
//!
//! Re-runnable: records already in the target (same tenant and id) are skipped. A
//! record whose `partnerId` is already taken by a different record in the same
//! tenant stops the copy with an error that names them, leaving earlier batches in
//! place. A source this process may not write (a read-only mount) is read as it is,
//! provided no writes wait in its `-wal` file.

use crate::store::pools::{Access, PgSettings};
use crate::store::row::{names, Cell, Kind};
use crate::store::sql::Statement;
use crate::store::sql::PARTNERS_TABLE;
use crate::store::sqlite;
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
    let source = Source::open(&path).await?;
    let target = SqlStore::postgres(&to, settings)
        .await
        .with_context(|| format!("cannot connect to {}", crate::store::redact(&to)))?;

    // In the store's order: tables others refer to come first.
    let mut report = MigrationReport::default();
    for t in crate::store::stored_tables() {
        let counted = copy_table(&source, &target, t.name, &t.columns, &t.key).await?;
        // What the report counts is connections; the agent rows come with them.
        if t.name == PARTNERS_TABLE {
            report = counted;
        }
    }
    Ok(report)
}

/// Copies one table, a keyset-paged batch per statement.
async fn copy_table(
    source: &Source,
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
        let rows = source.rows(&page, &kinds).await?;
        let Some(last) = rows.last() else { break };
        after = key_at
            .iter()
            .map(|i| match &last[*i] {
                Cell::Text(s) => s.clone(),
                _ => String::new(),
            })
            .collect();
        let copied = match target
            .pools()
            .execute(&insert_rows(table, &list, key, rows.iter()))
            .await
        {
            Ok(n) => n,
            Err(e) if e.is_unique_violation() => {
                let named = match table {
                    PARTNERS_TABLE => taken_partners(target, columns, &rows).await,
                    _ => String::new(),
                };
                bail!(
                    "a record of {table} conflicts with a different record already in the target{named}; resolve it there (delete one of the two) and run again: the batches before it are copied, and records already copied are skipped"
                );
            }
            Err(e) => return Err(e.into()),
        };
        report.read += rows.len() as u64;
        report.copied += copied;
        report.skipped += rows.len() as u64 - copied;
    }
    Ok(report)
}

/// The source database: opened as the service opens it, or, where this process may
/// not write it, read as it is.
enum Source {
    Store(SqlStore),
    ReadOnly(sqlite::Readers),
}

impl Source {
    async fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        match SqlStore::sqlite(path).await {
            Ok(store) => Ok(Source::Store(store)),
            Err(e) if read_only(path) => {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    bail!(
                        "{} cannot be written ({e}), and writes wait in its -wal file, which a read-only copy would miss: start and stop the service on it once where it can write, or copy its folder somewhere writable",
                        path.display()
                    );
                }
                Ok(Source::ReadOnly(sqlite::read_only(path)))
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("cannot open {}", path.display()))),
        }
    }

    async fn rows(&self, s: &Statement, kinds: &[Kind]) -> Result<Vec<Vec<Cell>>, StoreError> {
        match self {
            Source::Store(store) => store.pools().rows(Access::Write, s, kinds).await,
            Source::ReadOnly(readers) => readers.rows(s, kinds).await,
        }
    }
}

/// Whether this process may not write the database file or its folder (a read-only
/// mount, permissions).
fn read_only(path: &std::path::Path) -> bool {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::OpenOptions::new().append(true).open(path).is_err() || tempfile_denied(folder)
}

/// Whether a file cannot be made in `folder` (a read-only mount says so only then).
fn tempfile_denied(folder: &std::path::Path) -> bool {
    let probe = folder.join(format!(".cloudpc-partners-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(_) => true,
    }
}

/// For a conflict in a batch of connections: which records of the batch have a
/// `partnerId` the target already holds under another id in the same tenant.
async fn taken_partners(
    target: &SqlStore,
    columns: &[(&'static str, Kind)],
    rows: &[Vec<Cell>],
) -> String {
    let at = |name: &str| columns.iter().position(|(c, _)| *c == name);
    let (Some(tenant_at), Some(partner_at), Some(id_at)) =
        (at("tenant_id"), at("partner_id"), at("id"))
    else {
        return String::new();
    };
    let text = |c: &Cell| match c {
        Cell::Text(s) => s.clone(),
        _ => String::new(),
    };
    let mut named = Vec::new();
    for row in rows {
        let (tenant, partner, id) = (
            text(&row[tenant_at]),
            text(&row[partner_at]),
            text(&row[id_at]),
        );
        let mut q = Statement::default();
        let (t, p, i) = (
            q.bind(Cell::Text(tenant.clone())),
            q.bind(Cell::Text(partner.clone())),
            q.bind(Cell::Text(id.clone())),
        );
        q.sql = format!(
            "SELECT id FROM external_partners WHERE tenant_id = {t} AND partner_id = {p} AND id <> {i}"
        );
        if let Ok(found) = target.pools().rows(Access::Write, &q, &[Kind::Text]).await {
            if let Some(other) = found.first().map(|r| text(&r[0])) {
                named.push(format!(
                    "tenant {tenant}, partnerId {partner}: id {id} here, id {other} in the target"
                ));
            }
        }
        if named.len() >= 5 {
            break;
        }
    }
    match named.is_empty() {
        true => String::new(),
        false => format!(" ({})", named.join("; ")),
    }
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
