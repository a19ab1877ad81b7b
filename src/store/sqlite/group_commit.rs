//! Group commit for SQLite's single writing connection. Writes that arrive while a
//! commit is being made durable wait, then share the next transaction and its one
//! fsync; each is answered only after that commit, so a 2xx still means "on disk".
//!
//! The connection belongs to a thread of its own that runs each batch from `BEGIN`
//! to `COMMIT` without leaving it. Through the async driver every statement of a
//! batch was a hand-off to the driver's thread and back: a create spent more CPU in
//! those hand-offs (futex waits and wakes, context switches) than in SQLite.
//! A write of several statements runs inside its own savepoint, and a single statement
//! is atomic by itself, so one that fails (a duplicate partner, a stale ETag) is undone
//! alone and the others in its batch still commit.

use super::inline_reads::query;
use super::store_error;
use crate::store::record_cache::WriteEpoch;
use crate::store::row::{Cell, Kind};
use crate::store::sql::Statement;
use crate::store::StoreError;
use rusqlite::OpenFlags;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction carries: enough to share an fsync among many
/// clients, few enough that one batch never holds the file for long.
const MAX_BATCH: usize = 256;
/// Log pages after which a commit copies the log into the database file (SQLite's
/// default is 1,000). The copy runs inside that commit, and every write queued
/// behind it waits: with 1,000 pages, creates at c32 had a p99 of 12 ms; with 250,
/// 6 to 7 ms at the same throughput. Moving the copy to a thread of its own was
/// tried and was worse (the copy and the commits' fsyncs still meet at the disk,
/// and a copy that runs beside a steady stream of commits never finishes, so the
/// log grows until the writer finishes it anyway).
const CHECKPOINT_PAGES: i64 = 250;
/// Writes waiting for the writer; callers beyond it wait to queue (backpressure).
const QUEUE: usize = 4096;

/// One write.
#[derive(Debug)]
pub enum Work {
    /// A statement; answers the rows it affected.
    Execute(Statement),
    /// A statement with `RETURNING`; answers its rows, read to the end.
    Rows(Statement, Vec<Kind>),
    /// Statements that stand or fall together; a step paired with an expected row
    /// count that affects another number undoes them all and answers `Err(index)`.
    Steps(Vec<(Statement, Option<u64>)>),
    /// Makes a table and undoes it: fails where writes would. SQLite lets a read-only
    /// connection begin a transaction and refuses only the write itself.
    Probe,
    /// Copies the write-ahead log into the database file and empties it, outside any
    /// transaction (so a copy of the file alone holds everything).
    Checkpoint,
}

/// What a write answered.
#[derive(Debug)]
pub enum Done {
    Affected(u64),
    Rows(Vec<Vec<Cell>>),
    Steps(Result<(), usize>),
    /// A probe or a checkpoint finished.
    Finished,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle writes go through; clones share the one writer thread.
#[derive(Debug, Clone)]
pub struct SqliteWriter {
    jobs: mpsc::Sender<Job>,
    /// Moves around every batch, so what was read between writes can be kept.
    writes: Arc<WriteEpoch>,
    /// The lock that makes this the file's only writer, held until `unlock`.
    lock: Arc<std::sync::Mutex<Option<std::fs::File>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.work.fmt(f)
    }
}

impl SqliteWriter {
    /// Starts the writer thread on a connection of its own to `path`. `durable`
    /// (every file a client's data lives in) syncs each commit to disk; a throwaway
    /// database (`--in-memory`) does not.
    pub fn open(path: &Path, durable: bool) -> Result<Self, StoreError> {
        Self::start(open(path, durable).map_err(store_error)?)
    }

