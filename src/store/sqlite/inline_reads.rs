//! SQLite reads on the calling thread. The read pool runs each statement on a driver
//! thread and wakes the caller when it is done: two thread hand-offs, which cost a GET
//! by id more than the read itself. Here each runtime thread keeps a read-only
//! connection of its own and runs the statement where it is, within a budget of
//! SQLite VM steps: a statement that would run longer (a scan), or that meets a lock,
//! is abandoned at no cost to the data and goes to the read pool instead, so the
//! runtime thread is never held for more than about a millisecond.

use crate::store::row::{Cell, Kind};
use crate::store::sql::Statement;
use rusqlite::types::ValueRef;
use rusqlite::{ErrorCode, OpenFlags};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};

/// VM steps between two calls of the progress handler.
const STEPS_PER_TICK: i32 = 1_000;
/// Ticks a statement may run inline: 100,000 steps, about a millisecond here, enough
/// for a point read or a page of a few hundred rows.
const TICKS: u32 = 100;

/// Runs reads of one SQLite file on the caller's thread.
#[derive(Debug, Clone)]
pub struct InlineReads {
    path: PathBuf,
    /// Identifies this database among the thread's connections, and says whether it
    /// is still open; the connections of one closed or gone are dropped.
    open: Arc<AtomicBool>,
}

struct ThreadConnection {
    db: Weak<AtomicBool>,
    conn: rusqlite::Connection,
    ticks: Arc<AtomicU32>,
}

thread_local! {
    static CONNECTIONS: RefCell<HashMap<usize, ThreadConnection>> = RefCell::new(HashMap::new());
}

impl InlineReads {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            open: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The statement's rows, or `None` when it goes to the read pool instead: it ran
    /// past the budget, met a lock, or failed here (the pool then reports the error
    /// as every other read does).
    pub fn rows(&self, s: &Statement, kinds: &[Kind]) -> Option<Vec<Vec<Cell>>> {
        if !self.open.load(Ordering::Relaxed) {
            return None;
        }
        let key = Arc::as_ptr(&self.open) as usize;
        let outcome = CONNECTIONS.with(|cell| {
            let mut map = cell.borrow_mut();
            if !map.contains_key(&key) {
                // Rare (once per thread and database): forget databases that closed.
                map.retain(|_, c| c.db.upgrade().is_some_and(|o| o.load(Ordering::Relaxed)));
                map.insert(key, self.connect().map_err(|_| "error")?);
            }
            let c = map.get(&key).ok_or("error")?;
            c.ticks.store(0, Ordering::Relaxed);
            run(&c.conn, s, kinds)
        });
        match outcome {
            Ok(rows) => Some(rows),
            Err(reason) => {
                metrics::counter!("sqlite_inline_read_fallbacks_total", "reason" => reason)
                    .increment(1);
                None
            }
        }
    }

    /// Stops reading inline; each thread closes its connection when it next opens one.
    pub fn close(&self) {
        self.open.store(false, Ordering::Relaxed);
    }

    fn connect(&self) -> rusqlite::Result<ThreadConnection> {
        let mut conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait for a lock here: the readers wait, on blocking threads.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(64);
        let ticks = Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        conn.progress_handler(
            STEPS_PER_TICK,
            Some(move || counter.fetch_add(1, Ordering::Relaxed) >= TICKS),
        )?;
        Ok(ThreadConnection {
            db: Arc::downgrade(&self.open),
            conn,
            ticks,
        })
    }
}

/// Why a statement left for the pool: "budget", "busy" or "error".
type Fallback = &'static str;

fn fallback(e: rusqlite::Error) -> Fallback {
    match e.sqlite_error_code() {
        Some(ErrorCode::OperationInterrupted) => "budget",
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => "busy",
        _ => "error",
    }
}

fn run(
    conn: &rusqlite::Connection,
    s: &Statement,
    kinds: &[Kind],
) -> Result<Vec<Vec<Cell>>, Fallback> {
    query(conn, s, kinds).map_err(fallback)
}

/// Every row of a statement, run to its end (a write with `RETURNING` reports a
/// failure only then), each column as `kinds` says.
pub(super) fn query(
    conn: &rusqlite::Connection,
    s: &Statement,
    kinds: &[Kind],
) -> rusqlite::Result<Vec<Vec<Cell>>> {
    let mut stmt = conn.prepare_cached(&s.sql)?;
    bind_all(&mut stmt, s)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(cells(row, kinds)?);
    }
    Ok(out)
}

