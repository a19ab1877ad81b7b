//! Time as a dependency: the service reads "now" from a `Clock` so tests can move
//! time forward and watch a connection turn unhealthy without sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// Source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// The time tokens are issued and checked at: the real time under a clock that
    /// can be moved, so moving it cannot expire the token that would move it back.
    fn token_now(&self) -> DateTime<Utc> {
        self.now()
    }
}

/// Parses durations as people write them: `2s`, `90s`, `5m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration like 90s, 5m or 1h: {e}"))?;
    if d.is_zero() {
        return Err(format!("'{s}' is zero; give a positive duration"));
    }
    Ok(d)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // Millisecond precision: what the database stores, so a value read back
        // compares equal to the one written.
        from_millis(Utc::now().timestamp_millis())
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Milliseconds since the Unix epoch: how every timestamp is stored, so the same
/// SQL comparisons work on SQLite and PostgreSQL.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch rather than panic.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Graph's timestamp format: UTC, second precision unless there is a fraction, `Z` suffix.
pub fn format_graph_time(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_millis() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// A clock a developer can move: another clock's time plus an offset that only grows
/// or is set. Behind `serve --dev`, so a test can see `healthy` turn `unhealthy`
/// without waiting.
pub struct AdjustableClock {
    base: std::sync::Arc<dyn Clock>,
    offset_ms: std::sync::atomic::AtomicI64,
}

impl AdjustableClock {
    pub fn over(base: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            base,
            offset_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::SeqCst);
    }

    /// Sets the clock to `to` (forward or back).
    pub fn set(&self, to: DateTime<Utc>) {
        let offset = to.timestamp_millis() - self.base.now().timestamp_millis();
        self.offset_ms
            .store(offset, std::sync::atomic::Ordering::SeqCst);
    }

    /// Back to the base clock's time.
    pub fn reset(&self) {
        self.offset_ms.store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// How far this clock is from the base clock.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> DateTime<Utc> {
        let base = self.base.now();
        base.checked_add_signed(self.offset()).unwrap_or(base)
    }

    fn token_now(&self) -> DateTime<Utc> {
        self.base.token_now()
    }
}
