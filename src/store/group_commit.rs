//! Group commit for SQLite's single writing connection. Writes that arrive while a
//! commit is being made durable wait, then share the next transaction and its one
//! fsync; each is answered only after that commit, so a 2xx still means "on disk".
//! A write of several statements runs inside its own savepoint, and a single statement
//! is atomic by itself, so one that fails (a duplicate partner, a stale ETag) is undone
//! alone and the others in its batch still commit.

use super::pools::{decode, sqlite_arguments};
use super::record_cache::WriteEpoch;
use super::row::{Cell, Kind};
use super::sql::Statement;
use super::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction carries: enough to share an fsync among many
/// clients, few enough that one batch never holds the file for long.
const MAX_BATCH: usize = 256;
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
}

/// What a write answered.
#[derive(Debug)]
pub enum Done {
    Affected(u64),
    Rows(Vec<Vec<Cell>>),
    Steps(Result<(), usize>),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle writes go through; clones share the one writer task.
#[derive(Debug, Clone)]
pub struct SqliteWriter {
    pool: SqlitePool,
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
    /// Starts the writer task over `pool` (one connection).
    pub fn start(pool: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writes = Arc::new(WriteEpoch::default());
        tokio::spawn(run(pool.clone(), queue, writes.clone()));
        SqliteWriter {
            pool,
            jobs,
            writes,
            lock: Arc::default(),
        }
    }

    /// Takes the lock on `db`'s lock file for as long as this writer lives (or until
    /// [`SqliteWriter::unlock`]). One process owns an embedded database: its
    /// heartbeats wait in its memory, its budgets are its own, and it keeps records
    /// read between its own writes. A second process on the same file would see
    /// none of that, so it is refused at start-up instead.
    pub fn lock_file(db: &std::path::Path) -> Result<std::fs::File, StoreError> {
        let mut name = db.as_os_str().to_owned();
        name.push("-lock");
        let path = std::path::PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::InUse(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(format!(
                "the embedded database {} is in use by another cloudpc-partners process (it holds {}); one process serves an SQLite file: stop the other, give this one its own --data-dir, or share a PostgreSQL database (--database postgres://...) between processes",
                db.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::InUse(format!(
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

    /// The pool itself, for what is not a client's write (migrations, probes, the
    /// checkpoint at shutdown).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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

async fn run(pool: SqlitePool, mut queue: mpsc::Receiver<Job>, writes: Arc<WriteEpoch>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Ended only once the batch has: a writer stopped midway (the runtime
        // shutting down) leaves the epoch "writing", and nothing is kept after it.
        writes.begin();
        commit(&pool, batch).await;
        writes.end();
    }
}

/// Runs a batch in one transaction and answers every job after the commit.
async fn commit(pool: &SqlitePool, batch: Vec<Job>) {
    let n = batch.len();
    metrics::histogram!("sqlite_group_commit_batch_size").record(n as f64);
    let outcome = async {
        let mut conn = pool.acquire().await?;
        sql(&mut conn, "BEGIN IMMEDIATE").await?;
        let mut answers = Vec::with_capacity(n);
        for job in &batch {
            let answer = match &job.work {
                // A statement that breaks a constraint (a duplicate partner) is undone
                // by SQLite alone, so it needs no savepoint and its two extra round
                // trips to the driver's thread. Any other failure might have left
                // changes behind: the batch ends, and nothing in it is stored.
                Work::Execute(_) | Work::Rows(..) => match run_work(&mut conn, &job.work).await {
                    Err(e) if broke_a_constraint(&e) => Ok(Err(e)),
                    Err(e) => Err(e),
                    Ok(done) => Ok(Ok(done)),
                },
                Work::Steps(_) => in_savepoint(&mut conn, &job.work).await,
            };
            match answer {
                Ok(answer) => answers.push(answer),
                Err(e) => {
                    // A write that failed other than by a constraint, or a savepoint
                    // that could not be undone (SQLite rolls back the whole transaction
                    // on a full disk or an I/O error): nothing in it is claimed stored.
                    let _ = sql(&mut conn, "ROLLBACK").await;
                    return Err(e);
                }
            }
        }
        if let Err(e) = sql(&mut conn, "COMMIT").await {
            let _ = sql(&mut conn, "ROLLBACK").await;
            return Err(e);
        }
        Ok::<_, StoreError>(answers)
    }
    .await;
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
                    StoreError::Storage(sqlx::Error::Protocol(message))
                } else {
                    StoreError::Uncommitted(message)
                }));
            }
        }
    }
}

/// A unique, foreign-key, not-null or check violation: SQLite has undone the
/// statement, and only it.
fn broke_a_constraint(e: &StoreError) -> bool {
    use sqlx::error::ErrorKind as K;
    matches!(e, StoreError::Database(sqlx::Error::Database(d))
        if matches!(d.kind(), K::UniqueViolation | K::ForeignKeyViolation | K::NotNullViolation | K::CheckViolation))
}

async fn sql(conn: &mut PoolConnection<Sqlite>, text: &str) -> Result<(), StoreError> {
    sqlx::query(text).execute(&mut **conn).await?;
    Ok(())
}

/// One job inside a savepoint. `Ok(answer)` whatever the job's own outcome (its
/// failure is its answer, its changes undone); `Err` only when the savepoint itself
/// fails, which ends the batch.
async fn in_savepoint(
    conn: &mut PoolConnection<Sqlite>,
    work: &Work,
) -> Result<Result<Done, StoreError>, StoreError> {
    sql(conn, "SAVEPOINT job").await?;
    let answer = run_work(conn, work).await;
    let keep = matches!(
        answer,
        Ok(Done::Affected(_) | Done::Rows(_) | Done::Steps(Ok(())))
    );
    if !keep {
        if let Err(undo) = sql(conn, "ROLLBACK TO job").await {
            // The job's own storage error says more than "no such savepoint".
            return Err(match answer {
                Err(e @ StoreError::Storage(_)) => e,
                _ => undo,
            });
        }
    }
    sql(conn, "RELEASE job").await?;
    Ok(answer)
}

async fn run_work(conn: &mut PoolConnection<Sqlite>, work: &Work) -> Result<Done, StoreError> {
    match work {
        Work::Execute(s) => {
            let done = sqlx::query_with(&s.sql, sqlite_arguments(&s.binds)?)
                .execute(&mut **conn)
                .await?;
            Ok(Done::Affected(done.rows_affected()))
        }
        Work::Rows(s, kinds) => {
            let rows = sqlx::query_with(&s.sql, sqlite_arguments(&s.binds)?)
                .fetch_all(&mut **conn)
                .await?;
            Ok(Done::Rows(
                rows.iter()
                    .map(|r| decode(r, kinds))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Work::Steps(steps) => {
            for (i, (s, expect)) in steps.iter().enumerate() {
                let n = sqlx::query_with(&s.sql, sqlite_arguments(&s.binds)?)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected();
                if expect.is_some_and(|e| e != n) {
                    return Ok(Done::Steps(Err(i)));
                }
            }
            Ok(Done::Steps(Ok(())))
        }
    }
}
