//! The entity description: each entity type's properties with their JSON name per
//! view, EDM type, nullability, writability, query support and storage. The OData
//! binder, the SQL builder, input checks, rendering and `$metadata` all read it, so a
//! property's facts are written once. Pure data; no I/O.

pub mod csdl;
pub mod json;
mod scalar;

pub use scalar::{Scalar, Values};

use crate::json::Fields;

/// The schema namespace every type here lives in, as in Microsoft Graph.
pub const NAMESPACE: &str = "microsoft.graph";

/// An enumeration type; a member's value is its index in `members`.
#[derive(Debug, PartialEq, Eq)]
pub struct EnumType {
    pub name: &'static str,
    pub members: &'static [&'static str],
    /// The value of Graph's evolvable-enum sentinel `unknownFutureValue`, listed
    /// after the members in `$metadata` (`None`: the enum is not evolvable);
    /// clients never send or receive it. Microsoft numbers it 999 in some enums and
    /// next after the last member in others: the value is theirs, written here.
    pub unknown_future_value: Option<i64>,
}

impl EnumType {
    /// `microsoft.graph.<name>`
    pub fn qualified_name(&self) -> String {
        format!("{NAMESPACE}.{}", self.name)
    }

    /// The value of a member, spelled exactly as the schema spells it.
    pub fn value_of(&self, member: &str) -> Option<i64> {
        self.members
            .iter()
            .position(|m| *m == member)
            .and_then(|i| i64::try_from(i).ok())
    }

    /// The member with a value.
    pub fn member(&self, value: i64) -> Option<&'static str> {
        usize::try_from(value)
            .ok()
            .and_then(|i| self.members.get(i).copied())
    }
}

/// A complex type: a structured value without identity, stored as one JSON value.
#[derive(Debug, PartialEq, Eq)]
pub struct ComplexType {
    pub name: &'static str,
    pub fields: &'static [FieldDef],
}

impl ComplexType {
    /// Checks a JSON value a client sent as `name` against the type's fields, and
    /// returns it with its fields in schema order; the error names the offending
    /// field.
    pub fn check(
        &self,
        value: &serde_json::Value,
        name: &str,
    ) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        let mut given = Fields::of(value, name)?;
        let mut out = serde_json::Map::new();
        for f in self.fields {
            let v = given.raw(f.name).unwrap_or(&Value::Null);
            let ok = match (&f.edm, v) {
                (_, Value::Null) => f.nullable,
                (EdmType::String | EdmType::GuidString, Value::String(_)) => true,
                (EdmType::Boolean, Value::Bool(_)) => true,
                (EdmType::StringCollection, Value::Array(items)) => {
                    items.iter().all(Value::is_string)
                }
                _ => false,
            };
            if !ok {
                return Err(format!("{} must be {}.", given.name(f.name), f.edm.name()));
            }
            out.insert(f.name.to_owned(), v.clone());
        }
        given.finish_with(|unknown, known| {
            format!(
                "{unknown} is not a field of {NAMESPACE}.{}, which has {}.",
                self.name,
                known.join(", ")
            )
        })?;
        Ok(Value::Object(out))
    }
}

/// One field of a complex type.
#[derive(Debug, PartialEq, Eq)]
pub struct FieldDef {
    pub name: &'static str,
    pub edm: EdmType,
    pub nullable: bool,
}

/// A property's type.
#[derive(Debug, PartialEq, Eq)]
pub enum EdmType {
    String,
    /// An `Edm.String` that holds a GUID: checked on input, compared in lower case.
    GuidString,
    Boolean,
    DateTimeOffset,
    Enum(&'static EnumType),
    Complex(&'static ComplexType),
    /// `Collection(Edm.String)`, inside complex types.
    StringCollection,
}

impl EdmType {
    /// The name `$metadata` and error messages use.
    pub fn name(&self) -> String {
        match self {
            EdmType::String | EdmType::GuidString => "Edm.String".into(),
            EdmType::Boolean => "Edm.Boolean".into(),
            EdmType::DateTimeOffset => "Edm.DateTimeOffset".into(),
            EdmType::Enum(e) => e.qualified_name(),
            EdmType::Complex(c) => format!("{NAMESPACE}.{}", c.name),
            EdmType::StringCollection => "Collection(Edm.String)".into(),
        }
    }
}

/// Whether a request body may, or must, carry a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writable {
    No,
    Optional,
    Required,
}

/// Which `$filter` operators a property supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOps {
    None,
    /// `eq`, `ne` and `in`.
    Equality,
    /// Equality and `gt`, `ge`, `lt`, `le`.
    Ordering,
}

/// Values this service computes at read time instead of storing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// The connection's health, from its heartbeats and the clock.
    Status,
    /// The sentence that explains the health.
    StatusDetails,
}

/// Where a property's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The entity key, stored in column `id`.
    Key,
    /// A stored column of the property's type.
    Column(&'static str),
    Derived(Derived),
}

