//! The one place that matches on the database: each primitive the store runs
//! (a statement, rows read as cells, a transaction, a heartbeat batch) handed to
//! `sqlite` or `postgres`, which know how their database runs it.

pub use super::postgres::PgSettings;
use super::postgres::{buckets::Buckets, Postgres};
use super::record_cache::WriteEpoch;
use super::row::{Cell, Kind};
use super::sql::Statement;
use super::sqlite::Sqlite;
use super::{Heartbeat, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Whether a statement only reads: on SQLite reads run beside the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// A read whose cost grows with the table (a count or an offset): on SQLite it
    /// goes straight to a reader, never inline on a runtime thread.
    Scan,
    Write,
}

/// The connections of one database.
#[derive(Debug, Clone)]
pub enum Pools {
    /// One SQLite file, this process its only user.
    Sqlite(Sqlite),
    /// PostgreSQL, shared by several server processes.
    Postgres(Postgres),
}

impl Pools {
    /// Opens (creating if needed) an SQLite file and applies pending migrations.
    pub async fn sqlite(path: &Path) -> Result<Self, StoreError> {
        Ok(Pools::Sqlite(Sqlite::open(path).await?))
    }

    /// A throwaway SQLite database (see [`Sqlite::memory`]).
    pub async fn sqlite_memory() -> Result<Self, StoreError> {
        Ok(Pools::Sqlite(Sqlite::memory().await?))
    }

    /// Connects to PostgreSQL and applies pending migrations.
    pub async fn postgres(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        Ok(Pools::Postgres(Postgres::connect(url, settings).await?))
    }

    /// Runs a statement to completion; returns the rows it affected.
    pub async fn execute(&self, s: &Statement) -> Result<u64, StoreError> {
        match self {
            Pools::Sqlite(db) => db.execute(s).await,
            Pools::Postgres(db) => db.execute(s).await,
        }
    }

    /// Runs a statement and reads every row it returns, each column as `kinds` says.
    /// Always to the end: a write with `RETURNING` reports a failed commit only then.
    pub async fn rows(
        &self,
        access: Access,
        s: &Statement,
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        match (self, access) {
            (Pools::Sqlite(db), Access::Write) => db.write_rows(s, kinds).await,
            (Pools::Sqlite(db), access) => db.read(s, kinds, access == Access::Read).await,
            (Pools::Postgres(db), Access::Write) => db.write_rows(s, kinds).await,
            (Pools::Postgres(db), access) => db.rows(s, kinds, access == Access::Read).await,
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
            Pools::Sqlite(db) => db.transaction(steps).await,
            Pools::Postgres(db) => db.transaction(steps).await,
        }
    }

    /// Writes a batch of heartbeats in one statement (one transaction).
    pub async fn record_heartbeats(&self, beats: &[Heartbeat]) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite(db) => db.record_heartbeats(beats).await,
            Pools::Postgres(db) => db.record_heartbeats(beats).await,
        }
    }

    /// Folds appended count changes into the running totals (PostgreSQL; SQLite's
    /// triggers update the totals directly) and drops the totals that reached zero.
    pub async fn fold_counts(&self) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite(_) => Ok(()),
            Pools::Postgres(db) => db.fold_counts().await,
        }
    }

    /// Fails when writes would (a write, undone).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite(db) => db.check_writable().await,
            Pools::Postgres(db) => db.check_writable().await,
        }
    }

    /// Writes everything to the database and closes the connections.
    pub async fn close(&self) {
        match self {
            Pools::Sqlite(db) => db.close().await,
            Pools::Postgres(db) => db.close(),
        }
    }

    /// Succeeds when the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Pools::Sqlite(db) => db.ping().await,
            Pools::Postgres(db) => db.ping().await,
        }
    }

    /// The count of writes begun and ended, where this process is the only writer
    /// (SQLite): what it read between its writes can be kept.
    pub fn sole_writer(&self) -> Option<Arc<WriteEpoch>> {
        match self {
            Pools::Sqlite(db) => Some(db.writes().clone()),
            Pools::Postgres(_) => None,
        }
    }

    /// Throttling buckets kept in the database, where several processes share it.
    pub fn buckets(&self) -> Option<Buckets> {
        match self {
            Pools::Sqlite(_) => None,
            Pools::Postgres(db) => Some(Buckets(db.clone())),
        }
    }

    /// Whether several processes may share this database.
    pub fn is_shared(&self) -> bool {
        matches!(self, Pools::Postgres(_))
    }
}
