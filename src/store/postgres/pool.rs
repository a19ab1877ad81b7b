//! The process's PostgreSQL connections, lent two ways.
//!
//! - **Shared**, for short reads (point reads, pages): `tokio-postgres` pipelines
//!   the statements concurrent requests send on one connection, so under load a
//!   write to the socket carries several of them and one read brings several answers
//!   back. Measured against a connection per statement, with 32 clients on this
//!   2-core box: 1.45× the statements a second, 17 µs of this process's CPU per
//!   statement against 26, and 37 µs of PostgreSQL's against 53.
//! - **Exclusive**, for what must have a connection to itself: a commit (its wait
//!   for the disk would hold up every statement pipelined behind it, where separate
//!   connections' commits share one flush), a transaction, a scan (which would hold
//!   up the statements queued behind it).
//!
//! Every connection can be lent either way. Shared reads keep to the first quarter
//! of the connections while they can, so the rest stay free for writes; a write takes
//! any connection no read is using. How many writes commit at once, and how the rest
//! share commits, is `group`'s business.
//!
//! Waiters queue in arrival order and are handed a connection as it comes free,
//! each woken once, never all of them to race for it.

use super::{describe, store_error};
use crate::store::StoreError;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Statement};

/// Statements one shared connection carries at once; more wait (up to the acquire
/// timeout), so a stalled database holds a bounded queue.
const IN_FLIGHT: usize = 64;

/// Statements kept prepared on one connection. The SQL of a list depends on the
/// shape of its `$filter`, so clients choose how many there are; beyond this many
/// the connection's statements are dropped (and closed on the server) and prepared
/// again as they come.
const PREPARED: usize = 256;

/// How a connection is lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Beside other short reads, pipelined.
    Shared,
    /// To one borrower alone.
    Exclusive,
}

/// The connections of one process, shared by clones.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<tokio_postgres::Config>,
    acquire_timeout: Duration,
    state: Mutex<State>,
}

struct State {
    slots: Slots<Connection>,
    waiters: VecDeque<Waiter>,
    closed: bool,
}

/// Which slots are lent, and how; `C` is the connection (a stand-in in tests).
struct Slots<C> {
    all: Vec<Slot<C>>,
    /// Shared reads keep to slots `0..read_slots` while one of them can take more.
    read_slots: usize,
    /// Where the next shared read starts looking, so reads take turns.
    next_read: usize,
}

struct Slot<C> {
    /// The connection, made on first use and again after it closes.
    connection: Option<Arc<C>>,
    /// Shared leases out on it.
    readers: usize,
    /// Lent exclusively (or being opened).
    held: bool,
}

struct Waiter {
    wants: Use,
    send: oneshot::Sender<Grant>,
}

/// What a slot needs to know of its connection.
trait Link {
    fn is_open(&self) -> bool;
}

enum Turn {
    Now(Grant),
    Queued(oneshot::Receiver<Grant>),
}

/// What a borrower was given a slot for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
    /// Held while it opens, then shared (a read that found nothing open).
    OpenThenShare,
}

/// One open connection and the statements prepared on it.
pub struct Connection {
    pub client: Client,
    /// By SQL text (looked up without copying it), with the types it was prepared for.
    prepared: Mutex<HashMap<String, (Vec<Type>, Statement)>>,
}

/// A slot given to a borrower: it goes back when dropped, even if the borrower
/// gave up before receiving it.
struct Grant {
    /// `None` once given back by hand.
    pool: Option<Arc<Inner>>,
    slot: usize,
    mode: Mode,
    /// The slot's connection: when granted, if it had one; once lent, the one lent.
    connection: Option<Arc<Connection>>,
    /// Close the connection rather than lend it again.
    discard: bool,
}

/// A connection lent out; it goes back when dropped. One dropped inside a
/// transaction (its borrower cancelled) is closed instead: the server then rolls the
/// transaction back.
pub struct Lease {
    grant: Grant,
    connection: Arc<Connection>,
}

