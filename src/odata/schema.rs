//! Property lookup in the words Graph uses when a name does not exist.

use super::QueryError;
pub use crate::edm::{EntityView, Property};

/// Finds a property by name (case-insensitive, as Graph is), or says it does not exist.
pub fn resolve(view: &EntityView, name: &str, context: &str) -> Result<Property, QueryError> {
    view.lookup(name).ok_or_else(|| {
        QueryError::new(format!(
            "{context}: Could not find a property named '{name}' on type '{}'.",
            view.qualified_type()
        ))
    })
}
