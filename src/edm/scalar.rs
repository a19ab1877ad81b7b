//! Typed values of the primitive properties: what a record holds, a filter compares
//! with, and the store binds.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One value of a primitive or enum property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Text(String),
    Time(DateTime<Utc>),
    /// An enum member's value.
    Enum(i64),
    /// A complex value, as JSON.
    Json(serde_json::Value),
}

/// Stored property values by property name.
///
/// Shared, not copied, when a record is cloned: the records kept between writes
/// are handed out as clones on every read, and a page of them was spending more
/// on copying and freeing these maps than on anything else it did with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(Arc<BTreeMap<&'static str, Scalar>>);

impl Values {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, name: &'static str, value: Scalar) {
        Arc::make_mut(&mut self.0).insert(name, value);
    }

    /// The value of `name`; a property with no value is null.
    pub fn get(&self, name: &str) -> &Scalar {
        self.0.get(name).unwrap_or(&Scalar::Null)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Scalar::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Scalar::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        match self.get(name) {
            Scalar::Time(t) => Some(*t),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Scalar)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }
}
