//! Heartbeat coalescing: heartbeats are the hot write path, so they are not written
//! one transaction (and one fsync) each. The latest heartbeat per connection is kept
//! in memory and flushed as one batch every flush interval.
//!
//! Crash-loss bound: a heartbeat is soft state. A crash loses at most the heartbeats
//! received since the last flush began (one flush interval, plus a flush in progress);
//! the partner's next heartbeat restores the status. Syncs and PATCHes do not pass
//! through here and stay durable per request.
//!
//! Reads agree with heartbeats already answered: before a Graph read of a tenant with
//! pending heartbeats, the read waits for a flush, so SQL-side `$filter`/`$orderby`
//! on `connectionStatus` and the rendered status see the same data.

use super::WriteHealth;
use crate::model::TenantId;
use crate::store::{Heartbeat, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Rows per background write: a read that must wait for its tenant's heartbeats
/// waits for at most one chunk, not for every tenant's.
const CHUNK_ROWS: usize = 2000;

/// Unflushed heartbeats, and the tenants whose heartbeats a flush is writing now;
/// one lock for both, so a tenant is never in neither while its beats are unwritten.
#[derive(Default)]
struct Pending {
    beats: HashMap<TenantId, HashMap<Uuid, DateTime<Utc>>>,
    in_flight: HashSet<TenantId>,
}

impl Pending {
    /// Keeps the newest heartbeat per connection.
    fn note(&mut self, tenant: TenantId, id: Uuid, at: DateTime<Utc>) {
        let slot = self
            .beats
            .entry(tenant)
            .or_default()
            .entry(id)
            .or_insert(at);
        if *slot < at {
            *slot = at;
        }
    }
}

/// The latest unflushed heartbeat per connection.
pub struct HeartbeatBuffer {
    pending: Mutex<Pending>,
    /// Held for the duration of a flush, so a read can wait for one in progress.
    flushing: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
    writes: Arc<WriteHealth>,
}

impl HeartbeatBuffer {
    pub fn new(store: Arc<dyn Store>, writes: Arc<WriteHealth>) -> Self {
        Self {
            writes,
            pending: Mutex::new(Pending::default()),
            flushing: tokio::sync::Mutex::new(()),
            store,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a heartbeat; only the newest per connection is kept.
    pub fn record(&self, tenant: TenantId, id: Uuid, at: DateTime<Utc>) {
        self.lock().note(tenant, id, at);
        metrics::counter!("heartbeats_received_total").increment(1);
    }

    /// How many connections have an unflushed heartbeat.
    pub fn pending_len(&self) -> usize {
        self.lock().beats.values().map(HashMap::len).sum()
    }

    /// Makes every heartbeat this process has answered for `tenant` visible to the
    /// database before a read of that tenant.
    pub async fn settle_tenant(&self, tenant: TenantId) -> Result<(), StoreError> {
        let unwritten =
            |p: &Pending| p.beats.contains_key(&tenant) || p.in_flight.contains(&tenant);
        // The common case costs one uncontended lock: nothing of this tenant's to wait for.
        if !unwritten(&self.lock()) {
            return Ok(());
        }
        let _flush = self.flushing.lock().await;
        // Only this tenant's beats: a small write, however many other tenants wait.
        self.flush_locked(Some(tenant)).await.map(|_| ())
    }

    /// Writes all heartbeats pending now, a chunk of whole tenants at a time, letting
    /// reads settle their own tenant between chunks.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let due = self.pending_len();
        let mut written = 0;
        while written < due {
            let _flush = self.flushing.lock().await;
            match self.flush_locked(None).await? {
                0 => break,
                n => written += n,
            }
        }
        Ok(written)
    }

    /// Writes the pending heartbeats of `only` one tenant, or the next chunk of
    /// whole tenants (at least one, about [`CHUNK_ROWS`] rows).
    async fn flush_locked(&self, only: Option<TenantId>) -> Result<usize, StoreError> {
        let batch: Vec<Heartbeat> = {
            let mut pending = self.lock();
            let beats: HashMap<TenantId, HashMap<Uuid, DateTime<Utc>>> = match only {
                Some(t) => pending.beats.remove_entry(&t).into_iter().collect(),
                None => {
                    let mut rows = 0;
                    let tenants: Vec<TenantId> = pending
                        .beats
                        .iter()
                        .take_while(|(_, b)| {
                            let take = rows < CHUNK_ROWS;
                            rows += b.len();
                            take
                        })
                        .map(|(t, _)| *t)
                        .collect();
                    tenants
                        .into_iter()
                        .filter_map(|t| pending.beats.remove_entry(&t))
                        .collect()
                }
            };
            pending.in_flight = beats.keys().copied().collect();
            beats
                .into_iter()
                .flat_map(|(tenant, beats)| {
                    beats
                        .into_iter()
                        .map(move |(id, at)| Heartbeat { tenant, id, at })
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        let written = self.store.record_heartbeats(&batch).await;
        let mut pending = self.lock();
        pending.in_flight.clear();
        self.writes.observe(&written);
        match written {
            Ok(()) => {
                metrics::histogram!("heartbeat_flush_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("heartbeat_flush_batch_size").record(batch.len() as f64);
                Ok(batch.len())
            }
            Err(e) => {
                // Put them back (newer ones that arrived meanwhile win) and retry next time.
                for b in &batch {
                    pending.note(b.tenant, b.id, b.at);
                }
                Err(e)
            }
        }
    }

    /// Flushes every `interval` until `shutdown` resolves, then flushes once more.
    pub fn spawn_flusher(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if let Err(e) = self.flush().await {
                    tracing::error!(error = %e, "heartbeat flush failed; will retry");
                }
                // With nothing left to write, only a probe can tell that writes work
                // again (and let heartbeats and readiness come back).
                if self.writes.failing() && self.pending_len() == 0 {
                    self.writes.observe(&self.store.check_writable().await);
                }
            }
            match self.flush().await {
                Ok(n) => tracing::info!(heartbeats = n, "flushed pending heartbeats at shutdown"),
                Err(e) => tracing::error!(error = %e, "final heartbeat flush failed"),
            }
        })
    }
}
