//! JSON representations exactly as the seed pages show them, for either view.

use crate::clock::format_graph_time;
use crate::connections::{Connection, Listing};
use crate::http::respond::{EntityResponse, GraphJson};
use crate::odata::{CollectionQuery, EntityShape, Property, SkipToken};
use axum::http::StatusCode;
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
pub fn properties(
    shape: &EntityShape,
    conn: &Connection,
    select: Option<&[Property]>,
) -> Map<String, Value> {
    let (rec, report) = (&conn.record, &conn.health);
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

/// A single-entity response: 200 with its `ETag`.
pub fn entity(
    shape: &EntityShape,
    base: &str,
    conn: &Connection,
    select: Option<&[Property]>,
) -> EntityResponse {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        Value::String(context_url(shape, base, select, true)),
    );
    m.extend(properties(shape, conn, select));
    EntityResponse {
        status: StatusCode::OK,
        body: Value::Object(m),
        etag: conn.record.etag(),
        location: None,
    }
}

/// A create's response: 201, with the new entity's `Location`.
pub fn created(shape: &EntityShape, base: &str, conn: &Connection) -> EntityResponse {
    EntityResponse {
        status: StatusCode::CREATED,
        location: Some(format!("{base}/{}/{}", set_path(shape), conn.record.id)),
        ..entity(shape, base, conn, None)
    }
}

/// A page of a collection, with `@odata.count` and `@odata.nextLink` as they apply.
pub fn collection(
    shape: &EntityShape,
    base: &str,
    q: &CollectionQuery,
    listing: &Listing,
) -> GraphJson {
    let select = q.select.as_deref();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context_url(shape, base, select, false)),
    );
    if let Some(n) = listing.count {
        body.insert("@odata.count".into(), Value::from(n));
    }
    let items = listing
        .items
        .iter()
        .map(|c| Value::Object(properties(shape, c, select)))
        .collect();
    body.insert("value".into(), Value::Array(items));
    if let Some(token) = listing.more.then(|| q.next_token()).flatten() {
        body.insert(
            "@odata.nextLink".into(),
            Value::String(next_link(shape, base, q, token)),
        );
    }
    GraphJson(StatusCode::OK, Value::Object(body))
}

/// `@odata.nextLink`: the same options, with the paging folded into `$skiptoken`.
fn next_link(shape: &EntityShape, base: &str, q: &CollectionQuery, token: SkipToken) -> String {
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut parts = Vec::new();
    if let Some(f) = &q.raw_filter {
        parts.push(format!("$filter={}", enc(f)));
    }
    if let Some(s) = &q.raw_select {
        parts.push(format!("$select={}", enc(s)));
    }
    if let Some(o) = &q.raw_orderby {
        parts.push(format!("$orderby={}", enc(o)));
    }
    if q.count {
        parts.push("$count=true".into());
    }
    parts.push(format!("$skiptoken={}", token.encode()));
    format!("{base}/{}?{}", set_path(shape), parts.join("&"))
}
