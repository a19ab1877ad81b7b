//! Described values as Graph's JSON.

use super::{EdmType, EntityView, Property, Scalar, Values};
use crate::clock::format_graph_time;
use serde_json::{Map, Value};

/// A stored value as JSON, in Graph's formats.
pub fn json_of(v: &Scalar, edm: &EdmType) -> Value {
    serde_json::to_value(ScalarJson(v, edm)).unwrap_or(Value::Null)
}

/// A stored value, serialized in Graph's formats straight into the response (no
/// intermediate JSON tree): the one place these formats are written.
pub struct ScalarJson<'a>(pub &'a Scalar, pub &'a EdmType);

impl serde::Serialize for ScalarJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.0, self.1) {
            (Scalar::Null, _) => s.serialize_unit(),
            (Scalar::Bool(b), _) => s.serialize_bool(*b),
            (Scalar::Text(t), _) => s.serialize_str(t),
            (Scalar::Time(t), _) => s.serialize_str(&format_graph_time(*t)),
            (Scalar::Enum(n), EdmType::Enum(e)) => match e.member(*n) {
                Some(m) => s.serialize_str(m),
                None => s.serialize_unit(),
            },
            (Scalar::Enum(n), _) => s.serialize_i64(*n),
            (Scalar::Json(v), _) => v.serialize(s),
        }
    }
}

/// A described row's properties (all, or the selected ones), as JSON.
pub fn described(
    view: &EntityView,
    values: &Values,
    select: Option<&[Property]>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |p: Property| {
        m.insert(view.name(p).into(), json_of(values.get(p.name), &p.edm));
    };
    match select {
        Some(chosen) => chosen.iter().copied().for_each(&mut put),
        None => view.properties().for_each(&mut put),
    }
    m
}