impl Pool {
    pub fn new(config: Arc<tokio_postgres::Config>, size: u32, acquire_timeout: Duration) -> Self {
        let size = size.max(1) as usize;
        Self {
            inner: Arc::new(Inner {
                config,
                acquire_timeout,
                state: Mutex::new(State {
                    slots: Slots::new(size),
                    waiters: VecDeque::new(),
                    closed: false,
                }),
            }),
        }
    }

    /// A connection for a short read, beside others.
    pub async fn shared(&self) -> Result<Lease, StoreError> {
        self.lend(Use::Shared).await
    }

    /// A connection to this borrower alone.
    pub async fn exclusive(&self) -> Result<Lease, StoreError> {
        self.lend(Use::Exclusive).await
    }

    async fn lend(&self, wants: Use) -> Result<Lease, StoreError> {
        let turn = {
            let mut state = self.inner.lock();
            if state.closed {
                return Err(closed());
            }
            match state.slots.take(wants) {
                Some((slot, mode)) => Turn::Now(state.grant(&self.inner, slot, mode)),
                None => {
                    let (send, granted) = oneshot::channel();
                    state.waiters.push_back(Waiter { wants, send });
                    Turn::Queued(granted)
                }
            }
        };
        let grant = match turn {
            Turn::Now(grant) => grant,
            Turn::Queued(granted) => {
                match tokio::time::timeout(self.inner.acquire_timeout, granted).await {
                    Ok(Ok(grant)) => grant,
                    // The pool closed and dropped the queue.
                    Ok(Err(_)) => return Err(closed()),
                    Err(_) => return Err(busy(wants)),
                }
            }
        };
        self.ready(grant).await
    }

    /// The granted slot's connection, opened if it has none (or a closed one).
    async fn ready(&self, mut grant: Grant) -> Result<Lease, StoreError> {
        if let Some(connection) = grant.connection.clone().filter(|c| c.is_open()) {
            return Ok(Lease { grant, connection });
        }
        let connection = Arc::new(self.connect().await?);
        grant.connection = Some(connection.clone());
        let mut state = self.inner.lock();
        if let Some(slot) = state.slots.all.get_mut(grant.slot) {
            slot.connection = Some(connection.clone());
            if grant.mode == Mode::OpenThenShare {
                slot.held = false;
                slot.readers += 1;
                grant.mode = Mode::Shared;
                // Readers queued while it opened can join it now.
                state.dispatch(&self.inner);
            }
        }
        Ok(Lease { grant, connection })
    }