/// Binds `s`'s values to its prepared statement. Parameters are written `$N` (see
/// `sql::Statement`); SQLite names them "$N".
fn bind_all(stmt: &mut rusqlite::Statement<'_>, s: &Statement) -> rusqlite::Result<()> {
    for i in 1..=stmt.parameter_count() {
        let value = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| s.binds.get(n.wrapping_sub(1)))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(format!("parameter {i}")))?;
        match value {
            Cell::Null => stmt.raw_bind_parameter(i, rusqlite::types::Null),
            Cell::Bool(b) => stmt.raw_bind_parameter(i, i64::from(*b)),
            Cell::Int(v) => stmt.raw_bind_parameter(i, *v),
            Cell::Text(t) => stmt.raw_bind_parameter(i, t.as_str()),
        }?;
    }
    Ok(())
}

/// A row's columns as `kinds` says; a column holding another type is an error.
fn cells(row: &rusqlite::Row<'_>, kinds: &[Kind]) -> rusqlite::Result<Vec<Cell>> {
    let mut out = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let v = row.get_ref(i)?;
        out.push(cell(v, *kind).ok_or_else(|| {
            rusqlite::Error::InvalidColumnType(i, format!("{kind:?}"), v.data_type())
        })?);
    }
    Ok(out)
}

/// A column value as `kind`; `None` for a value of another type.
fn cell(v: ValueRef<'_>, kind: Kind) -> Option<Cell> {
    Some(match (kind, v) {
        (_, ValueRef::Null) => Cell::Null,
        (Kind::Bool, ValueRef::Integer(i)) => Cell::Bool(i != 0),
        (Kind::Int, ValueRef::Integer(i)) => Cell::Int(i),
        (Kind::Text, ValueRef::Text(t)) => Cell::Text(std::str::from_utf8(t).ok()?.to_owned()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::Sqlite as Pools;

    fn statement(sql: &str, binds: Vec<Cell>) -> Statement {
        Statement {
            sql: sql.into(),
            binds,
            row: None,
        }
    }

    #[tokio::test]
    async fn short_reads_run_here_and_see_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let pools = Pools::open(&path).await.unwrap();
        let inline = InlineReads::new(path);
        let read = statement(
            "SELECT COUNT(*), MAX(n) FROM partner_counts WHERE tenant_id = $2 AND n > $1",
            vec![Cell::Int(0), Cell::Text("t".into())],
        );
        assert_eq!(
            inline.rows(&read, &[Kind::Int, Kind::Int]),
            Some(vec![vec![Cell::Int(0), Cell::Null]])
        );
        for n in [3, 7] {
            pools
                .execute(&statement(
                    "INSERT INTO partner_counts (tenant_id, kind, second, n) VALUES ($1, $2, 0, $2)",
                    vec![Cell::Text("t".into()), Cell::Int(n)],
                ))
                .await
                .unwrap();
            // The write was acknowledged, so this thread's connection sees it.
            assert_eq!(
                inline.rows(&read, &[Kind::Int, Kind::Int]),
                Some(vec![vec![
                    Cell::Int(if n == 3 { 1 } else { 2 }),
                    Cell::Int(n)
                ]])
            );
        }
        // Booleans and text decode as the pool decodes them.
        let typed = statement("SELECT 1 = 1, 'x', NULL", vec![]);
        assert_eq!(
            inline.rows(&typed, &[Kind::Bool, Kind::Text, Kind::Text]),
            Some(vec![vec![
                Cell::Bool(true),
                Cell::Text("x".into()),
                Cell::Null
            ]])
        );
        pools.close().await;
    }

    #[tokio::test]
    async fn long_statements_and_closed_databases_go_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let pools = Pools::open(&path).await.unwrap();
        let inline = InlineReads::new(path);
        let scan = statement(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000) \
             SELECT COUNT(*) FROM n",
            vec![],
        );
        let started = std::time::Instant::now();
        assert_eq!(inline.rows(&scan, &[Kind::Int]), None);
        // Abandoned at the budget, long before the statement would end.
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
        // A statement that refers to a parameter it was not given is not run here.
        let unbound = statement("SELECT $1", vec![]);
        assert_eq!(inline.rows(&unbound, &[Kind::Int]), None);
        let one = statement("SELECT 1", vec![]);
        assert_eq!(
            inline.rows(&one, &[Kind::Int]),
            Some(vec![vec![Cell::Int(1)]])
        );
        inline.close();
        assert_eq!(inline.rows(&one, &[Kind::Int]), None);
        pools.close().await;
    }
}
