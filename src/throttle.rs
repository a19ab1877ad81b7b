//! Throttling like Graph's: token buckets per app per tenant (all requests, and
//! writes) and per partner connection, answered with 429 and `Retry-After`.
//!
//! One process keeps its buckets in memory. Several processes over one PostgreSQL
//! share them: each leases tokens from the shared bucket in small batches and spends
//! them locally, topping up in the background before it runs out, so a caller's
//! budget is the configured one (within the few tokens each process holds) however
//! many processes serve it, and a request waits for the database only when its
//! process has no token left for that caller.
//!
//! Hand-written rather than a rate-limiting crate so the buckets run on the service's
//! injected clock: tests move time to show recovery after the window.

use crate::auth::Caller;
use crate::clock::Clock;
use crate::model::TenantId;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Limits, each per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    pub window: Duration,
    /// Graph requests per app per tenant.
    pub requests: u32,
    /// Graph writes per app per tenant (also counted as requests).
    pub writes: u32,
    /// Partner API calls per partner connection.
    pub partner_requests: u32,
}

/// A refused call: how long until it would be accepted, and which budget ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
    pub budget: &'static str,
}

/// What a lease from a shared bucket gave: whole tokens, and what the bucket holds now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    pub granted: u32,
    pub left: f64,
}

/// Buckets shared by every process over one database.
#[async_trait]
pub trait SharedBuckets: Send + Sync + 'static {
    /// Refills bucket `key` (holding at most `capacity`, refilling `per_ms` tokens a
    /// millisecond) to `now_ms`, then takes up to `want` whole tokens from it.
    async fn lease(
        &self,
        key: &str,
        capacity: f64,
        per_ms: f64,
        want: u32,
        now_ms: i64,
    ) -> Result<Lease, String>;

    /// Drops buckets idle long enough to be full again; how many went.
    async fn forget_idle(&self, now_ms: i64) -> Result<u64, String>;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Requests(TenantId, String),
    Writes(TenantId, String),
    Partner(TenantId, Uuid),
}

impl Key {
    /// The shared bucket's name.
    fn shared_name(&self) -> String {
        match self {
            Key::Requests(t, app) => format!("requests/{t}/{app}"),
            Key::Writes(t, app) => format!("writes/{t}/{app}"),
            Key::Partner(t, p) => format!("partner/{t}/{p}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// Tokens this process leased from a shared bucket and has not spent.
#[derive(Debug, Clone, Copy, Default)]
struct Allowance {
    tokens: u32,
    /// A background top-up is under way.
    topping_up: bool,
}

/// The buckets; `None` limits mean throttling is off.
pub struct Throttle {
    limits: Option<ThrottleLimits>,
    buckets: Mutex<HashMap<Key, Bucket>>,
    shared: Option<Arc<Shared>>,
    clock: Arc<dyn Clock>,
}

struct Shared {
    source: Arc<dyn SharedBuckets>,
    allowances: Mutex<HashMap<Key, Allowance>>,
    leasing: tokio::sync::Mutex<()>,
}

/// Buckets kept before full (idle) ones are dropped.
const SOFT_LIMIT: usize = 100_000;

/// Tokens one lease asks for: a sixtieth of the budget, so the tokens every process
/// holds unspent stay a few per cent of it.
fn batch(capacity: u32) -> u32 {
    capacity.div_ceil(60).max(1)
}

/// One bucket of a call: its key, capacity and the name a 429 gives it.
type Charge = (Key, u32, &'static str);

impl Throttle {
    /// Buckets in this process alone.
    pub fn new(limits: Option<ThrottleLimits>, clock: Arc<dyn Clock>) -> Self {
        Self {
            limits,
            buckets: Mutex::new(HashMap::new()),
            shared: None,
            clock,
        }
    }

    /// Buckets shared with other processes through `source`.
    pub fn shared(
        limits: Option<ThrottleLimits>,
        clock: Arc<dyn Clock>,
        source: Arc<dyn SharedBuckets>,
    ) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                source,
                allowances: Mutex::new(HashMap::new()),
                leasing: tokio::sync::Mutex::new(()),
            })),
            ..Self::new(limits, clock)
        }
    }

