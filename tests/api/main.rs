//! Integration tests: the real server over HTTP.

mod auth;
mod bad_input;
mod common;
mod graph_api;
mod health;
mod persistence;
mod query_options;
mod throttling;
