//! JSON representations exactly as the seed pages show them, for either view.

use crate::connections::{Connection, Listing};
use crate::edm::json::json_of;
use crate::edm::{Derived, Source};
use crate::http::respond::{Collection, EntityResponse};
use crate::odata::{CollectionQuery, EntityView, Property, SkipToken};
use axum::http::StatusCode;
use serde_json::{Map, Value};

/// The path of an entity set below the service root.
pub fn set_path(shape: &EntityView) -> String {
    format!("deviceManagement/virtualEndpoint/{}", shape.set_name)
}

/// `@odata.context` for a collection or (with `entity`) a single entity.
pub fn context_url(
    shape: &EntityView,
    base: &str,
    select: Option<&[Property]>,
    entity: bool,
) -> String {
    let mut s = format!("{base}/$metadata#{}", set_path(shape));
    if let Some(props) = select {
        let names: Vec<&str> = props.iter().map(|p| shape.name(p)).collect();
        s.push_str(&format!("({})", names.join(",")));
    }
    if entity {
        s.push_str("/$entity");
    }
    s
}

/// One entity's properties (all, or the selected ones), after `@odata.type`.
pub fn properties(
    shape: &EntityView,
    conn: &Connection,
    select: Option<&[Property]>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        Value::String(format!("#{}", shape.qualified_type())),
    );
    m.insert("@odata.etag".into(), Value::String(conn.record.etag()));
    let mut put = |p: Property| {
        m.insert(shape.name(p).into(), value(p, conn));
    };
    match select {
        Some(chosen) => chosen.iter().copied().for_each(&mut put),
        None => shape.properties().for_each(&mut put),
    }
    m
}

/// One property's JSON value.
fn value(p: Property, conn: &Connection) -> Value {
    match p.source {
        Source::Key => Value::String(conn.record.id.to_string()),
        Source::Column(_) => json_of(conn.record.values.get(p.name), &p.edm),
        Source::Derived(Derived::Status) => Value::String(conn.health.status.as_str().into()),
        Source::Derived(Derived::StatusDetails) => Value::String(conn.health.details.clone()),
    }
}

/// A single-entity response: 200 with its `ETag`.
pub fn entity(
    shape: &EntityView,
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
pub fn created(shape: &EntityView, base: &str, conn: &Connection) -> EntityResponse {
    EntityResponse {
        status: StatusCode::CREATED,
        location: Some(format!("{base}/{}/{}", set_path(shape), conn.record.id)),
        ..entity(shape, base, conn, None)
    }
}

/// A page of a collection, with `@odata.count` and `@odata.nextLink` as they apply.
pub fn collection(
    shape: &EntityView,
    base: &str,
    q: &CollectionQuery,
    listing: &Listing,
) -> Collection {
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
    if let Some(token) = q.next_token().filter(|_| listing.more) {
        body.insert(
            "@odata.nextLink".into(),
            Value::String(next_link(shape, base, q, token)),
        );
    }
    Collection {
        body: Value::Object(body),
        max_page_size_applied: q.max_page_size_applied,
    }
}

/// `@odata.nextLink`: the same options, with the paging folded into `$skiptoken`.
fn next_link(shape: &EntityView, base: &str, q: &CollectionQuery, token: SkipToken) -> String {
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
    if let Some(top) = q.top {
        parts.push(format!("$top={top}"));
    }
    parts.push(format!("$skiptoken={}", token.encode()));
    format!("{base}/{}?{}", set_path(shape), parts.join("&"))
}
