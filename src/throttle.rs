//! Throttling like Graph's: token buckets per app per tenant (all requests, and
//! writes) and per partner connection, answered with 429 and `Retry-After`.
//!
//! Hand-written rather than a rate-limiting crate so the buckets run on the service's
//! injected clock: tests move time to show recovery after the window.

use crate::auth::Caller;
use crate::clock::Clock;
use crate::model::TenantId;
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Requests(TenantId, String),
    Writes(TenantId, String),
    Partner(TenantId, Uuid),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

/// The buckets; `None` limits mean throttling is off.
pub struct Throttle {
    limits: Option<ThrottleLimits>,
    buckets: Mutex<HashMap<Key, Bucket>>,
    clock: Arc<dyn Clock>,
}

/// Buckets kept before full (idle) ones are dropped.
const SOFT_LIMIT: usize = 100_000;

impl Throttle {
    pub fn new(limits: Option<ThrottleLimits>, clock: Arc<dyn Clock>) -> Self {
        Self {
            limits,
            buckets: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Charges a Graph call to its app in its tenant.
    pub fn check_graph(&self, caller: &Caller, write: bool) -> Result<(), Throttled> {
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
        self.take(&keys, l.window)
    }

    /// Charges a partner API call to its connection.
    pub fn check_partner(&self, tenant: TenantId, partner_id: Uuid) -> Result<(), Throttled> {
        let Some(l) = self.limits else { return Ok(()) };
        self.take(
            &[(
                Key::Partner(tenant, partner_id),
                l.partner_requests,
                "partner requests",
            )],
            l.window,
        )
    }

    /// Takes one token from every bucket, or from none if any is empty.
    fn take(&self, keys: &[(Key, u32, &'static str)], window: Duration) -> Result<(), Throttled> {
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
                let wait_ms = ((1.0 - tokens) / rate).ceil();
                let secs = ((wait_ms / 1000.0).ceil() as u64).max(1);
                if refused.as_ref().is_none_or(|r| r.retry_after_secs < secs) {
                    refused = Some(Throttled {
                        retry_after_secs: secs,
                        budget,
                    });
                }
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

    #[test]
    fn refuses_past_the_budget_and_refills_over_the_window() {
        let limits = ThrottleLimits {
            window: Duration::from_secs(20),
            requests: 4,
            writes: 2,
            partner_requests: 1,
        };
        let (t, clock) = setup(limits);
        let c = caller("a");
        assert!(t.check_graph(&c, true).is_ok());
        assert!(t.check_graph(&c, true).is_ok());
        let refused = t.check_graph(&c, true).unwrap_err();
        assert_eq!(refused.budget, "writes");
        assert_eq!(refused.retry_after_secs, 10, "one write refills in 20s/2");
        // Reads still have budget, and a refused write did not spend a request token.
        assert!(t.check_graph(&c, false).is_ok());
        assert!(t.check_graph(&c, false).is_ok());
        assert_eq!(t.check_graph(&c, false).unwrap_err().budget, "requests");
        // Other apps are counted apart.
        assert!(t.check_graph(&caller("b"), true).is_ok());
        clock.advance(chrono::Duration::seconds(20));
        assert!(t.check_graph(&c, true).is_ok());
    }

    #[test]
    fn off_means_off() {
        let t = Throttle::new(None, Arc::new(crate::clock::SystemClock));
        for _ in 0..10_000 {
            assert!(t.check_partner(TenantId(Uuid::nil()), Uuid::nil()).is_ok());
        }
    }
}
