//! JSON representations exactly as the seed pages show them, for either view.

use crate::clock::format_graph_time;
use crate::model::{PartnerRecord, StatusReport};
use crate::odata::{EntityShape, Property};
use serde_json::{Map, Value};

/// The path of an entity set below the service root.
pub fn set_path(shape: &EntityShape) -> String {
    format!("deviceManagement/virtualEndpoint/{}", shape.set_name)
}

/// `@odata.context` for a collection or (with `entity`) a single entity.
pub fn context_url(
    shape: &EntityShape,
    base: &str,
    select: Option<&[Property]>,
    entity: bool,
) -> String {
    let mut s = format!("{base}/$metadata#{}", set_path(shape));
    if let Some(props) = select {
        let names: Vec<&str> = props.iter().map(|p| shape.name(*p)).collect();
        s.push_str(&format!("({})", names.join(",")));
    }
    if entity {
        s.push_str("/$entity");
    }
    s
}

/// One entity's properties (all, or the selected ones), after `@odata.type`.
pub fn entity(
    shape: &EntityShape,
    rec: &PartnerRecord,
    report: &StatusReport,
    select: Option<&[Property]>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        Value::String(format!("#{}", shape.type_name)),
    );
    m.insert("@odata.etag".into(), Value::String(rec.etag()));
    for p in select.unwrap_or(&Property::ALL) {
        let v = match p {
            Property::Id => Value::String(rec.id.to_string()),
            Property::PartnerId => Value::String(rec.partner_id.to_string()),
            Property::EnableConnection => Value::Bool(rec.enable_connection),
            Property::LastSyncDateTime => rec
                .last_sync_at
                .map(|t| Value::String(format_graph_time(t)))
                .unwrap_or(Value::Null),
            Property::ConnectionStatus => Value::String(report.status.as_str().into()),
            Property::StatusDetails => Value::String(report.details.clone()),
        };
        m.insert(shape.name(*p).into(), v);
    }
    m
}

/// A single-entity response body.
pub fn single(
    shape: &EntityShape,
    base: &str,
    rec: &PartnerRecord,
    report: &StatusReport,
    select: Option<&[Property]>,
) -> Value {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        Value::String(context_url(shape, base, select, true)),
    );
    m.extend(entity(shape, rec, report, select));
    Value::Object(m)
}
