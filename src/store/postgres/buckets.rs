//! Throttling buckets shared through PostgreSQL: one row per bucket, refilled and
//! drawn from in one statement, so concurrent leases from several processes never
//! hand out the same tokens.

use crate::store::StoreError;
use tokio_postgres::types::Type;

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

/// Throttling buckets kept in the database.
#[derive(Debug, Clone)]
pub struct Buckets(pub(crate) super::Postgres);

impl Buckets {
    /// Refills `key`'s bucket to `now_ms` and takes up to `want` whole tokens;
    /// answers how many it took and how many are left.
    pub async fn lease(
        &self,
        key: &str,
        capacity: f64,
        per_ms: f64,
        want: u32,
        now_ms: i64,
    ) -> Result<(u32, f64), StoreError> {
        let lease = self.0.pool.exclusive().await?;
        let prepared = lease
            .prepare(
                LEASE,
                &[
                    Type::TEXT,
                    Type::FLOAT8,
                    Type::FLOAT8,
                    Type::INT8,
                    Type::FLOAT8,
                ],
            )
            .await?;
        let row = lease
            .client
            .query_one(
                &prepared,
                &[&key, &capacity, &per_ms, &now_ms, &f64::from(want)],
            )
            .await
            .map_err(super::store_error)?;
        let granted: i64 = row.try_get(0).map_err(super::store_error)?;
        let left: f64 = row.try_get(1).map_err(super::store_error)?;
        Ok((u32::try_from(granted.max(0)).unwrap_or(0), left))
    }

    /// Drops buckets idle long enough to be full again; answers how many went.
    pub async fn forget_idle(&self, now_ms: i64) -> Result<u64, StoreError> {
        let lease = self.0.pool.exclusive().await?;
        let prepared = lease
            .prepare(
                "DELETE FROM throttle_buckets WHERE at_ms < $1",
                &[Type::INT8],
            )
            .await?;
        lease
            .client
            .execute(&prepared, &[&(now_ms - FORGET_AFTER_MS)])
            .await
            .map_err(super::store_error)
    }
}
