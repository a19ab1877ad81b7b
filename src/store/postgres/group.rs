//! Group commit for PostgreSQL's single-statement writes (a create, a PATCH, a
//! delete, a sync). A commit costs the database more than the statement it commits
//! (its WAL flush, its round trip, its wake-ups), so writes that arrive while every
//! committer is busy wait and then share one transaction: `BEGIN`, the statements and
//! `COMMIT` leave in one write to the socket and come back in one read. Each write is
//! answered only after that commit, so a 2xx still means "durable".
//!
//! A write that finds a committer free runs alone, as before, on its own task: at
//! low load nothing changes. Only the writes that queue behind busy committers are
//! grouped, by a committer task spawned for them, so a client that goes away cancels
//! no one else's write.
//!
//! Inside a group the statements take their rows in one order (their `row` key), so
//! two groups never wait on each other's rows in opposite orders. One statement that
//! fails (a duplicate partner, say) aborts its transaction; the group is then run
//! again one statement at a time, so each write gets the answer it would have had
//! alone.

use super::pool::{Lease, Pool};
use super::{decode_all, params, store_error, types};
use crate::store::row::{Cell, Kind};
use crate::store::sql::Statement;
use crate::store::StoreError;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// Most writes one transaction carries. `BEGIN`, the writes and `COMMIT` must leave
/// in order; `join_all` polls up to 30 futures in the order given.
const MAX_GROUP: usize = 28;

/// One write and where its answer goes.
struct Job {
    number: u64,
    statement: Statement,
    /// `Some`: read the rows it returns (`RETURNING`), each column as given.
    kinds: Option<Vec<Kind>>,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// What a write answered.
pub enum Done {
    Affected(u64),
    Rows(Vec<Vec<Cell>>),
}

/// The writes of one process, shared by clones.
#[derive(Clone)]
pub struct Writes {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Most writes committing at once, alone or grouped (at least one); the rest
    /// queue.
    committers: usize,
    acquire_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Committing now: writes running alone and committer tasks.
    busy: usize,
    next_number: u64,
}

impl Writes {
    pub fn new(pool: Pool, committers: usize, acquire_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                committers: committers.max(1),
                acquire_timeout,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Runs a write statement; `kinds`, it returns rows, read as they say.
    pub async fn run(&self, s: &Statement, kinds: Option<&[Kind]>) -> Result<Done, StoreError> {
        let queued = {
            let mut state = self.inner.lock();
            if state.busy < self.inner.committers && state.queue.is_empty() {
                state.busy += 1;
                None
            } else {
                let (reply, answer) = oneshot::channel();
                let number = state.next_number;
                state.next_number += 1;
                state.queue.push_back(Job {
                    number,
                    statement: s.clone(),
                    kinds: kinds.map(<[Kind]>::to_vec),
                    reply,
                });
                Some((number, answer))
            }
        };
        let Some((number, answer)) = queued else {
            // A committer was free: this write runs alone, here. The guard frees the
            // committer even if this request is cancelled.
            let _turn = Turn(self.inner.clone());
            let lease = self.inner.pool.exclusive().await?;
            record_group(1);
            return alone(&lease, s, kinds).await;
        };
        self.inner.start_committer();
        self.wait(number, answer).await
    }

    /// The answer to a queued write. A write still queued when the acquire timeout
    /// runs out is taken back and refused as busy; one already in a transaction
    /// waits for its commit (the statement timeout bounds it).
    async fn wait(
        &self,
        number: u64,
        mut answer: oneshot::Receiver<Result<Done, StoreError>>,
    ) -> Result<Done, StoreError> {
        let stopped = || StoreError::Uncommitted("the committer stopped before answering".into());
        if let Ok(done) = tokio::time::timeout(self.inner.acquire_timeout, &mut answer).await {
            return done.map_err(|_| stopped())?;
        }
        let taken_back = {
            let mut state = self.inner.lock();
            let at = state.queue.iter().position(|j| j.number == number);
            at.and_then(|i| state.queue.remove(i)).is_some()
        };
        if taken_back {
            return Err(StoreError::Busy(
                "no database connection came free within the acquire timeout".into(),
            ));
        }
        answer.await.map_err(|_| stopped())?
    }
}

/// A committer's place, given back when it ends (however it ends); a queue left
/// behind gets a committer task.
struct Turn(Arc<Inner>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.lock().busy -= 1;
        self.0.start_committer();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing that holds the lock can panic halfway through a change.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns a committer for the queue, if it has writes and a committer is free.
    fn start_committer(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if state.queue.is_empty() || state.busy >= self.committers {
                return;
            }
            state.busy += 1;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            let _turn = Turn(inner.clone());
            loop {
                let group = inner.take_group();
                if group.is_empty() {
                    return;
                }
                inner.commit(group).await;
            }
        });
    }

