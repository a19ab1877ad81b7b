//! Integration tests on the embedded database: the real server over HTTP.
//! `tests/api_postgres.rs` runs the same tests on PostgreSQL.

#[path = "../support/mod.rs"]
mod support;
#[macro_use]
mod common;
mod agent;
mod auth;
mod authority;
mod bad_input;
mod batch;
mod dev;
mod graph_api;
mod health;
mod limits;
mod operations;
mod persistence;
mod protocol;
mod proxy;
mod query_options;
mod site;
mod storage;
mod throttling;

/// The database these tests run on.
pub const BACKEND: common::Backend = common::Backend::Sqlite;
