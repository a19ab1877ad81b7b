//! Described values as Graph's JSON.

use super::{EdmType, EntityView, Property, Scalar, Values};
use crate::clock::format_graph_time;
use serde_json::{Map, Value};

/// A stored value as JSON, in Graph's formats.
pub fn json_of(v: &Scalar, edm: &EdmType) -> Value {
    match (v, edm) {
        (Scalar::Null, _) => Value::Null,
        (Scalar::Bool(b), _) => Value::Bool(*b),
        (Scalar::Text(s), _) => Value::String(s.clone()),
        (Scalar::Time(t), _) => Value::String(format_graph_time(*t)),
        (Scalar::Enum(n), EdmType::Enum(e)) => e
            .member(*n)
            .map_or(Value::Null, |m| Value::String(m.into())),
        (Scalar::Enum(n), _) => Value::from(*n),
        (Scalar::Json(v), _) => v.clone(),
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
