//! Handlers for the externalPartners collection and its older externalPartnerSettings
//! view. Each reads as: its extractors authorize and parse, it calls one use case, it
//! renders.

use super::input;
use super::options::{CountOptions, EntityOptions, ListOptions, NoOptions, View};
use super::render;
use crate::http::body::JsonObject;
use crate::http::error::InView;
use crate::http::extract::{GraphCaller, IfMatch, Key, Read, ReadWrite, ServiceRoot};
use crate::http::respond::{Collection, EntityResponse, PlainText};
use crate::http::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;

/// `GET …/{set}`
pub async fn list(
    caller: GraphCaller<Read>,
    View(view): View,
    ListOptions(q): ListOptions,
    ServiceRoot(root): ServiceRoot,
    State(app): State<AppState>,
) -> Result<Collection, ApiError> {
    let listing = app.connections.list(caller.tenant(), &q).await?;
    Ok(render::collection(view, &root, &q, &listing))
}

/// `GET …/{set}/$count`
pub async fn count(
    caller: GraphCaller<Read>,
    CountOptions(q): CountOptions,
    State(app): State<AppState>,
) -> Result<PlainText, ApiError> {
    let n = app
        .connections
        .count(caller.tenant(), q.filter.as_ref())
        .await?;
    Ok(PlainText(n.to_string()))
}

/// `POST …/{set}`
pub async fn create(
    caller: GraphCaller<ReadWrite>,
    View(view): View,
    _: NoOptions,
    ServiceRoot(root): ServiceRoot,
    State(app): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<EntityResponse, ApiError> {
    let new = input::parse_create(view, &body)?;
    let created = app.connections.create(caller.tenant(), &new).await?;
    Ok(render::created(view, &root, &created))
}

/// `GET …/{set}/{id}`
pub async fn get(
    caller: GraphCaller<Read>,
    View(view): View,
    EntityOptions(q): EntityOptions,
    Key(id): Key,
    ServiceRoot(root): ServiceRoot,
    State(app): State<AppState>,
) -> Result<EntityResponse, ApiError> {
    let found = app
        .connections
        .get(caller.tenant(), id)
        .await
        .in_view(view)?;
    Ok(render::entity(view, &root, &found, q.select.as_deref()))
}

/// `PATCH …/{set}/{id}`
#[allow(clippy::too_many_arguments)]
pub async fn update(
    caller: GraphCaller<ReadWrite>,
    View(view): View,
    _: NoOptions,
    Key(id): Key,
    IfMatch(expected): IfMatch,
    ServiceRoot(root): ServiceRoot,
    State(app): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<EntityResponse, ApiError> {
    let update = input::parse_update(view, &body)?;
    let updated = app
        .connections
        .update(caller.tenant(), id, &update, expected)
        .await
        .in_view(view)?;
    Ok(render::entity(view, &root, &updated, None))
}

/// `DELETE …/{set}/{id}`
pub async fn delete(
    caller: GraphCaller<ReadWrite>,
    View(view): View,
    _: NoOptions,
    Key(id): Key,
    IfMatch(expected): IfMatch,
    State(app): State<AppState>,
) -> Result<StatusCode, ApiError> {
    app.connections
        .delete(caller.tenant(), id, expected)
        .await
        .in_view(view)?;
    Ok(StatusCode::NO_CONTENT)
}
