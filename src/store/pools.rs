//! The only code that differs per database: connecting, migrating, and a handful of
//! primitives (run a statement, read rows as cells, write a heartbeat batch), each
//! matched once over the two kinds of pool.

use super::group_commit::{Done, SqliteWriter, Work};
use super::inline_reads::InlineReads;
use super::row::{Cell, Kind};
use super::sql::{self, Statement};
use super::{Heartbeat, StoreError};
use crate::clock::to_millis;
use crate::throwaway::Throwaway;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Arguments, PgPool, Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How a process connects to PostgreSQL (from `config::PostgresConfig`).
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Most connections this process holds.
    pub pool_size: u32,
    /// How long a request waits for a free connection before it gets a 503.
    pub acquire_timeout: Duration,
    /// The longest any one statement may run (server-side `statement_timeout`).
    pub statement_timeout: Duration,
}

/// Whether a statement only reads: on SQLite reads use their own pool beside the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// A read whose cost grows with the table (a count or an offset): on SQLite it
    /// goes straight to the read pool, never inline on a runtime thread.
    Scan,
    Write,
}

/// The connection pools of one database.
#[derive(Debug, Clone)]
pub enum Pools {
    /// One SQLite file in WAL mode. Writes go through a single connection with
    /// `synchronous=FULL` and group commit, so a write that returned is on disk (it
    /// survives `kill -9` and power loss), concurrent writes share one fsync, and
    /// writers never contend for the lock; reads use a small pool of their own that
    /// WAL lets run beside the writer.
    Sqlite {
        writer: SqliteWriter,
        readers: SqlitePool,
        /// Short reads on the calling thread.
        inline: Option<InlineReads>,
        /// The directory of a throwaway database (`--in-memory`), removed with it.
        throwaway: Option<Arc<Throwaway>>,
    },
    /// PostgreSQL, shared by several stateless server processes.
    Postgres(PgPool),
}

impl Pools {
    /// Opens (creating if needed) an SQLite file and applies pending migrations.
    pub async fn sqlite(path: &Path) -> Result<Self, StoreError> {
        Self::sqlite_file(path, true, None).await
    }

    /// A throwaway SQLite database: a file in a directory of its own under the
    /// system's temporary directory, never synced to disk, removed when the store
    /// closes (or the process ends). A file rather than SQLite's `:memory:`, which
    /// only the one connection that made it can see: the writer, the readers and
    /// the inline reads each need a connection.
    pub async fn sqlite_memory() -> Result<Self, StoreError> {
        let dir = Arc::new(Throwaway::create().map_err(|e| {
            StoreError::CannotOpen(format!(
                "cannot make a directory for the database in memory under {}: {e}",
                std::env::temp_dir().display()
            ))
        })?);
        let path = dir.path().join(super::SQLITE_FILE);
        Self::sqlite_file(&path, false, Some(dir)).await
    }

    async fn sqlite_file(
        path: &Path,
        durable: bool,
        throwaway: Option<Arc<Throwaway>>,
    ) -> Result<Self, StoreError> {
        let lock = SqliteWriter::lock_file(path)?;
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // No liveness test per acquire: a local file does not drop connections, and
        // the test is a round trip to the driver's thread on every read.
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await?;
        Ok(Pools::Sqlite {
            writer: SqliteWriter::start(pool, path, durable)?.hold(lock),
            readers,
            inline: Some(InlineReads::new(path.to_path_buf())),
            throwaway,
        })
    }