    async fn connect(&self) -> Result<Connection, StoreError> {
        let timeout = self.inner.acquire_timeout;
        let (client, driver) = tokio::time::timeout(timeout, self.inner.config.connect(NoTls))
            .await
            .map_err(|_| {
                StoreError::Unreachable(format!(
                    "no connection to PostgreSQL within {} ms",
                    timeout.as_millis()
                ))
            })?
            .map_err(|e| StoreError::Unreachable(describe(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::warn!(error = %e, "a PostgreSQL connection closed");
            }
        });
        Ok(Connection {
            client,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// Refuses further loans and closes the connections as they come back.
    pub fn close(&self) {
        let mut state = self.inner.lock();
        state.closed = true;
        // Dropping the senders tells every waiter the store is closed.
        state.waiters.clear();
        for slot in &mut state.slots.all {
            if slot.readers == 0 && !slot.held {
                slot.connection = None;
            }
        }
    }

    /// Connections open, and how many are lent (shared or exclusive).
    pub fn status(&self) -> (usize, usize, usize) {
        let state = self.inner.lock();
        let all = &state.slots.all;
        let open = all.iter().filter(|s| s.is_open()).count();
        let shared = all.iter().filter(|s| s.readers > 0).count();
        let exclusive = all.iter().filter(|s| s.held).count();
        (open, shared, exclusive)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing that holds the lock can panic halfway through a change.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A lease comes back; `discard`, its connection is closed rather than lent again
    /// (unless the slot has another by now).
    fn release(self: &Arc<Self>, slot: usize, mode: Mode, discard: Option<&Arc<Connection>>) {
        let mut state = self.lock();
        let closed = state.closed;
        state.slots.untake(slot, mode);
        if let Some(s) = state.slots.all.get_mut(slot) {
            let same = |c: &Arc<Connection>| discard.is_some_and(|d| Arc::ptr_eq(c, d));
            if s.connection.as_ref().is_some_and(same) || (closed && s.is_idle()) {
                s.connection = None;
            }
        }
        if !closed {
            state.dispatch(self);
        }
    }
}

impl<C: Link> Slots<C> {
    fn new(size: usize) -> Self {
        Self {
            all: (0..size)
                .map(|_| Slot {
                    connection: None,
                    readers: 0,
                    held: false,
                })
                .collect(),
            read_slots: read_slots(size),
            next_read: 0,
        }
    }

    /// A slot for `wants`, marked taken, with how it is lent; `None` when every
    /// slot that could serve is busy.
    fn take(&mut self, wants: Use) -> Option<(usize, Mode)> {
        let all = &self.all;
        let n = all.len();
        let found = match wants {
            Use::Shared => {
                let joinable = |s: &Slot<C>| !s.held && s.readers < IN_FLIGHT && s.is_open();
                let preferred = self.read_slots.clamp(1, n.max(1));
                (0..preferred)
                    .map(|k| (self.next_read + k) % preferred)
                    .chain(preferred..n)
                    .find(|&i| all.get(i).is_some_and(joinable))
                    .map(|i| (i, Mode::Shared))
                    .or_else(|| {
                        (0..n)
                            .find(|&i| all[i].is_idle())
                            .map(|i| (i, Mode::OpenThenShare))
                    })
            }
            // From the end: the slots reads prefer are taken last.
            Use::Exclusive => (0..n)
                .rev()
                .find(|&i| all[i].is_idle() && all[i].is_open())
                .or_else(|| (0..n).rev().find(|&i| all[i].is_idle()))
                .map(|i| (i, Mode::Exclusive)),
        };
        let (i, mode) = found?;
        let slot = &mut self.all[i];
        match mode {
            Mode::Shared => {
                slot.readers += 1;
                self.next_read = i + 1;
            }
            Mode::Exclusive | Mode::OpenThenShare => slot.held = true,
        }
        Some((i, mode))
    }

    /// Gives back what [`Slots::take`] took.
    fn untake(&mut self, slot: usize, mode: Mode) {
        if let Some(s) = self.all.get_mut(slot) {
            match mode {
                Mode::Shared => s.readers = s.readers.saturating_sub(1),
                Mode::Exclusive | Mode::OpenThenShare => s.held = false,
            }
        }
    }
}

impl State {
    fn grant(&self, inner: &Arc<Inner>, slot: usize, mode: Mode) -> Grant {
        Grant {
            pool: Some(inner.clone()),
            slot,
            mode,
            connection: self.slots.all.get(slot).and_then(|s| s.connection.clone()),
            discard: false,
        }
    }

    /// Hands freed slots to the waiters they suit, oldest first. Stops looking for a
    /// use once one waiter of that use could not be served.
    fn dispatch(&mut self, inner: &Arc<Inner>) {
        let (mut shared, mut exclusive) = (true, true);
        let mut i = 0;
        while i < self.waiters.len() && (shared || exclusive) {
            let waiter = &self.waiters[i];
            if waiter.send.is_closed() {
                self.waiters.remove(i);
                continue;
            }
            let wants = waiter.wants;
            let open = match wants {
                Use::Shared => &mut shared,
                Use::Exclusive => &mut exclusive,
            };
            if !*open {
                i += 1;
                continue;
            }
            let Some((slot, mode)) = self.slots.take(wants) else {
                *open = false;
                i += 1;
                continue;
            };
            let grant = self.grant(inner, slot, mode);
            let Some(waiter) = self.waiters.remove(i) else {
                break;
            };
            if let Err(mut unclaimed) = waiter.send.send(grant) {
                // It gave up (timed out) between the check and now; undone here, as
                // its drop would take the lock this holds.
                unclaimed.pool = None;
                self.slots.untake(slot, mode);
            }
        }
    }
}

impl<C: Link> Slot<C> {
    fn is_open(&self) -> bool {
        self.connection.as_ref().is_some_and(|c| c.is_open())
    }

    fn is_idle(&self) -> bool {
        self.readers == 0 && !self.held
    }
}

impl Link for Connection {
    fn is_open(&self) -> bool {
        !self.client.is_closed()
    }
}

impl Connection {
    /// The statement prepared on this connection for `text` and `types`, prepared
    /// on first use. The types are given, as the values are typed: a parameter the
    /// SQL leaves untyped (one a branch of the statement does not use) is then not an
    /// error, and an integer compared with a float column stays an integer.
    pub async fn prepare(&self, text: &str, types: &[Type]) -> Result<Statement, StoreError> {
        if let Some((_, s)) = self.cache().get(text).filter(|(t, _)| t == types) {
            return Ok(s.clone());
        }
        let statement = self
            .client
            .prepare_typed(text, types)
            .await
            .map_err(store_error)?;
        let mut cache = self.cache();
        if cache.len() >= PREPARED {
            cache.clear();
        }
        cache.insert(text.to_owned(), (types.to_vec(), statement.clone()));
        Ok(statement)
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, (Vec<Type>, Statement)>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Lease {
    /// Starts a transaction; until [`Lease::end`], dropping the lease closes the
    /// connection (so the server rolls back).
    pub async fn begin(&mut self) -> Result<(), StoreError> {
        self.grant.discard = true;
        self.client
            .batch_execute("BEGIN")
            .await
            .map_err(store_error)
    }

    /// A transaction was begun by a statement sent without waiting (see
    /// [`Lease::begin`]).
    pub fn transaction_opened(&mut self) {
        self.grant.discard = true;
    }

    /// The transaction begun ended, and the server said so.
    pub fn transaction_closed(&mut self) {
        self.grant.discard = false;
    }

    /// Commits (`COMMIT`) or rolls back (`ROLLBACK`) the transaction begun.
    pub async fn end(&mut self, how: &str) -> Result<(), StoreError> {
        self.client.batch_execute(how).await.map_err(store_error)?;
        self.grant.discard = false;
        Ok(())
    }
}

impl std::ops::Deref for Lease {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.connection.is_open() {
            self.grant.discard = true;
        }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let discard = self.connection.as_ref().filter(|_| self.discard);
            pool.release(self.slot, self.mode, discard);
        }
    }
}

/// How many of `size` connections shared reads prefer: about a quarter, at least one.
fn read_slots(size: usize) -> usize {
    size.div_ceil(4).max(1)
}

fn closed() -> StoreError {
    StoreError::Unreachable("the store is closed".into())
}

fn busy(wants: Use) -> StoreError {
    StoreError::Busy(match wants {
        Use::Shared => "the database answers too slowly for the statements waiting".into(),
        Use::Exclusive => "no database connection came free within the acquire timeout".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A connection that is open or not, as the test says.
    struct Fake(bool);

    impl Link for Fake {
        fn is_open(&self) -> bool {
            self.0
        }
    }

    fn slots(size: usize, open: &[usize]) -> Slots<Fake> {
        let mut s = Slots::new(size);
        for &i in open {
            s.all[i].connection = Some(Arc::new(Fake(true)));
        }
        s
    }

    fn all_open(size: usize) -> Slots<Fake> {
        slots(size, &(0..size).collect::<Vec<_>>())
    }

    #[test]
    fn reads_keep_to_the_first_quarter_and_take_turns() {
        let mut s = all_open(10);
        let taken: Vec<_> = (0..6).map(|_| s.take(Use::Shared).unwrap().0).collect();
        assert_eq!(taken, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn writes_take_every_slot_from_the_end() {
        let mut s = all_open(10);
        let taken: Vec<_> = (0..10).map(|_| s.take(Use::Exclusive).unwrap().0).collect();
        assert_eq!(taken, (0..10).rev().collect::<Vec<_>>());
        assert_eq!(s.take(Use::Exclusive), None);
        assert_eq!(s.take(Use::Shared), None);
    }

    #[test]
    fn a_write_never_takes_a_slot_a_read_is_on() {
        let mut s = all_open(2);
        assert_eq!(s.take(Use::Shared), Some((0, Mode::Shared)));
        assert_eq!(s.take(Use::Exclusive), Some((1, Mode::Exclusive)));
        assert_eq!(s.take(Use::Exclusive), None);
        // More reads still join the shared slot.
        assert_eq!(s.take(Use::Shared), Some((0, Mode::Shared)));
        s.untake(0, Mode::Shared);
        assert_eq!(s.take(Use::Exclusive), None);
        s.untake(0, Mode::Shared);
        assert_eq!(s.take(Use::Exclusive), Some((0, Mode::Exclusive)));
    }

    #[test]
    fn reads_go_beyond_their_quarter_only_when_it_is_taken() {
        let mut s = all_open(4);
        for _ in 0..4 {
            s.take(Use::Exclusive).unwrap();
        }
        s.untake(2, Mode::Exclusive);
        assert_eq!(s.take(Use::Shared), Some((2, Mode::Shared)));
        s.untake(0, Mode::Exclusive);
        assert_eq!(s.take(Use::Shared), Some((0, Mode::Shared)));
    }

    #[test]
    fn a_shared_slot_takes_a_bounded_number_of_reads() {
        let mut s = all_open(1);
        for _ in 0..IN_FLIGHT {
            assert_eq!(s.take(Use::Shared), Some((0, Mode::Shared)));
        }
        assert_eq!(s.take(Use::Shared), None);
    }

    #[test]
    fn unopened_slots_are_opened_by_whoever_comes() {
        let mut s = slots(3, &[]);
        assert_eq!(s.take(Use::Shared), Some((0, Mode::OpenThenShare)));
        assert_eq!(s.take(Use::Shared), Some((1, Mode::OpenThenShare)));
        assert_eq!(s.take(Use::Exclusive), Some((2, Mode::Exclusive)));
        assert_eq!(s.take(Use::Shared), None);
        // A closed connection is as good as none.
        let mut s = slots(2, &[]);
        s.all[0].connection = Some(Arc::new(Fake(false)));
        s.all[1].connection = Some(Arc::new(Fake(true)));
        assert_eq!(s.take(Use::Shared), Some((1, Mode::Shared)));
        assert_eq!(s.take(Use::Shared), Some((1, Mode::Shared)));
    }

    #[test]
    fn a_write_prefers_an_open_slot() {
        let mut s = slots(4, &[1]);
        assert_eq!(s.take(Use::Exclusive), Some((1, Mode::Exclusive)));
        assert_eq!(s.take(Use::Exclusive), Some((3, Mode::Exclusive)));
    }

    proptest! {
        /// Whatever the order of loans and returns: a slot is lent one way at a time,
        /// never to more reads than it carries, and a loan is refused only when no
        /// slot could serve it.
        #[test]
        fn loans_never_overlap_and_are_refused_only_when_full(
            size in 1usize..12,
            open in proptest::collection::vec(any::<bool>(), 12),
            steps in proptest::collection::vec((any::<bool>(), any::<bool>(), 0usize..64), 1..300),
        ) {
            let open: Vec<usize> = (0..size).filter(|&i| open[i]).collect();
            let mut s = slots(size, &open);
            let mut out: Vec<(usize, Mode)> = Vec::new();
            for (lend, shared, pick) in steps {
                if lend || out.is_empty() {
                    let wants = if shared { Use::Shared } else { Use::Exclusive };
                    let could = s.all.iter().any(|x| match wants {
                        Use::Shared => x.is_idle() || (!x.held && x.readers < IN_FLIGHT && x.is_open()),
                        Use::Exclusive => x.is_idle(),
                    });
                    match s.take(wants) {
                        Some(loan) => out.push(loan),
                        None => prop_assert!(!could, "refused with a slot free"),
                    }
                } else {
                    let (slot, mode) = out.swap_remove(pick % out.len());
                    s.untake(slot, mode);
                }
                for (i, x) in s.all.iter().enumerate() {
                    let reads = out.iter().filter(|(j, m)| *j == i && *m == Mode::Shared).count();
                    let held = out.iter().filter(|(j, m)| *j == i && *m != Mode::Shared).count();
                    prop_assert_eq!(x.readers, reads);
                    prop_assert_eq!(usize::from(x.held), held);
                    prop_assert!(held <= 1 && (held == 0 || reads == 0));
                    prop_assert!(reads <= IN_FLIGHT);
                }
            }
        }
    }
}
