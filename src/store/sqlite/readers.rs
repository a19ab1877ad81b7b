//! SQLite reads that may run long (counts, `$skip` offsets, whatever left the inline
//! budget): a few read-only connections, each statement run on tokio's blocking
//! threads so a runtime thread never waits on the file.

use super::inline_reads::query;
use super::store_error;
use crate::store::row::{Cell, Kind};
use crate::store::sql::Statement;
use crate::store::StoreError;
use rusqlite::OpenFlags;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Read-only connections to one file; clones share them.
#[derive(Debug, Clone)]
pub struct Readers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// SQLite told the file never changes (`migrate-data` from a read-only copy).
    immutable: bool,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// One permit per connection there may be.
    permits: Semaphore,
}

impl Readers {
    /// Up to `connections` readers of `path`, opened when first needed.
    pub fn new(path: &Path, connections: usize, immutable: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                immutable,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(connections),
            }),
        }
    }

    /// Every row of a statement, each column as `kinds` says.
    pub async fn rows(&self, s: &Statement, kinds: &[Kind]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let statement = s.clone();
        let kinds = kinds.to_vec();
        self.with(move |conn| query(conn, &statement, &kinds).map_err(store_error))
            .await
    }

    /// Runs `f` on a reader, on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unreachable("the database is closed".into()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let taken = inner.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match taken {
                Some(c) => c,
                None => inner.connect().map_err(store_error)?,
            };
            let out = f(&conn);
            inner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Database(format!("a read stopped: {e}")))?
    }

    /// Closes the idle connections and refuses further reads.
    pub fn close(&self) {
        self.inner.permits.close();
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Inner {
    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = if self.immutable {
            // A URI, so SQLite takes no locks and reads no -wal file.
            let mut uri =
                url::Url::from_file_path(std::path::absolute(&self.path).map_err(|e| {
                    rusqlite::Error::InvalidPath(format!("{}: {e}", self.path.display()).into())
                })?)
                .map_err(|_| rusqlite::Error::InvalidPath(self.path.clone()))?;
            uri.set_query(Some("immutable=1"));
            rusqlite::Connection::open_with_flags(uri.as_str(), flags)?
        } else {
            rusqlite::Connection::open_with_flags(&self.path, flags)?
        };
        // A reader waits out a checkpoint's brief lock rather than failing.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}