    /// Charges a Graph call to its app in its tenant.
    pub async fn check_graph(&self, caller: &Caller, write: bool) -> Result<(), Throttled> {
        let Some(l) = self.limits else { return Ok(()) };
        let mut keys = vec![(
            Key::Requests(caller.tenant, caller.app_id.clone()),
            l.requests,
            "requests",
        )];
        if write {
            keys.push((
                Key::Writes(caller.tenant, caller.app_id.clone()),
                l.writes,
                "writes",
            ));
        }
        self.take(&keys, l.window).await
    }

    /// Charges a partner API call to its connection.
    pub async fn check_partner(&self, tenant: TenantId, partner_id: Uuid) -> Result<(), Throttled> {
        let Some(l) = self.limits else { return Ok(()) };
        self.take(
            &[(
                Key::Partner(tenant, partner_id),
                l.partner_requests,
                "partner requests",
            )],
            l.window,
        )
        .await
    }

    /// Drops shared buckets nobody has used for long; for a periodic sweep.
    pub async fn forget_idle(&self) {
        if let Some(shared) = &self.shared {
            let now = self.clock.now().timestamp_millis();
            if let Err(e) = shared.source.forget_idle(now).await {
                tracing::warn!(error = %e, "could not sweep idle throttling buckets");
            }
        }
    }

    async fn take(&self, keys: &[Charge], window: Duration) -> Result<(), Throttled> {
        match &self.shared {
            None => self.take_local(keys, window),
            Some(shared) => {
                let now = self.clock.now().timestamp_millis();
                match shared.take(keys, window, now).await {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        // The shared buckets cannot be reached: each process keeps
                        // the budget alone rather than refuse or wave everyone in.
                        tracing::warn!(error = %e, "shared throttling unavailable; throttling in this process alone");
                        self.take_local(keys, window)
                    }
                }
            }
        }
    }

    /// Takes one token from every bucket, or from none if any is empty.
    fn take_local(&self, keys: &[Charge], window: Duration) -> Result<(), Throttled> {
        let now = self.clock.now().timestamp_millis();
        let window_ms = window.as_millis().max(1) as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= SOFT_LIMIT {
            buckets.retain(|_, b| b.tokens < 1.0 || now - b.at_ms < window.as_millis() as i64);
        }
        let mut refused: Option<Throttled> = None;
        let mut refreshed = Vec::with_capacity(keys.len());
        for (key, capacity, budget) in keys {
            let cap = f64::from(*capacity);
            let rate = cap / window_ms; // tokens per millisecond
            let b = buckets.get(key).copied().unwrap_or(Bucket {
                tokens: cap,
                at_ms: now,
            });
            let tokens = (b.tokens + (now - b.at_ms).max(0) as f64 * rate).min(cap);
            if tokens < 1.0 {
                refused = worse(refused, wait(tokens, rate), budget);
            }
            refreshed.push((key.clone(), tokens));
        }
        let charge = refused.is_none();
        for (key, tokens) in refreshed {
            let tokens = if charge { tokens - 1.0 } else { tokens };
            buckets.insert(key, Bucket { tokens, at_ms: now });
        }
        match refused {
            None => Ok(()),
            Some(t) => Err(t),
        }
    }
}

/// Seconds until a bucket holding `tokens` has one, refilling at `rate` a millisecond.
fn wait(tokens: f64, rate: f64) -> u64 {
    let wait_ms = ((1.0 - tokens).max(0.0) / rate).ceil();
    ((wait_ms / 1000.0).ceil() as u64).max(1)
}

