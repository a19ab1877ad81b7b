//! Handlers for the externalPartners collection and its older externalPartnerSettings
//! view. Each reads as: authenticate and authorize, parse, call the store, render.

use super::body::read_json_object;
use super::context::JSON_CONTENT_TYPE;
use super::render::{self, context_url, set_path};
use super::{input, GraphError};
use crate::app::AppState;
use crate::auth::{Caller, Permission};
use crate::odata::{query, EntityShape, SkipToken};
use crate::store::ListRequest;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The service root as the client addressed it, e.g. `http://127.0.0.1:8080/beta`.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}/beta")
}

fn json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    res
}

async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    needed: Permission,
) -> Result<Caller, GraphError> {
    let caller = app.authenticate(headers)?;
    caller.require_graph(needed)?;
    app.throttle
        .check_graph(&caller, needed == Permission::ReadWrite)?;
    // Heartbeats this process already answered must be visible to whatever this call
    // reads or returns (a PATCH answers with the status too).
    app.heartbeats.settle_tenant(caller.tenant).await?;
    Ok(caller)
}

/// A key that is not a GUID cannot name a record: answer as for any unknown id.
fn parse_key(shape: &EntityShape, id: &str) -> Result<Uuid, GraphError> {
    Uuid::try_parse(id).map_err(|_| not_found(shape, id))
}

fn not_found(shape: &EntityShape, id: &str) -> GraphError {
    GraphError::NotFound(format!(
        "No {} with id '{id}' exists in this tenant.",
        shape.type_name.trim_start_matches("microsoft.graph.")
    ))
}

/// The version an `If-Match` header requires: `None` without one or for `*`.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, GraphError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.split(',').any(|t| t.trim() == "*") {
        return Ok(None);
    }
    text.split(',')
        .find_map(|t| {
            let t = t.trim();
            t.strip_prefix("W/")
                .unwrap_or(t)
                .trim_matches('"')
                .parse::<i64>()
                .ok()
        })
        .map(Some)
        .ok_or_else(|| {
            GraphError::PreconditionFailed(format!(
                "The If-Match value '{text}' is not an ETag this service issued; use the @odata.etag of the entity, or '*'."
            ))
        })
}

/// A single-entity JSON response with its `ETag`.
fn entity_response(
    status: StatusCode,
    body: &Value,
    rec: &crate::model::PartnerRecord,
) -> Response {
    let mut res = json(status, body);
    if let Ok(tag) = HeaderValue::from_str(&rec.etag()) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    res
}

/// `GET …/{set}`
pub async fn list(
    shape: EntityShape,
    app: AppState,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, GraphError> {
    let caller = authorize(&app, &headers, Permission::Read).await?;
    let q = query::parse_collection(uri.query(), &shape)?;
    let now = app.clock.now();
    let status = app.status_clock(now);
    let window = q.window();
    let request = ListRequest {
        filter: q.filter.as_ref(),
        orderby: &q.orderby,
        offset: window.offset,
        limit: window.limit,
        status,
    };
    let page = app.store.list_partners(caller.tenant, &request).await?;
    let count = match q.count {
        true => Some(
            app.store
                .count_partners(caller.tenant, q.filter.as_ref(), status)
                .await?,
        ),
        false => None,
    };
    let base = base_url(&headers);
    let select = q.select.as_deref();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context_url(&shape, &base, select, false)),
    );
    if let Some(n) = count {
        body.insert("@odata.count".into(), Value::from(n));
    }
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|rec| {
            Value::Object(render::entity(
                &shape,
                rec,
                &app.status_of(rec, now),
                select,
            ))
        })
        .collect();
    body.insert("value".into(), Value::Array(items));
    if let Some(token) = page.more.then(|| q.next_token()).flatten() {
        body.insert(
            "@odata.nextLink".into(),
            Value::String(next_link(&shape, &base, &q, token)),
        );
    }
    Ok(json(StatusCode::OK, &Value::Object(body)))
}

