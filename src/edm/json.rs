//! Described values as Graph's JSON.

use super::{EdmType, EntityView, Property, Scalar, Values};
use crate::clock::format_graph_time;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A stored value as JSON, in Graph's formats.
pub fn json_of(v: &Scalar, edm: &EdmType) -> Value {
    serde_json::to_value(ScalarJson(v, edm)).unwrap_or(Value::Null)
}

/// A stored value, serialized in Graph's formats straight into the response (no
/// intermediate JSON tree).
pub struct ScalarJson<'a>(pub &'a Scalar, pub &'a EdmType);

/// What a stored value is written as in Graph's JSON: the one place these formats
/// are decided, for serde and for the hand-written bodies alike.
#[derive(Debug, PartialEq)]
pub enum Form<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    Json(&'a Value),
}

impl<'a> ScalarJson<'a> {
    pub fn form(&self) -> Form<'a> {
        match (self.0, self.1) {
            (Scalar::Null, _) => Form::Null,
            (Scalar::Bool(b), _) => Form::Bool(*b),
            (Scalar::Text(t), _) => Form::Str(Cow::Borrowed(t)),
            (Scalar::Time(t), _) => Form::Str(Cow::Owned(format_graph_time(*t))),
            (Scalar::Enum(n), EdmType::Enum(e)) => match e.member(*n) {
                Some(m) => Form::Str(Cow::Borrowed(m)),
                None => Form::Null,
            },
            (Scalar::Enum(n), _) => Form::Int(*n),
            (Scalar::Json(v), _) => Form::Json(v),
        }
    }
}

impl serde::Serialize for ScalarJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.form() {
            Form::Null => s.serialize_unit(),
            Form::Bool(b) => s.serialize_bool(b),
            Form::Int(n) => s.serialize_i64(n),
            Form::Str(t) => s.serialize_str(&t),
            Form::Json(v) => v.serialize(s),
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

/// A page of described rows, as Graph writes a collection: `@odata.context` when
/// given, `@odata.count` when asked for, `value`, and `@odata.nextLink` when there is
/// more. (Entities have their own hand-written page, on the hot path.)
pub struct RowsPage<'a> {
    pub view: &'a EntityView,
    pub rows: &'a [Values],
    pub select: Option<&'a [Property]>,
    pub context: Option<String>,
    pub count: Option<u64>,
    pub next_link: Option<String>,
}

impl RowsPage<'_> {
    pub fn into_json(self) -> Value {
        let mut body = Map::new();
        if let Some(context) = self.context {
            body.insert("@odata.context".into(), Value::String(context));
        }
        if let Some(n) = self.count {
            body.insert("@odata.count".into(), Value::from(n));
        }
        let items = self
            .rows
            .iter()
            .map(|values| Value::Object(described(self.view, values, self.select)))
            .collect();
        body.insert("value".into(), Value::Array(items));
        if let Some(link) = self.next_link {
            body.insert("@odata.nextLink".into(), Value::String(link));
        }
        Value::Object(body)
    }
}
