//! Extractors for the Graph routes: which view of the records a route serves, and
//! its query options parsed against that view.

use crate::http::ApiError;
use crate::odata::{query, CollectionQuery, CountQuery, EntityQuery, EntityView};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;

/// The view of the records a route serves (`externalPartners` or the older
/// `externalPartnerSettings`), set on its routes as an extension.
#[derive(Debug, Clone, Copy)]
pub struct View(pub &'static EntityView);

impl<S: Send + Sync> FromRequestParts<S> for View {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<&'static EntityView>()
            .copied()
            .map(View)
            .ok_or_else(|| {
                tracing::error!(path = %parts.uri.path(), "route has no entity view");
                ApiError::Internal
            })
    }
}

/// Query options of a collection GET.
pub struct ListOptions(pub CollectionQuery);
/// Query options of a single-entity GET.
pub struct EntityOptions(pub EntityQuery);
/// Query options of `/$count`.
pub struct CountOptions(pub CountQuery);
/// A request that takes no query options (POST, PATCH, DELETE).
pub struct NoOptions;

impl<S: Send + Sync> FromRequestParts<S> for ListOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let View(view) = View::from_request_parts(parts, state).await?;
        let max_page_size = max_page_size(&parts.headers);
        Ok(ListOptions(query::parse_collection(
            parts.uri.query(),
            view,
            max_page_size,
        )?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EntityOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let View(view) = View::from_request_parts(parts, state).await?;
        Ok(EntityOptions(query::parse_entity(parts.uri.query(), view)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CountOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let View(view) = View::from_request_parts(parts, state).await?;
        Ok(CountOptions(query::parse_count(parts.uri.query(), view)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NoOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let View(view) = View::from_request_parts(parts, state).await?;
        let target = match parts.method {
            Method::DELETE => format!("a DELETE on {}", view.set_name),
            ref m => format!("a {m} to {}", view.set_name),
        };
        query::parse_none(parts.uri.query(), &target)?;
        Ok(NoOptions)
    }
}

/// `Prefer: odata.maxpagesize=N` (or OData 4.0's `maxpagesize`), among any other
/// preferences; a malformed one is ignored, as preferences may be.
fn max_page_size(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| pref.split_once('='))
        .find(|(name, _)| {
            let name = name.trim();
            name.eq_ignore_ascii_case("odata.maxpagesize")
                || name.eq_ignore_ascii_case("maxpagesize")
        })
        .and_then(|(_, value)| value.trim().trim_matches('"').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn max_page_size_is_found_among_preferences() {
        let mut h = HeaderMap::new();
        assert_eq!(max_page_size(&h), None);
        h.insert(
            "prefer",
            HeaderValue::from_static("return=minimal, odata.maxpagesize=25"),
        );
        assert_eq!(max_page_size(&h), Some(25));
        h.insert(
            "prefer",
            HeaderValue::from_static("odata.maxpagesize=\"7\""),
        );
        assert_eq!(max_page_size(&h), Some(7));
        h.insert("prefer", HeaderValue::from_static("odata.maxpagesize=lots"));
        assert_eq!(max_page_size(&h), None);
    }
}
