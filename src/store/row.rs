//! The stored row, as both backends read it: columns laid out from the entity
//! description, decoded into backend-neutral cells, and turned into the domain record.

use super::StoreError;
use crate::clock::{from_millis, to_millis};
use crate::edm::{EdmType, Property, Scalar, Values};
use crate::model::schema::PARTNER;
use crate::model::PartnerRecord;
use std::sync::LazyLock;
use uuid::Uuid;

/// How a column is stored: every value is a Boolean, a 64-bit integer (timestamps
/// as epoch milliseconds, enum values) or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Text,
}

/// One decoded column value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
}

/// How a property of type `edm` is stored.
pub fn kind_of(edm: &EdmType) -> Kind {
    match edm {
        EdmType::Boolean => Kind::Bool,
        EdmType::DateTimeOffset | EdmType::Enum(_) => Kind::Int,
        EdmType::String | EdmType::GuidString => Kind::Text,
        // Structured values are stored as JSON text.
        EdmType::Complex(_) | EdmType::StringCollection => Kind::Text,
    }
}

/// Columns every record has besides its described properties, after them.
const SYSTEM_COLUMNS: [(&str, Kind); 5] = [
    ("enabled_at", Kind::Int),
    ("last_heartbeat_at", Kind::Int),
    ("created_at", Kind::Int),
    ("updated_at", Kind::Int),
    ("version", Kind::Int),
];

/// The columns a record is read from, in order: the key, each stored property, the
/// system columns.
pub static RECORD_COLUMNS: LazyLock<Vec<(&'static str, Kind)>> = LazyLock::new(|| {
    let mut cols = vec![("id", Kind::Text)];
    cols.extend(PARTNER.columns().map(|(p, c)| (c, kind_of(&p.edm))));
    cols.extend(SYSTEM_COLUMNS);
    cols
});

/// The whole stored row, tenant first: what a data migration copies.
pub static FULL_ROW_COLUMNS: LazyLock<Vec<(&'static str, Kind)>> = LazyLock::new(|| {
    let mut cols = vec![("tenant_id", Kind::Text)];
    cols.extend(RECORD_COLUMNS.iter().copied());
    cols
});

/// `RECORD_COLUMNS` as a select list.
pub static SELECT_LIST: LazyLock<String> = LazyLock::new(|| names(&RECORD_COLUMNS));

/// Column names joined for SQL.
pub fn names(cols: &[(&str, Kind)]) -> String {
    cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

/// The stored form of a property value.
pub fn cell_of(value: &Scalar) -> Cell {
    match value {
        Scalar::Null => Cell::Null,
        Scalar::Bool(b) => Cell::Bool(*b),
        Scalar::Text(s) => Cell::Text(s.clone()),
        Scalar::Time(t) => Cell::Int(to_millis(*t)),
        Scalar::Enum(v) => Cell::Int(*v),
        Scalar::Json(v) => Cell::Text(v.to_string()),
    }
}

/// A stored value as the property's type.
fn scalar_of(p: Property, cell: Cell) -> Result<Scalar, StoreError> {
    Ok(match (&p.edm, cell) {
        (_, Cell::Null) => Scalar::Null,
        (EdmType::Boolean, Cell::Bool(b)) => Scalar::Bool(b),
        (EdmType::String | EdmType::GuidString, Cell::Text(s)) => Scalar::Text(s),
        (EdmType::DateTimeOffset, Cell::Int(ms)) => Scalar::Time(from_millis(ms)),
        (EdmType::Enum(_), Cell::Int(v)) => Scalar::Enum(v),
        (EdmType::Complex(_) | EdmType::StringCollection, Cell::Text(s)) => Scalar::Json(
            serde_json::from_str(&s)
                .map_err(|e| StoreError::Corrupt(format!("'{}' holds bad JSON: {e}", p.name)))?,
        ),
        (_, other) => {
            return Err(StoreError::Corrupt(format!(
                "column of '{}' holds {other:?}",
                p.name
            )))
        }
    })
}

/// Builds a record from cells read in [`RECORD_COLUMNS`] order.
pub fn record_from_cells(cells: Vec<Cell>) -> Result<PartnerRecord, StoreError> {
    let mut cells = cells.into_iter();
    let mut next = || cells.next().unwrap_or(Cell::Null);
    let id = match next() {
        Cell::Text(s) => {
            Uuid::try_parse(&s).map_err(|_| StoreError::Corrupt(format!("'{s}' is not a GUID")))?
        }
        other => return Err(StoreError::Corrupt(format!("id holds {other:?}"))),
    };
    let mut values = Values::new();
    for (p, _) in PARTNER.columns() {
        values.set(p.name, scalar_of(p, next())?);
    }
    let mut time = || match next() {
        Cell::Int(ms) => Ok(Some(from_millis(ms))),
        Cell::Null => Ok(None),
        other => Err(StoreError::Corrupt(format!("a timestamp holds {other:?}"))),
    };
    let enabled_at = time()?;
    let last_heartbeat_at = time()?;
    let created_at = time()?.unwrap_or_default();
    let updated_at = time()?.unwrap_or_default();
    let version = match next() {
        Cell::Int(v) => v,
        other => return Err(StoreError::Corrupt(format!("version holds {other:?}"))),
    };
    Ok(PartnerRecord {
        id,
        values,
        enabled_at,
        last_heartbeat_at,
        created_at,
        updated_at,
        version,
    })
}
