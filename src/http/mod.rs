//! The envelope both HTTP fronts share: the one error type and its mapping to Graph's
//! error body and headers, per-request context (ids, headers, log line, metrics),
//! body reading, extractors that authenticate and parse, and typed responses.

pub mod body;
pub mod canonical;
pub mod context;
pub mod error;
pub mod extract;
pub mod limits;
pub mod respond;
pub mod routes;
pub mod slots;

pub use error::ApiError;
