//! Throttling buckets shared through PostgreSQL: one row per bucket, refilled and
//! drawn from in one statement, so concurrent leases from several processes never
//! hand out the same tokens.

use crate::throttle::{Lease, SharedBuckets};
use async_trait::async_trait;
use sqlx::PgPool;

/// Refill to `now`, then take up to `want` whole tokens; a new bucket starts full.
/// `granted` is written so `RETURNING` can report what this lease took.
const LEASE: &str = "
INSERT INTO throttle_buckets AS b (key, tokens, granted, at_ms)
VALUES ($1, $2 - LEAST($5, FLOOR($2)), LEAST($5, FLOOR($2)), $4)
ON CONFLICT (key) DO UPDATE SET
    granted = LEAST($5, FLOOR(LEAST($2, b.tokens + GREATEST(0, $4 - b.at_ms) * $3))),
    tokens = LEAST($2, b.tokens + GREATEST(0, $4 - b.at_ms) * $3)
             - LEAST($5, FLOOR(LEAST($2, b.tokens + GREATEST(0, $4 - b.at_ms) * $3))),
    at_ms = GREATEST(b.at_ms, $4)
RETURNING granted, tokens";

/// Buckets idle this long are full again and can go.
const FORGET_AFTER_MS: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub struct PgBuckets(pub PgPool);

#[async_trait]
impl SharedBuckets for PgBuckets {
    async fn lease(
        &self,
        key: &str,
        capacity: f64,
        per_ms: f64,
        want: u32,
        now_ms: i64,
    ) -> Result<Lease, String> {
        let (granted, left): (i64, f64) = sqlx::query_as(LEASE)
            .bind(key)
            .bind(capacity)
            .bind(per_ms)
            .bind(now_ms)
            .bind(f64::from(want))
            .fetch_one(&self.0)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Lease {
            granted: u32::try_from(granted.max(0)).unwrap_or(0),
            left,
        })
    }

    async fn forget_idle(&self, now_ms: i64) -> Result<u64, String> {
        sqlx::query("DELETE FROM throttle_buckets WHERE at_ms < $1")
            .bind(now_ms - FORGET_AFTER_MS)
            .execute(&self.0)
            .await
            .map(|d| d.rows_affected())
            .map_err(|e| e.to_string())
    }
}
