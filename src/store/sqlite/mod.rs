//! How SQLite runs what the store asks, on one driver (`rusqlite`): one file in WAL
//! mode; writes through a single connection on a thread of its own, with
//! `synchronous=FULL` and group commit, so a write that returned is on disk (it
//! survives `kill -9` and power loss), concurrent writes share one fsync, and
//! writers never contend for the lock; short reads on the calling thread within a
//! step budget; longer reads on a few read-only connections on blocking threads,
//! which WAL lets run beside the writer.

mod group_commit;
mod inline_reads;
mod readers;

use super::migrations::{self, Applied};
use super::row::{Cell, Kind};
use super::sql::{self, Statement};
use super::{Heartbeat, StoreError, Violation};
use crate::clock::to_millis;
use crate::throwaway::Throwaway;
pub use group_commit::SqliteWriter;
use group_commit::{Done, Work};
use inline_reads::InlineReads;
pub use readers::Readers;
use rusqlite::ErrorCode;
use std::path::Path;
use std::sync::Arc;

/// Read-only connections beside the writer.
pub const READERS: usize = 4;

/// One SQLite database, open.
#[derive(Debug, Clone)]
pub struct Sqlite {
    writer: SqliteWriter,
    readers: Readers,
    /// Short reads on the calling thread.
    inline: Option<InlineReads>,
    /// The directory of a throwaway database (`--in-memory`), removed with it.
    throwaway: Option<Arc<Throwaway>>,
}

impl Sqlite {
    /// Opens (creating if needed) an SQLite file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::file(path, true, None).await
    }

    /// A throwaway SQLite database: a file in a directory of its own under the
    /// system's temporary directory, never synced to disk, removed when the store
    /// closes (or the process ends). A file rather than SQLite's `:memory:`, which
    /// only the one connection that made it can see: the writer, the readers and
    /// the inline reads each need a connection.
    pub async fn memory() -> Result<Self, StoreError> {
        let dir = Arc::new(Throwaway::create().map_err(|e| {
            StoreError::CannotOpen(format!(
                "cannot make a directory for the database in memory under {}: {e}",
                std::env::temp_dir().display()
            ))
        })?);
        let path = dir.path().join(super::SQLITE_FILE);
        Self::file(&path, false, Some(dir)).await
    }

    async fn file(
        path: &Path,
        durable: bool,
        throwaway: Option<Arc<Throwaway>>,
    ) -> Result<Self, StoreError> {
        let lock = SqliteWriter::lock_file(path)?;
        let at = path.to_owned();
        tokio::task::spawn_blocking(move || create_and_migrate(&at))
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))??;
        Ok(Self {
            writer: SqliteWriter::open(path, durable)?.hold(lock),
            readers: Readers::new(path, READERS, false),
            inline: Some(InlineReads::new(path.to_path_buf())),
            throwaway,
        })
    }

    /// The count of batches begun and ended, for what is kept between writes.
    pub fn writes(&self) -> &Arc<super::record_cache::WriteEpoch> {
        self.writer.writes()
    }

    /// Runs a statement to completion; returns the rows it affected.
    pub async fn execute(&self, s: &Statement) -> Result<u64, StoreError> {
        match self.writer.write(Work::Execute(s.clone())).await? {
            Done::Affected(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// A read: inline when it is short, on a reader otherwise (always for a scan).
    pub async fn read(
        &self,
        s: &Statement,
        kinds: &[Kind],
        short: bool,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        if let Some(rows) = self
            .inline
            .as_ref()
            .filter(|_| short)
            .and_then(|i| i.rows(s, kinds))
        {
            return Ok(rows);
        }
        self.readers.rows(s, kinds).await
    }

    /// A write that returns rows, through the writer.
    pub async fn write_rows(
        &self,
        s: &Statement,
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        match self
            .writer
            .write(Work::Rows(s.clone(), kinds.to_vec()))
            .await?
        {
            Done::Rows(rows) => Ok(rows),
            other => Err(unexpected(other)),
        }
    }

    /// Statements in one transaction (see `Pools::transaction`).
    pub async fn transaction(
        &self,
        steps: &[(Statement, Option<u64>)],
    ) -> Result<Result<(), usize>, StoreError> {
        match self.writer.write(Work::Steps(steps.to_vec())).await? {
            Done::Steps(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a batch of heartbeats in one statement over a JSON array: one
    /// transaction, one fsync, and no round trip per row to the writer's thread.
    pub async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        let rows: Vec<(i64, String, String)> = beats
            .iter()
            .map(|b| (to_millis(b.at), b.tenant.to_string(), b.id.to_string()))
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let s = Statement {
            sql: sql::HEARTBEATS_SQLITE.to_owned(),
            binds: vec![Cell::Text(json)],
            row: None,
        };
        self.execute(&s).await.map(|_| ())
    }

    /// Fails when writes would (a write made and undone by the writer).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.writer.write(Work::Probe).await.map(|_| ())
    }

    /// Succeeds when the file answers a read.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let one = Statement {
            sql: "SELECT 1".into(),
            binds: Vec::new(),
            row: None,
        };
        self.readers.rows(&one, &[Kind::Int]).await.map(|_| ())
    }

    /// Checkpoints the write-ahead log into the database file (so a copy of the file
    /// alone holds everything), closes the connections and lets another process in.
    pub async fn close(&self) {
        if let Some(i) = &self.inline {
            i.close();
        }
        self.readers.close();
        if let Err(e) = self.writer.write(Work::Checkpoint).await {
            tracing::warn!(error = %e, "checkpoint at shutdown failed");
        }
        self.writer.unlock();
        if let Some(dir) = &self.throwaway {
            dir.remove();
        }
    }
}

/// Creates the file in WAL mode if needed and applies pending migrations, each in a
/// transaction of its own with its record.
fn create_and_migrate(path: &Path) -> Result<(), StoreError> {
    let mut conn = rusqlite::Connection::open(path).map_err(store_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(store_error)?;
    // WAL stays set in the file once set.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(store_error)?;
    conn.execute_batch(&migrations::ledger_ddl("BLOB", "TIMESTAMP"))
        .map_err(store_error)?;
    let applied = {
        let mut stmt = conn
            .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .map_err(store_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Applied {
                    version: r.get(0)?,
                    success: r.get(1)?,
                    checksum: r.get(2)?,
                })
            })
            .map_err(store_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(store_error)?
    };
    for m in migrations::pending(migrations::SQLITE, &applied)? {
        let started = std::time::Instant::now();
        let tx = conn.transaction().map_err(store_error)?;
        tx.execute_batch(m.sql).map_err(|e| {
            StoreError::Migrate(format!("migration {} ({}): {e}", m.version, m.description))
        })?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                m.version,
                m.description,
                m.checksum(),
                i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)
            ],
        )
        .map_err(store_error)?;
        tx.commit().map_err(store_error)?;
    }
    Ok(())
}

