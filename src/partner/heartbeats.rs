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

use crate::model::TenantId;
use crate::store::{Heartbeat, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

type Pending = HashMap<TenantId, HashMap<Uuid, DateTime<Utc>>>;

/// The latest unflushed heartbeat per connection.
pub struct HeartbeatBuffer {
    pending: Mutex<Pending>,
    /// Held for the duration of a flush, so a read can wait for one in progress.
    flushing: tokio::sync::Mutex<()>,
    store: Arc<dyn Store>,
}

impl HeartbeatBuffer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            store,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a heartbeat; only the newest per connection is kept.
    pub fn record(&self, tenant: TenantId, id: Uuid, at: DateTime<Utc>) {
        let mut pending = self.lock();
        let slot = pending.entry(tenant).or_default().entry(id).or_insert(at);
        if *slot < at {
            *slot = at;
        }
        metrics::counter!("heartbeats_received_total").increment(1);
    }

    /// How many connections have an unflushed heartbeat.
    pub fn pending_len(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    /// Makes every heartbeat this process has answered for `tenant` visible to the
    /// database before a read of that tenant.
    pub async fn settle_tenant(&self, tenant: TenantId) -> Result<(), StoreError> {
        let _flush = self.flushing.lock().await;
        if self.lock().contains_key(&tenant) {
            self.flush_locked().await?;
        }
        Ok(())
    }

    /// Writes all pending heartbeats now.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _flush = self.flushing.lock().await;
        self.flush_locked().await
    }

    async fn flush_locked(&self) -> Result<usize, StoreError> {
        let batch: Vec<Heartbeat> = std::mem::take(&mut *self.lock())
            .into_iter()
            .flat_map(|(tenant, beats)| {
                beats
                    .into_iter()
                    .map(move |(id, at)| Heartbeat { tenant, id, at })
            })
            .collect();
        if batch.is_empty() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        match self.store.record_heartbeats(&batch).await {
            Ok(()) => {
                metrics::histogram!("heartbeat_flush_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("heartbeat_flush_batch_size").record(batch.len() as f64);
                Ok(batch.len())
            }
            Err(e) => {
                // Put them back (newer ones that arrived meanwhile win) and retry next time.
                for b in &batch {
                    self.record_back(b);
                }
                Err(e)
            }
        }
    }

    fn record_back(&self, b: &Heartbeat) {
        let mut pending = self.lock();
        let slot = pending
            .entry(b.tenant)
            .or_default()
            .entry(b.id)
            .or_insert(b.at);
        if *slot < b.at {
            *slot = b.at;
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
            }
            match self.flush().await {
                Ok(n) => tracing::info!(heartbeats = n, "flushed pending heartbeats at shutdown"),
                Err(e) => tracing::error!(error = %e, "final heartbeat flush failed"),
            }
        })
    }
}
