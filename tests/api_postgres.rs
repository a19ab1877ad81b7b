//! The integration tests of `tests/api/` on PostgreSQL (each test in a fresh schema of
//! `DATABASE_URL`), plus what only a shared database has: several server processes.
//! Without `DATABASE_URL` they are skipped with a notice; under CI they fail instead.

#[path = "support/mod.rs"]
mod support;
#[path = "api/common.rs"]
#[macro_use]
mod common;
#[path = "api/agent.rs"]
mod agent;
#[path = "api/auth.rs"]
mod auth;
#[path = "api/bad_input.rs"]
mod bad_input;
#[path = "api/batch.rs"]
mod batch;
#[path = "api/dev.rs"]
mod dev;
#[path = "api/graph_api.rs"]
mod graph_api;
#[path = "api/health.rs"]
mod health;
#[path = "api/multiprocess.rs"]
mod multiprocess;
#[path = "api/pg_pool.rs"]
mod pg_pool;
#[path = "api/protocol.rs"]
mod protocol;
#[path = "api/query_options.rs"]
mod query_options;
#[path = "api/throttling.rs"]
mod throttling;

/// The database these tests run on.
pub const BACKEND: common::Backend = common::Backend::Postgres;