    /// The oldest queued writes whose requests still wait, in the order they lock
    /// their rows.
    fn take_group(&self) -> Vec<Job> {
        let mut state = self.lock();
        let mut group = Vec::new();
        while group.len() < MAX_GROUP {
            let Some(job) = state.queue.pop_front() else {
                break;
            };
            if !job.reply.is_closed() {
                group.push(job);
            }
        }
        drop(state);
        group.sort_by(|a, b| a.statement.row.cmp(&b.statement.row));
        group
    }

    /// Commits a group together and answers each of its writes.
    async fn commit(&self, group: Vec<Job>) {
        let mut lease = match self.pool.exclusive().await {
            Ok(lease) => lease,
            Err(e) => {
                for job in group {
                    let _ = job.reply.send(Err(e.clone()));
                }
                return;
            }
        };
        record_group(group.len());
        let answers = match group.len() {
            1 => None,
            _ => together(&mut lease, &group).await,
        };
        match answers {
            Some(answers) => {
                for (job, answer) in group.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            None => {
                for job in group {
                    let answer = alone(&lease, &job.statement, job.kinds.as_deref()).await;
                    let _ = job.reply.send(answer);
                }
            }
        }
    }
}

fn record_group(writes: usize) {
    metrics::histogram!("postgres_group_commit_batch_size").record(writes as f64);
}

/// One write in a transaction of its own.
async fn alone(lease: &Lease, s: &Statement, kinds: Option<&[Kind]>) -> Result<Done, StoreError> {
    let prepared = lease.prepare(&s.sql, &types(&s.binds)).await?;
    let params = params(&s.binds);
    match kinds {
        None => lease
            .client
            .execute(&prepared, &params)
            .await
            .map(Done::Affected)
            .map_err(store_error),
        Some(kinds) => {
            let rows = lease
                .client
                .query(&prepared, &params)
                .await
                .map_err(store_error)?;
            decode_all(&rows, kinds).map(Done::Rows)
        }
    }
}

/// What one step of a group sent back, before its rows are read.
enum Raw {
    Affected(u64),
    Rows(Vec<tokio_postgres::Row>),
}

/// Writes a group in one transaction, sent in one go. `None` when a statement
/// failed (and so the transaction rolled back): each must then run alone. A commit
/// that fails gives every write its error: whether it was made is not known.
async fn together(lease: &mut Lease, group: &[Job]) -> Option<Vec<Result<Done, StoreError>>> {
    let mut prepared = Vec::with_capacity(group.len());
    for job in group {
        let s = &job.statement;
        prepared.push(lease.prepare(&s.sql, &types(&s.binds)).await.ok()?);
    }
    let params: Vec<_> = group.iter().map(|j| params(&j.statement.binds)).collect();
    lease.transaction_opened();
    let client = &lease.client;
    type Step<'a> = Pin<Box<dyn Future<Output = Result<Raw, tokio_postgres::Error>> + Send + 'a>>;
    let control = |sql: &'static str| -> Step<'_> {
        Box::pin(async move { client.batch_execute(sql).await.map(|()| Raw::Affected(0)) })
    };
    let mut steps: Vec<Step<'_>> = Vec::with_capacity(group.len() + 2);
    steps.push(control("BEGIN"));
    for ((job, statement), params) in group.iter().zip(&prepared).zip(&params) {
        steps.push(match job.kinds {
            None => {
                Box::pin(async move { client.execute(statement, params).await.map(Raw::Affected) })
            }
            Some(_) => {
                Box::pin(async move { client.query(statement, params).await.map(Raw::Rows) })
            }
        });
    }
    steps.push(control("COMMIT"));
    // Each request is sent when its future is first polled, so polling them in this
    // order sends BEGIN, the writes and COMMIT in this order, in one write.
    let mut results = futures_util::future::join_all(steps).await;
    let commit = results.pop()?;
    let begin = results.remove(0);
    if begin.is_err() || results.iter().any(Result::is_err) {
        // A statement failed, so the server rolled the transaction back (its COMMIT
        // answered ROLLBACK); the connection is fine if that answer came.
        if commit.is_ok() {
            lease.transaction_closed();
        }
        return None;
    }
    if let Err(e) = commit {
        // The connection is left marked: it is closed rather than lent again.
        let e = store_error(e);
        return Some(group.iter().map(|_| Err(e.clone())).collect());
    }
    lease.transaction_closed();
    Some(
        group
            .iter()
            .zip(results)
            .map(|(job, result)| match (result, &job.kinds) {
                (Ok(Raw::Rows(rows)), Some(kinds)) => decode_all(&rows, kinds).map(Done::Rows),
                (Ok(Raw::Rows(rows)), None) => Ok(Done::Affected(rows.len() as u64)),
                (Ok(Raw::Affected(n)), _) => Ok(Done::Affected(n)),
                (Err(e), _) => Err(store_error(e)),
            })
            .collect(),
    )
}
