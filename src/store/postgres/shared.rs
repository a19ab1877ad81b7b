//! Connections shared by every request at once, for short reads (point reads,
//! pages): `tokio-postgres` pipelines the statements concurrent
//! requests send on one connection, so under load a write to the socket carries
//! several of them and one read brings several answers back, with no checkout.
//! Measured against checking a connection out of the pool for each statement, with
//! 32 clients on this 2-core box: 1.45× the statements a second, 17 µs of this
//! process's CPU per statement against 26, and 37 µs of PostgreSQL's against 53.
//!
//! Statements that must have a connection to themselves (transactions), that may
//! run long (scans, which would hold up every statement queued behind them) or that
//! commit (whose wait for the disk would hold them up too) use the pool instead.

use super::{describe, store_error};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Statement};

/// Statements one shared connection carries at once; more wait (up to the acquire
/// timeout), so a stalled database holds a bounded queue.
const IN_FLIGHT: usize = 64;
/// Statements kept prepared on one shared connection (see `PREPARED_PER_CONNECTION`).
const PREPARED: usize = 256;

/// A few connections, each used by many requests at once.
pub struct Shared {
    config: Arc<tokio_postgres::Config>,
    slots: Vec<Slot>,
    next: AtomicUsize,
    acquire_timeout: Duration,
}

struct Slot {
    /// The connection, made on first use and again after it closes.
    current: Mutex<Option<Arc<Connection>>>,
    /// Held while a connection is being made, so only one request makes it.
    opening: tokio::sync::Mutex<()>,
    permits: Semaphore,
}

/// One open connection and the statements prepared on it.
pub struct Connection {
    pub client: Client,
    /// By SQL text (looked up without copying it), with the types it was prepared for.
    prepared: Mutex<HashMap<String, (Vec<Type>, Statement)>>,
}

/// A shared connection lent to one statement.
pub struct Lent<'a> {
    pub connection: Arc<Connection>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Shared {
    pub fn new(
        config: Arc<tokio_postgres::Config>,
        connections: usize,
        acquire_timeout: Duration,
    ) -> Self {
        Self {
            config,
            slots: (0..connections)
                .map(|_| Slot {
                    current: Mutex::new(None),
                    opening: tokio::sync::Mutex::new(()),
                    permits: Semaphore::new(IN_FLIGHT),
                })
                .collect(),
            next: AtomicUsize::new(0),
            acquire_timeout,
        }
    }

    /// The next connection in turn, opened (again) if need be.
    pub async fn lend(&self) -> Result<Lent<'_>, StoreError> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len().max(1);
        let slot = self
            .slots
            .get(at)
            .ok_or_else(|| StoreError::Unreachable("no shared connections".into()))?;
        let permit = tokio::time::timeout(self.acquire_timeout, slot.permits.acquire())
            .await
            .map_err(|_| {
                StoreError::Busy(
                    "the database answers too slowly for the statements waiting".into(),
                )
            })?
            .map_err(|_| StoreError::Unreachable("the store is closed".into()))?;
        let connection = match slot.open() {
            Some(c) => c,
            None => {
                let _opening = slot.opening.lock().await;
                match slot.open() {
                    Some(c) => c,
                    None => {
                        let c = Arc::new(self.connect().await?);
                        *slot.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
                        c
                    }
                }
            }
        };
        Ok(Lent {
            connection,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Connection, StoreError> {
        let (client, driver) =
            tokio::time::timeout(self.acquire_timeout, self.config.connect(NoTls))
                .await
                .map_err(|_| {
                    StoreError::Unreachable(format!(
                        "no connection to PostgreSQL within {} ms",
                        self.acquire_timeout.as_millis()
                    ))
                })?
                .map_err(|e| StoreError::Unreachable(describe(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::warn!(error = %e, "a shared PostgreSQL connection closed");
            }
        });
        Ok(Connection {
            client,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// Refuses further statements; the connections close as their last users finish.
    pub fn close(&self) {
        for slot in &self.slots {
            slot.permits.close();
        }
    }
}

impl Slot {
    /// The connection, if it is open.
    fn open(&self) -> Option<Arc<Connection>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|c| !c.client.is_closed())
    }
}

impl Connection {
    /// The statement prepared on this connection for `text` and `types`.
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

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<Type>, Statement)>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }
}
