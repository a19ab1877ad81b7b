-- Throttling budgets shared by every process over this database. Each process leases
-- tokens in small batches (see src/throttle.rs), so a caller's budget is the
-- configured one however many processes serve it.
CREATE TABLE throttle_buckets (
    key     TEXT             PRIMARY KEY,
    tokens  DOUBLE PRECISION NOT NULL,
    granted BIGINT           NOT NULL,
    at_ms   BIGINT           NOT NULL
);
