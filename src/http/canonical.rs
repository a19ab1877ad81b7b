//! Request targets as the router expects them, whatever the client's spelling: `$`
//! for `%24` in the path (Kiota's URI templates encode it in `$batch` and `$count`),
//! no trailing slash (Graph treats `…/externalPartners/` as `…/externalPartners`), and
//! no empty segment (Graph takes `/beta//deviceManagement` as `/beta/deviceManagement`;
//! Microsoft's Python SDK sends that when its base URL is left at Graph's default).

use axum::http::uri::{PathAndQuery, Uri};
use axum::http::Request;

/// The same request, its path rewritten if it needs to be.
pub fn canonical_request<B>(mut req: Request<B>) -> Request<B> {
    if let Some(uri) = canonical_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    req
}

/// The rewritten URI, or `None` if it is already canonical.
pub fn canonical_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let mut fixed = path.replace("%24", "$");
    while fixed.contains("//") {
        fixed = fixed.replace("//", "/");
    }
    while fixed.len() > 1 && fixed.ends_with('/') {
        fixed.pop();
    }
    if fixed == path {
        return None;
    }
    let target = match uri.query() {
        Some(q) => format!("{fixed}?{q}"),
        None => fixed,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(s: &str) -> String {
        let uri: Uri = s.parse().unwrap();
        canonical_uri(&uri).map_or_else(|| s.to_owned(), |u| u.to_string())
    }

    #[test]
    fn dollar_segments_and_trailing_slashes() {
        assert_eq!(fix("/beta/%24batch"), "/beta/$batch");
        assert_eq!(
            fix("/beta/x/%24count?%24filter=a"),
            "/beta/x/$count?%24filter=a"
        );
        assert_eq!(fix("/beta/x/"), "/beta/x");
        assert_eq!(fix("/beta/x//?a=1"), "/beta/x?a=1");
        assert_eq!(fix("/beta//x///y?a=//"), "/beta/x/y?a=//");
        assert_eq!(fix("//"), "/");
        assert_eq!(fix("/"), "/");
        assert_eq!(fix("/beta/x"), "/beta/x");
    }
}