    /// Starts the writer thread on `conn`.
    pub fn start(conn: rusqlite::Connection) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writes = Arc::new(WriteEpoch::default());
        let counted = writes.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue, counted))
            .map_err(|e| StoreError::Uncommitted(format!("cannot start the writer: {e}")))?;
        Ok(SqliteWriter {
            jobs,
            writes,
            lock: Arc::default(),
        })
    }

    /// Takes the lock on `db`'s lock file for as long as this writer lives (or until
    /// [`SqliteWriter::unlock`]). One process owns an embedded database: its
    /// heartbeats wait in its memory, its budgets are its own, and it keeps records
    /// read between its own writes. A second process on the same file would see
    /// none of that, so it is refused at start-up instead.
    pub fn lock_file(db: &Path) -> Result<std::fs::File, StoreError> {
        // Beside the file itself, whatever path names it (a symbolic link, `..`, a
        // relative path): two processes on one file always meet at one lock. A hard
        // link is another name for the file, which no path can tell; don't make one.
        let db = &canonical(db);
        let mut name = db.as_os_str().to_owned();
        name.push("-lock");
        let path = std::path::PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::CannotOpen(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::CannotOpen(format!(
                "the embedded database {} is in use by another cloudpc-partners process (it holds {}); one process serves an SQLite file: stop the other, give this one its own --data-dir, or share a PostgreSQL database (--database postgres://...) between processes",
                db.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::CannotOpen(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    /// Holds `file` (from [`SqliteWriter::lock_file`]) until `unlock`.
    pub fn hold(self, file: std::fs::File) -> Self {
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        self
    }

    /// Lets another process open the file (at shutdown, after the last write).
    pub fn unlock(&self) {
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The count of batches begun and ended.
    pub fn writes(&self) -> &Arc<WriteEpoch> {
        &self.writes
    }

    /// Queues a write and waits until its batch is committed (or failed).
    pub async fn write(&self, work: Work) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { work, reply })
            .await
            .map_err(|_| StoreError::Uncommitted("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Uncommitted("the writer stopped before committing".into()))?
    }
}

fn open(path: &Path, durable: bool) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The file is in WAL mode already (set when it was created, and kept in it).
    conn.execute_batch(if durable {
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;"
    })?;
    conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn run(conn: rusqlite::Connection, mut queue: mpsc::Receiver<Job>, writes: Arc<WriteEpoch>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Ended only once the batch has: a writer stopped midway leaves the epoch
        // "writing", and nothing is kept after it.
        let (alone, batch): (Vec<Job>, Vec<Job>) = batch
            .into_iter()
            .partition(|j| matches!(j.work, Work::Checkpoint));
        writes.begin();
        if !batch.is_empty() {
            commit(&conn, batch);
        }
        writes.end();
        for job in alone {
            let done = sql(&conn, "PRAGMA wal_checkpoint(TRUNCATE)").map(|_| Done::Finished);
            let _ = job.reply.send(done);
        }
    }
}

/// Runs a batch in one transaction and answers every job after the commit.
fn commit(conn: &rusqlite::Connection, batch: Vec<Job>) {
    let n = batch.len();
    metrics::histogram!("sqlite_group_commit_batch_size").record(n as f64);
    let outcome = (|| {
        sql(conn, "BEGIN IMMEDIATE")?;
        let mut answers = Vec::with_capacity(n);
        for job in &batch {
            let answer = match &job.work {
                // A statement that breaks a constraint (a duplicate partner) is undone
                // by SQLite alone, so it needs no savepoint. Any other failure might
                // have left changes behind: the batch ends, and nothing in it is
                // stored.
                Work::Execute(_) | Work::Rows(..) => match run_work(conn, &job.work) {
                    Err(e @ StoreError::Violation(..)) => Ok(Err(e)),
                    Err(e) => Err(e),
                    Ok(done) => Ok(Ok(done)),
                },
                Work::Steps(_) | Work::Probe | Work::Checkpoint => in_savepoint(conn, &job.work),
            };
            match answer {
                Ok(answer) => answers.push(answer),
                Err(e) => {
                    // A write that failed other than by a constraint, or a savepoint
                    // that could not be undone (SQLite rolls back the whole transaction
                    // on a full disk or an I/O error): nothing in it is claimed stored.
                    let _ = sql(conn, "ROLLBACK");
                    return Err(e);
                }
            }
        }
        if let Err(e) = sql(conn, "COMMIT") {
            let _ = sql(conn, "ROLLBACK");
            return Err(e);
        }
        Ok::<_, StoreError>(answers)
    })();
    match outcome {
        Ok(answers) => {
            for (job, answer) in batch.into_iter().zip(answers) {
                let _ = job.reply.send(answer);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, writes = n, "a group commit failed; none of its writes is stored");
            let storage = matches!(e, StoreError::Storage(_));
            for job in batch {
                let message = e.to_string();
                let _ = job.reply.send(Err(if storage {
                    StoreError::Storage(message)
                } else {
                    StoreError::Uncommitted(message)
                }));
            }
        }
    }
}

fn sql(conn: &rusqlite::Connection, text: &str) -> Result<(), StoreError> {
    conn.execute_batch(text).map_err(store_error)
}

/// One job inside a savepoint. `Ok(answer)` whatever the job's own outcome (its
/// failure is its answer, its changes undone); `Err` only when the savepoint itself
/// fails, which ends the batch.
fn in_savepoint(
    conn: &rusqlite::Connection,
    work: &Work,
) -> Result<Result<Done, StoreError>, StoreError> {
    sql(conn, "SAVEPOINT job")?;
    let answer = run_work(conn, work);
    let keep = matches!(
        answer,
        Ok(Done::Affected(_) | Done::Rows(_) | Done::Steps(Ok(())))
    ) && !matches!(work, Work::Probe);
    if !keep {
        if let Err(undo) = sql(conn, "ROLLBACK TO job") {
            // The job's own storage error says more than "no such savepoint".
            return Err(match answer {
                Err(e @ StoreError::Storage(_)) => e,
                _ => undo,
            });
        }
    }
    sql(conn, "RELEASE job")?;
    Ok(answer)
}

fn run_work(conn: &rusqlite::Connection, work: &Work) -> Result<Done, StoreError> {
    match work {
        Work::Execute(s) => Ok(Done::Affected(execute(conn, s)?)),
        Work::Rows(s, kinds) => Ok(Done::Rows(query(conn, s, kinds).map_err(store_error)?)),
        Work::Steps(steps) => {
            for (i, (s, expect)) in steps.iter().enumerate() {
                let n = execute(conn, s)?;
                if expect.is_some_and(|e| e != n) {
                    return Ok(Done::Steps(Err(i)));
                }
            }
            Ok(Done::Steps(Ok(())))
        }
        Work::Probe => {
            sql(
                conn,
                "CREATE TABLE cloudpc_partners_write_probe (x INTEGER)",
            )?;
            Ok(Done::Finished)
        }
        // Run alone by `run`, never inside a batch.
        Work::Checkpoint => Ok(Done::Finished),
    }
}

/// Runs a statement to its end; the rows it changed (not counting triggers').
fn execute(conn: &rusqlite::Connection, s: &Statement) -> Result<u64, StoreError> {
    query(conn, s, &[]).map_err(store_error)?;
    Ok(conn.changes())
}

/// `path` with every symbolic link and `.`/`..` resolved, its last part included when
/// the file exists; as given when even its folder cannot be resolved.
fn canonical(path: &Path) -> std::path::PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                parent
            };
            std::fs::canonicalize(parent).map_or_else(|_| path.to_owned(), |p| p.join(name))
        }
        _ => path.to_owned(),
    }
}