/// The longer of two refusals.
fn worse(current: Option<Throttled>, secs: u64, budget: &'static str) -> Option<Throttled> {
    match current {
        Some(r) if r.retry_after_secs >= secs => Some(r),
        _ => Some(Throttled {
            retry_after_secs: secs,
            budget,
        }),
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Allowance>> {
        self.allowances.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one held token of every key; `None` when some key has none.
    fn spend(&self, keys: &[Charge]) -> Option<Vec<(Key, u32)>> {
        let mut held = self.lock();
        if keys
            .iter()
            .any(|(k, _, _)| held.get(k).is_none_or(|a| a.tokens == 0))
        {
            return None;
        }
        let mut top_up = Vec::new();
        for (key, capacity, _) in keys {
            let a = held.entry(key.clone()).or_default();
            a.tokens -= 1;
            if a.tokens < batch(*capacity).div_ceil(2) && !a.topping_up {
                a.topping_up = true;
                top_up.push((key.clone(), *capacity));
            }
        }
        Some(top_up)
    }

    /// Spends one leased token of every key, leasing first for keys with none.
    /// `Err` only when the shared buckets cannot be reached.
    async fn take(
        self: &Arc<Self>,
        keys: &[Charge],
        window: Duration,
        now: i64,
    ) -> Result<Result<(), Throttled>, String> {
        let window_ms = window.as_millis().max(1) as f64;
        // Leasing, then spending, can lose the leased token to another request;
        // a few rounds settle it.
        for _ in 0..4 {
            if let Some(top_up) = self.spend(keys) {
                for (key, capacity) in top_up {
                    self.top_up(key, capacity, window_ms, now);
                }
                return Ok(Ok(()));
            }
            // One lease at a time in this process: a top-up in flight lands first,
            // and its tokens are seen before another lease is asked for.
            let _leasing = self.leasing.lock().await;
            let empty: Vec<&Charge> = {
                let held = self.lock();
                keys.iter()
                    .filter(|(k, _, _)| held.get(k).is_none_or(|a| a.tokens == 0))
                    .collect()
            };
            let mut refused = None;
            for (key, capacity, budget) in empty {
                let lease = self.lease(key, *capacity, window_ms, now).await?;
                self.lock().entry(key.clone()).or_default().tokens += lease.granted;
                if lease.granted == 0 {
                    let rate = f64::from(*capacity) / window_ms;
                    refused = worse(refused, wait(lease.left, rate), budget);
                }
            }
            if let Some(t) = refused {
                return Ok(Err(t));
            }
        }
        Ok(Err(Throttled {
            retry_after_secs: 1,
            budget: keys.first().map_or("requests", |(_, _, b)| *b),
        }))
    }

    /// One batch from the shared bucket of `key`.
    async fn lease(
        &self,
        key: &Key,
        capacity: u32,
        window_ms: f64,
        now: i64,
    ) -> Result<Lease, String> {
        let cap = f64::from(capacity);
        self.source
            .lease(
                &key.shared_name(),
                cap,
                cap / window_ms,
                batch(capacity),
                now,
            )
            .await
    }

    /// Leases the next batch in the background, before this process runs out.
    fn top_up(self: &Arc<Self>, key: Key, capacity: u32, window_ms: f64, now: i64) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let _leasing = me.leasing.lock().await;
            let lease = me.lease(&key, capacity, window_ms, now).await;
            let mut held = me.lock();
            let a = held.entry(key).or_default();
            a.topping_up = false;
            match lease {
                Ok(lease) => a.tokens += lease.granted,
                Err(e) => tracing::warn!(error = %e, "could not top up a throttling allowance"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CallerKind;
    use crate::clock::ManualClock;
    use chrono::{TimeZone, Utc};

    fn setup(limits: ThrottleLimits) -> (Throttle, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        (Throttle::new(Some(limits), clock.clone()), clock)
    }

    fn caller(app: &str) -> Caller {
        Caller {
            tenant: TenantId(Uuid::nil()),
            app_id: app.into(),
            kind: CallerKind::Delegated { scopes: vec![] },
            identity: Default::default(),
        }
    }

    #[tokio::test]
    async fn refuses_past_the_budget_and_refills_over_the_window() {
        let limits = ThrottleLimits {
            window: Duration::from_secs(20),
            requests: 4,
            writes: 2,
            partner_requests: 1,
        };
        let (t, clock) = setup(limits);
        let c = caller("a");
        assert!(t.check_graph(&c, true).await.is_ok());
        assert!(t.check_graph(&c, true).await.is_ok());
        let refused = t.check_graph(&c, true).await.unwrap_err();
        assert_eq!(refused.budget, "writes");
        assert_eq!(refused.retry_after_secs, 10, "one write refills in 20s/2");
        // Reads still have budget, and a refused write did not spend a request token.
        assert!(t.check_graph(&c, false).await.is_ok());
        assert!(t.check_graph(&c, false).await.is_ok());
        assert_eq!(
            t.check_graph(&c, false).await.unwrap_err().budget,
            "requests"
        );
        // Other apps are counted apart.
        assert!(t.check_graph(&caller("b"), true).await.is_ok());
        clock.advance(chrono::Duration::seconds(20));
        assert!(t.check_graph(&c, true).await.is_ok());
    }

    #[tokio::test]
    async fn off_means_off() {
        let t = Throttle::new(None, Arc::new(crate::clock::SystemClock));
        for _ in 0..10_000 {
            assert!(t
                .check_partner(TenantId(Uuid::nil()), Uuid::nil())
                .await
                .is_ok());
        }
    }

    /// A shared bucket in memory, standing in for PostgreSQL's.
    #[derive(Default)]
    struct MemoryBuckets(Mutex<HashMap<String, (f64, i64)>>);

    #[async_trait]
    impl SharedBuckets for MemoryBuckets {
        async fn lease(
            &self,
            key: &str,
            capacity: f64,
            per_ms: f64,
            want: u32,
            now_ms: i64,
        ) -> Result<Lease, String> {
            let mut m = self.0.lock().unwrap();
            let (tokens, at) = m.get(key).copied().unwrap_or((capacity, now_ms));
            let avail = (tokens + (now_ms - at).max(0) as f64 * per_ms).min(capacity);
            let granted = f64::from(want).min(avail.floor());
            m.insert(key.to_owned(), (avail - granted, now_ms.max(at)));
            Ok(Lease {
                granted: granted as u32,
                left: avail - granted,
            })
        }

        async fn forget_idle(&self, _: i64) -> Result<u64, String> {
            Ok(0)
        }
    }

    /// Three processes sharing one bucket admit the budget between them, not three
    /// times it, and each refusal says when to come back.
    #[tokio::test]
    async fn processes_sharing_buckets_share_the_budget() {
        let limits = ThrottleLimits {
            window: Duration::from_secs(20),
            requests: 1000,
            writes: 120,
            partner_requests: 100,
        };
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let source: Arc<dyn SharedBuckets> = Arc::new(MemoryBuckets::default());
        let processes: Vec<Throttle> = (0..3)
            .map(|_| Throttle::shared(Some(limits), clock.clone(), source.clone()))
            .collect();
        let c = caller("a");
        let mut admitted = 0;
        let mut last_refusal = None;
        for i in 0..600 {
            match processes[i % 3].check_graph(&c, true).await {
                Ok(()) => admitted += 1,
                Err(t) => last_refusal = Some(t),
            }
            // Let background top-ups land.
            tokio::task::yield_now().await;
        }
        assert!(
            (108..=132).contains(&admitted),
            "admitted {admitted} of a budget of 120"
        );
        let refusal = last_refusal.unwrap();
        assert_eq!(refusal.budget, "writes");
        assert!((1..=20).contains(&refusal.retry_after_secs));
    }
}
