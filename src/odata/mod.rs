//! The OData subset this service speaks, over the entity description (`edm`): `$filter`
//! parsing to a typed AST, the other query options, and opaque paging tokens. Pure; no I/O.

pub mod filter;
pub mod paging;
pub mod query;
pub mod schema;

pub use filter::{CompareOp, Filter, Value};
pub use paging::{Cursor, SkipToken};
pub use query::{CollectionQuery, CountQuery, Direction, EntityQuery, OrderBy};
pub use schema::{EntityView, Property};

/// A query option the client got wrong; `message` tells them what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub message: String,
}

impl QueryError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