/// One property of an entity type.
#[derive(Debug, PartialEq, Eq)]
pub struct PropertyDef {
    /// The JSON name (in the current view; see [`EntityView::renames`]).
    pub name: &'static str,
    pub edm: EdmType,
    pub nullable: bool,
    pub on_create: Writable,
    pub on_update: Writable,
    pub filter: FilterOps,
    pub sortable: bool,
    /// Kept current by the service itself (health, the partner's sync time): a body
    /// sending it back with an older value is not trying to change it.
    pub server_maintained: bool,
    pub source: Source,
}

/// A property, by reference into its entity type's table.
pub type Property = &'static PropertyDef;

/// An entity type: its properties in the order JSON renders them.
#[derive(Debug, PartialEq, Eq)]
pub struct EntityType {
    pub name: &'static str,
    pub properties: &'static [PropertyDef],
}

impl EntityType {
    /// The properties stored in columns, with their column names.
    pub fn columns(&self) -> impl Iterator<Item = (Property, &'static str)> {
        self.properties.iter().filter_map(|p| match p.source {
            Source::Column(c) => Some((p, c)),
            _ => None,
        })
    }

    /// A property by its name in the current view; `None` if there is none.
    pub fn property(&self, name: &str) -> Option<Property> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// An action or a function bound to an entity type.
#[derive(Debug, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    /// An action changes state (POST); a function only reads (GET).
    pub is_action: bool,
    pub parameters: &'static [(&'static str, EdmType)],
    pub returns: Option<Returns>,
}

/// What an operation returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Returns {
    String,
    /// A collection of a described row type (rendered as a complex type).
    CollectionOf(&'static EntityType),
}

/// One entity set and how it names its type and properties: the same records can be
/// served under several views (the older one renames a property).
#[derive(Debug, PartialEq, Eq)]
pub struct EntityView {
    /// The entity-set segment, e.g. `externalPartners`.
    pub set_name: &'static str,
    /// The type name this view declares, e.g. `cloudPcExternalPartner`.
    pub type_name: &'static str,
    pub entity: &'static EntityType,
    /// `(property name, name in this view)` for each property this view renames.
    pub renames: &'static [(&'static str, &'static str)],
    /// Properties this view does not have (its type predates them).
    pub omits: &'static [&'static str],
}

impl EntityView {
    /// The 404 for an id this view's set does not hold, worded from the view.
    pub fn no_such(&self, id: &dyn std::fmt::Display) -> String {
        format!(
            "No {} with id '{id}' exists in this tenant's {}.",
            self.type_name, self.set_name
        )
    }

    /// `microsoft.graph.<type name>`
    pub fn qualified_type(&self) -> String {
        format!("{NAMESPACE}.{}", self.type_name)
    }

    /// The properties in the order JSON renders them.
    pub fn properties(&self) -> impl Iterator<Item = Property> + '_ {
        self.entity
            .properties
            .iter()
            .filter(|p| !self.omits.contains(&p.name))
    }

    /// The JSON name of a property in this view.
    pub fn name(&self, p: Property) -> &'static str {
        self.renames
            .iter()
            .find(|(from, _)| *from == p.name)
            .map_or(p.name, |(_, to)| *to)
    }

    /// Finds a property by its name in this view; case-insensitive, as Graph is.
    pub fn lookup(&self, name: &str) -> Option<Property> {
        self.properties()
            .find(|p| self.name(p).eq_ignore_ascii_case(name))
    }

    /// Finds a property by its exact name in this view, as a request body must spell it.
    pub fn exact(&self, name: &str) -> Option<Property> {
        self.properties().find(|p| self.name(p) == name)
    }
}

/// Everything one service describes, listed once: what `$metadata`, the OpenAPI
/// document and the routes (and so the unknown-path hints) iterate. Adding an entity
/// type is adding it here, with its description.
#[derive(Debug)]
pub struct Catalog {
    /// The entity sets below `virtualEndpoint`, as views of the records.
    pub sets: &'static [EntitySet],
    /// The view whose type the operations are bound to.
    pub bound_to: &'static EntityView,
    /// Operations bound to that view's type.
    pub operations: &'static [Operation],
    /// The views of the rows the functions return (complex types in Graph's schema,
    /// described like entities so the same query options apply).
    pub row_views: &'static [&'static EntityView],
    pub complex_types: &'static [&'static ComplexType],
    pub enums: &'static [&'static EnumType],
}

/// An entity set of a [`Catalog`].
#[derive(Debug)]
pub struct EntitySet {
    pub view: &'static EntityView,
    /// What the set holds, for the documents.
    pub about: &'static str,
    /// For a view Microsoft deprecated: served only while its switch is on, marked
    /// so in the documents, and answered with the headers that say so.
    pub deprecated: Option<Deprecation>,
}

/// When a view was deprecated and removed, and what replaces it.
#[derive(Debug)]
pub struct Deprecation {
    /// RFC 9745's form: `@` and Unix time.
    pub announced: &'static str,
    /// RFC 8594's form: an HTTP date.
    pub sunset: &'static str,
    pub successor: &'static EntityView,
}

impl Catalog {
    /// The sets served: every one, or the current ones only.
    pub fn sets(&self, deprecated_too: bool) -> impl Iterator<Item = &EntitySet> {
        self.sets
            .iter()
            .filter(move |s| deprecated_too || s.deprecated.is_none())
    }
}
