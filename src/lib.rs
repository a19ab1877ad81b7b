//! cloudpc-partners: a self-hostable implementation of the Microsoft Graph (beta)
//! Cloud PC external-partner API, with the partner side that drives connection health.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod connections;
pub mod dev;
pub mod edm;
pub mod graph;
pub mod http;
pub mod json;
pub mod logging;
pub mod migrate;
pub mod model;
pub mod odata;
pub mod openapi;
pub mod ops;
pub mod partner;
pub mod proxy;
pub mod site;
pub mod state;
pub mod store;
pub mod throttle;
pub mod throwaway;
pub mod tls;

pub use app::{start, Server};
pub use state::AppState;