/// An embedded database opened only to read it, for `migrate-data` from a file this
/// process may not write (a read-only mount, another user's folder): no lock, no
/// migrations, SQLite told the file will not change. The caller makes sure nothing
/// waits in a `-wal` file, which such a connection would not see.
pub fn read_only(path: &Path) -> Readers {
    Readers::new(path, 1, true)
}

/// A writer's answer of the wrong shape: a bug here, never the client's doing.
fn unexpected(done: Done) -> StoreError {
    StoreError::Corrupt(format!(
        "the writer answered {done:?} to another kind of write"
    ))
}

/// SQLite's refusal in the store's terms: a broken constraint by kind, a full disk or
/// an I/O error as storage failing, anything else as a database error.
fn store_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(failure, message) = &e else {
        return StoreError::Database(e.to_string());
    };
    let text = message.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        ErrorCode::ConstraintViolation => {
            let kind = match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    Violation::Unique
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Violation::ForeignKey,
                ffi::SQLITE_CONSTRAINT_NOTNULL => Violation::NotNull,
                ffi::SQLITE_CONSTRAINT_CHECK => Violation::Check,
                _ => return StoreError::Database(text),
            };
            StoreError::Violation(kind, text)
        }
        ErrorCode::SystemIoFailure | ErrorCode::DiskFull => StoreError::Storage(text),
        ErrorCode::CannotOpen | ErrorCode::NotADatabase | ErrorCode::ReadOnly => {
            StoreError::CannotOpen(text)
        }
        _ => StoreError::Database(text),
    }
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
        let writable = Sqlite::open(&path).await.unwrap();
        assert!(writable.check_writable().await.is_ok());
        writable.close().await;
        let read_only = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let db = Sqlite {
            writer: SqliteWriter::start(read_only).unwrap(),
            readers: Readers::new(&path, 1, false),
            inline: None,
            throwaway: None,
        };
        assert!(db.check_writable().await.is_err());
    }

    /// Migrations run once: a second open finds them recorded.
    #[tokio::test]
    async fn a_second_open_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        for _ in 0..2 {
            let db = Sqlite::open(&path).await.unwrap();
            let n = db
                .read(
                    &Statement {
                        sql: "SELECT COUNT(*) FROM _sqlx_migrations WHERE success".into(),
                        binds: vec![],
                        row: None,
                    },
                    &[Kind::Int],
                    true,
                )
                .await
                .unwrap();
            assert_eq!(n, vec![vec![Cell::Int(migrations::SQLITE.len() as i64)]]);
            db.close().await;
        }
    }
}