/// `@odata.nextLink`: the same options, with the paging folded into `$skiptoken`.
fn next_link(
    shape: &EntityShape,
    base: &str,
    q: &query::CollectionQuery,
    token: SkipToken,
) -> String {
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

/// `GET …/{set}/$count`
pub async fn count(
    shape: EntityShape,
    app: AppState,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, GraphError> {
    let caller = authorize(&app, &headers, Permission::Read).await?;
    let q = query::parse_count(uri.query(), &shape)?;
    let n = app
        .store
        .count_partners(
            caller.tenant,
            q.filter.as_ref(),
            app.status_clock(app.clock.now()),
        )
        .await?;
    let mut res = n.to_string().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=utf-8"),
    );
    Ok(res)
}

/// `POST …/{set}`
pub async fn create(
    shape: EntityShape,
    app: AppState,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, GraphError> {
    let caller = authorize(&app, &headers, Permission::ReadWrite).await?;
    query::parse_none(uri.query(), &format!("a POST to {}", shape.set_name))?;
    let body = read_json_object(&headers, body).await?;
    let new = input::parse_create(&shape, &body)?;
    let now = app.clock.now();
    let rec = app.store.create_partner(caller.tenant, &new, now).await?;
    let base = base_url(&headers);
    let mut res = entity_response(
        StatusCode::CREATED,
        &render::single(&shape, &base, &rec, &app.status_of(&rec, now), None),
        &rec,
    );
    if let Ok(loc) = HeaderValue::from_str(&format!("{base}/{}/{}", set_path(&shape), rec.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// `GET …/{set}/{id}`
pub async fn get(
    shape: EntityShape,
    app: AppState,
    headers: HeaderMap,
    uri: Uri,
    id: String,
) -> Result<Response, GraphError> {
    let caller = authorize(&app, &headers, Permission::Read).await?;
    let q = query::parse_entity(uri.query(), &shape)?;
    let key = parse_key(&shape, &id)?;
    let rec = app
        .store
        .get_partner(caller.tenant, key)
        .await
        .map_err(|e| or_not_found(e, &shape, &id))?;
    let now = app.clock.now();
    let body = render::single(
        &shape,
        &base_url(&headers),
        &rec,
        &app.status_of(&rec, now),
        q.select.as_deref(),
    );
    Ok(entity_response(StatusCode::OK, &body, &rec))
}

/// `PATCH …/{set}/{id}`
pub async fn update(
    shape: EntityShape,
    app: AppState,
    headers: HeaderMap,
    uri: Uri,
    id: String,
    body: Body,
) -> Result<Response, GraphError> {
    let caller = authorize(&app, &headers, Permission::ReadWrite).await?;
    query::parse_none(uri.query(), &format!("a PATCH to {}", shape.set_name))?;
    let key = parse_key(&shape, &id)?;
    let body = read_json_object(&headers, body).await?;
    let update = input::parse_update(&shape, &body)?;
    let expected = if_match(&headers)?;
    let now = app.clock.now();
    let rec = app
        .store
        .update_partner(caller.tenant, key, &update, expected, now)
        .await
        .map_err(|e| or_not_found(e, &shape, &id))?;
    app.partners.forget(caller.tenant, rec.id);
    let body = render::single(
        &shape,
        &base_url(&headers),
        &rec,
        &app.status_of(&rec, now),
        None,
    );
    Ok(entity_response(StatusCode::OK, &body, &rec))
}

/// `DELETE …/{set}/{id}`
pub async fn delete(
    shape: EntityShape,
    app: AppState,
    headers: HeaderMap,
    uri: Uri,
    id: String,
) -> Result<Response, GraphError> {
    let caller = authorize(&app, &headers, Permission::ReadWrite).await?;
    query::parse_none(uri.query(), &format!("a DELETE on {}", shape.set_name))?;
    let key = parse_key(&shape, &id)?;
    let expected = if_match(&headers)?;
    app.store
        .delete_partner(caller.tenant, key, expected)
        .await
        .map_err(|e| or_not_found(e, &shape, &id))?;
    app.partners.forget(caller.tenant, key);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn or_not_found(e: crate::store::StoreError, shape: &EntityShape, id: &str) -> GraphError {
    match e {
        crate::store::StoreError::NotFound => not_found(shape, id),
        other => other.into(),
    }
}