    /// Connects to PostgreSQL and applies pending migrations. Safe when several
    /// processes start at once: sqlx serialises migrations with an advisory lock.
    pub async fn postgres(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(url)?
            .application_name("cloudpc-partners")
            .options([("statement_timeout", timeout_ms.as_str())]);
        // One direct connection first: a pool that cannot connect reports only
        // "pool timed out", hiding "connection refused" or a bad password.
        {
            use sqlx::Connection;
            let probe = sqlx::PgConnection::connect_with(&options).await?;
            let _ = probe.close().await;
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.pool_size)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Pools::Postgres(pool))
    }

    /// Runs a statement to completion; returns the rows it affected.
    pub async fn execute(&self, s: &Statement) -> Result<u64, StoreError> {
        let done = match self {
            Pools::Sqlite { writer, .. } => match writer.write(Work::Execute(s.clone())).await? {
                Done::Affected(n) => n,
                other => return Err(unexpected(other)),
            },
            Pools::Postgres(pool) => sqlx::query_with(&s.sql, pg_arguments(&s.binds)?)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(done)
    }

    /// Runs a statement and reads every row it returns, each column as `kinds` says.
    /// Always to the end: a write with `RETURNING` reports a failed commit only then.
    pub async fn rows(
        &self,
        access: Access,
        s: &Statement,
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        match self {
            Pools::Sqlite {
                readers, inline, ..
            } if access != Access::Write => {
                if let Some(rows) = inline
                    .as_ref()
                    .filter(|_| access == Access::Read)
                    .and_then(|i| i.rows(s, kinds))
                {
                    return Ok(rows);
                }
                sqlite_rows(readers, s, kinds).await
            }
            Pools::Sqlite { writer, .. } => {
                match writer.write(Work::Rows(s.clone(), kinds.to_vec())).await? {
                    Done::Rows(rows) => Ok(rows),
                    other => Err(unexpected(other)),
                }
            }
            Pools::Postgres(pool) => {
                let rows = sqlx::query_with(&s.sql, pg_arguments(&s.binds)?)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(|r| decode(r, kinds)).collect()
            }
        }
    }

    /// Runs statements in one transaction. A statement paired with an expected row
    /// count that affects a different number of rows rolls it all back; the answer is
    /// then `Err(index)` of that statement.
    pub async fn transaction(
        &self,
        steps: &[(Statement, Option<u64>)],
    ) -> Result<Result<(), usize>, StoreError> {
        match self {
            Pools::Sqlite { writer, .. } => {
                return match writer.write(Work::Steps(steps.to_vec())).await? {
                    Done::Steps(outcome) => Ok(outcome),
                    other => Err(unexpected(other)),
                };
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (i, (s, expect)) in steps.iter().enumerate() {
                    let n = sqlx::query_with(&s.sql, pg_arguments(&s.binds)?)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if expect.is_some_and(|e| e != n) {
                        tx.rollback().await?;
                        return Ok(Err(i));
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(Ok(()))
    }

    /// Writes a batch of heartbeats in one statement (one transaction).
    pub async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite { writer, .. } => {
                // One statement over a JSON array: one transaction, one fsync, and no
                // round trip per row to SQLite's worker thread.
                let rows: Vec<(i64, String, String)> = beats
                    .iter()
                    .map(|b| (to_millis(b.at), b.tenant.to_string(), b.id.to_string()))
                    .collect();
                let json =
                    serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let s = Statement {
                    sql: sql::HEARTBEATS_SQLITE.to_owned(),
                    binds: vec![Cell::Text(json)],
                };
                writer.write(Work::Execute(s)).await?;
            }
            Pools::Postgres(pool) => {
                // Sorted by key so concurrent flushes lock rows in the same order.
                let mut sorted: Vec<&Heartbeat> = beats.iter().collect();
                sorted.sort_by_key(|b| (b.tenant.0, b.id));
                let at: Vec<i64> = sorted.iter().map(|b| to_millis(b.at)).collect();
                let tenants: Vec<String> = sorted.iter().map(|b| b.tenant.to_string()).collect();
                let ids: Vec<String> = sorted.iter().map(|b| b.id.to_string()).collect();
                sqlx::query(sql::HEARTBEATS_POSTGRES)
                    .bind(at)
                    .bind(tenants)
                    .bind(ids)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Folds appended count changes into the running totals (PostgreSQL; SQLite's
    /// triggers update the totals directly) and drops the totals that reached zero.
    pub async fn fold_counts(&self) -> Result<(), StoreError> {
        if let Pools::Postgres(pool) = self {
            sqlx::query(sql::FOLD_COUNTS_POSTGRES).execute(pool).await?;
            sqlx::query(sql::DROP_EMPTY_COUNTS).execute(pool).await?;
        }
        Ok(())
    }

    /// Opens a write transaction and rolls it back: fails when writes would.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite { writer, .. } => {
                // A real write (a table made and rolled back): SQLite lets a read-only
                // connection begin a transaction, and refuses only the write itself.
                let mut tx = writer.pool().begin().await?;
                sqlx::query("CREATE TABLE cloudpc_partners_write_probe (x INTEGER)")
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await?;
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("LOCK TABLE external_partners IN ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await?;
            }
        }
        Ok(())
    }

    /// Checkpoints SQLite's write-ahead log into the database file (so a copy of the
    /// file alone holds everything) and closes the pools.
    pub async fn close(&self) {
        match self {
            Pools::Sqlite {
                writer,
                readers,
                inline,
                throwaway,
            } => {
                if let Some(i) = inline {
                    i.close();
                }
                readers.close().await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(writer.pool())
                    .await
                {
                    tracing::warn!(error = %e, "checkpoint at shutdown failed");
                }
                writer.pool().close().await;
                writer.unlock();
                if let Some(dir) = throwaway {
                    dir.remove();
                }
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }

    /// Succeeds when the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite { readers, .. } => {
                sqlx::query("SELECT 1").execute(readers).await?;
            }
            Pools::Postgres(pool) => {
                // Within a second in all: a readiness probe must not hang on an outage.
                const PROBE: Duration = Duration::from_millis(450);
                match tokio::time::timeout(PROBE, sqlx::query("SELECT 1").execute(pool)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) if !matches!(e, sqlx::Error::PoolTimedOut) => return Err(e.into()),
                    // Every pooled connection busy, or none can be made: a direct
                    // connection tells which, and why (the pool says only "timed out").
                    _ => {
                        use sqlx::Connection;
                        let options = pool.connect_options();
                        let direct =
                            tokio::time::timeout(PROBE, sqlx::PgConnection::connect_with(&options))
                                .await;
                        return Err(match direct {
                            Ok(Ok(conn)) => {
                                let _ = conn.close().await;
                                StoreError::Database(sqlx::Error::PoolTimedOut)
                            }
                            Ok(Err(e)) => StoreError::Unreachable(e),
                            Err(_) => {
                                StoreError::Unreachable(sqlx::Error::Io(std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    format!(
                                        "no answer from PostgreSQL within {} ms",
                                        PROBE.as_millis()
                                    ),
                                )))
                            }
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// An embedded database opened only to read it, for `migrate-data` from a file this
/// process may not write (a read-only mount, another user's folder): no lock, no
/// migrations, SQLite told the file will not change. The caller makes sure nothing
/// waits in a `-wal` file, which such a connection would not see.
pub async fn sqlite_read_only(path: &Path) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Rows of a statement on an SQLite pool: the readers', or one from
/// [`sqlite_read_only`].
pub async fn sqlite_rows(
    pool: &SqlitePool,
    s: &Statement,
    kinds: &[Kind],
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let rows = sqlx::query_with(&s.sql, sqlite_arguments(&s.binds)?)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| decode(r, kinds)).collect()
}

/// A writer's answer of the wrong shape: a bug here, never the client's doing.
fn unexpected(done: Done) -> StoreError {
    StoreError::Corrupt(format!(
        "the writer answered {done:?} to another kind of write"
    ))
}

pub(super) fn sqlite_arguments(binds: &[Cell]) -> Result<SqliteArguments<'static>, StoreError> {
    let mut args = SqliteArguments::default();
    for b in binds {
        add(&mut args, b)?;
    }
    Ok(args)
}

fn pg_arguments(binds: &[Cell]) -> Result<PgArguments, StoreError> {
    let mut args = PgArguments::default();
    for b in binds {
        add(&mut args, b)?;
    }
    Ok(args)
}

/// Binds one cell; `Statement::bind` writes nulls inline, so none arrive here.
fn add<'q, A>(args: &mut A, cell: &Cell) -> Result<(), StoreError>
where
    A: Arguments<'q>,
    bool: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    i64: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<i64>: sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    let added = match cell {
        Cell::Bool(v) => args.add(*v),
        Cell::Int(v) => args.add(*v),
        Cell::Text(v) => args.add(v.clone()),
        Cell::Null => args.add(None::<i64>),
    };
    added.map_err(sqlx::Error::Encode)?;
    Ok(())
}

/// Reads one row's columns as cells.
pub(super) fn decode<R>(row: &R, kinds: &[Kind]) -> Result<Vec<Cell>, StoreError>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let cell = match kind {
                Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Cell::Bool),
                Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Cell::Int),
                Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Cell::Text),
            };
            Ok(cell.unwrap_or(Cell::Null))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database that only opens read-only (a data dir this process cannot write)
    /// is refused at start-up rather than failing every write later.
    #[tokio::test]
    async fn a_read_only_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writable = Pools::sqlite(&path).await.unwrap();
        assert!(writable.check_writable().await.is_ok());
        writable.close().await;
        let read_only = SqliteConnectOptions::new().filename(&path).read_only(true);
        let pool = SqlitePoolOptions::new()
            .connect_with(read_only)
            .await
            .unwrap();
        let pools = Pools::Sqlite {
            writer: SqliteWriter::start(pool.clone(), &path, true).unwrap(),
            readers: pool,
            inline: None,
            throwaway: None,
        };
        assert!(pools.check_writable().await.is_err());
    }
}
