//! One registration per path: the handlers for its methods, each with its OpenAPI
//! operation, and the 405 for every other method with an `Allow` list computed from
//! the ones registered. A front's paths are written once, here, and the document,
//! the 405s and the unknown-path hints all read them.

use crate::openapi::Described;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use serde_json::Value;

/// What answers a method a path does not serve, given the method and the `Allow`
/// list: Graph's error body by default, Entra's on the token endpoint.
pub type Refusal = fn(Method, String) -> Response;

pub(crate) fn graph_refusal(method: Method, allow: String) -> Response {
    super::ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    }
    .into_response()
}

/// Where an endpoint is documented.
enum Docs {
    /// At the path it is routed at.
    Here(Value),
    /// At concrete forms of a templated path: the one route
    /// `…/{id}/{call}` serves every OData function call, documented one by one.
    At(Vec<(String, Value)>),
}

/// One method of a path: its handler and its documentation.
pub struct Endpoint<S> {
    method: Method,
    handler: MethodRouter<S>,
    docs: Docs,
}

impl<S: Clone + Send + Sync + 'static> Endpoint<S> {
    fn on<H, T>(method: Method, filter: MethodFilter, handler: H, op: Value) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        Endpoint {
            method,
            handler: axum::routing::on(filter, handler),
            docs: Docs::Here(op),
        }
    }

    /// `GET` (and so `HEAD`), documented by `op`.
    pub fn get<H: Handler<T, S>, T: 'static>(handler: H, op: Value) -> Self {
        Self::on(Method::GET, MethodFilter::GET, handler, op)
    }

    pub fn post<H: Handler<T, S>, T: 'static>(handler: H, op: Value) -> Self {
        Self::on(Method::POST, MethodFilter::POST, handler, op)
    }

    pub fn patch<H: Handler<T, S>, T: 'static>(handler: H, op: Value) -> Self {
        Self::on(Method::PATCH, MethodFilter::PATCH, handler, op)
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(handler: H, op: Value) -> Self {
        Self::on(Method::DELETE, MethodFilter::DELETE, handler, op)
    }

    /// `GET` on a templated path, documented at each of its concrete forms `paths`
    /// (each with its operation) instead of at the template.
    pub fn get_at<H: Handler<T, S>, T: 'static>(handler: H, paths: Vec<(String, Value)>) -> Self {
        Endpoint {
            method: Method::GET,
            handler: axum::routing::get(handler),
            docs: Docs::At(paths),
        }
    }
}

/// A front's routes and what documents them, built together.
pub struct Routes<S> {
    router: Router<S>,
    described: Described,
    /// Every path routed, documented or an alias, in registration order.
    paths: Vec<String>,
    /// The methods of each path registered since the last `map`, for `alias`.
    methods: Vec<(String, MethodRouter<S>)>,
    refusal: Refusal,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Self::refusing_with(graph_refusal)
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// Routes whose other methods get Graph's 405.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes whose other methods `refusal` answers.
    pub fn refusing_with(refusal: Refusal) -> Self {
        Routes {
            router: Router::new(),
            described: Described::default(),
            paths: Vec::new(),
            methods: Vec::new(),
            refusal,
        }
    }

    /// The tag these routes' operations name.
    pub fn tag(mut self, name: &str, description: &str) -> Self {
        self.described.tag(name, description);
        self
    }

    /// A schema these routes' operations refer to.
    pub fn schema(mut self, name: impl Into<String>, schema: Value) -> Self {
        self.described.schema(name, schema);
        self
    }

    /// `path` with its methods, each documented.
    pub fn route(mut self, path: &str, endpoints: impl IntoIterator<Item = Endpoint<S>>) -> Self {
        let mut allow = Vec::new();
        let mut methods = MethodRouter::new();
        for e in endpoints {
            match e.docs {
                Docs::Here(op) => self.described.operation(path, &e.method, op),
                Docs::At(paths) => {
                    for (at, op) in paths {
                        self.described.operation(&at, &e.method, op);
                    }
                }
            }
            allow.push(e.method.to_string());
            methods = methods.merge(e.handler);
        }
        let allow = allow.join(", ");
        let refusal = self.refusal;
        let methods = methods.fallback(move |method: Method| {
            let allow = allow.clone();
            async move { refusal(method, allow) }
        });
        self.router = self.router.route(path, methods.clone());
        self.paths.push(path.to_owned());
        self.methods.push((path.to_owned(), methods));
        self
    }

    /// `path` served exactly as the registered path `of` (such as an OData action
    /// named with its namespace), which the document lists once.
    pub fn alias(mut self, path: &str, of: &str) -> Self {
        match self.methods.iter().find(|(p, _)| p == of) {
            Some((_, methods)) => {
                self.router = self.router.route(path, methods.clone());
                self.paths.push(path.to_owned());
            }
            None => tracing::error!(path, of, "an alias of a path not registered"),
        }
        self
    }

    /// Adds `other`'s routes and documentation.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.described.merge(other.described);
        self.paths.extend(other.paths);
        self.methods.extend(other.methods);
        self
    }

    /// The router changed by `f` (a layer, its state), with the same paths and
    /// documentation. An alias serves the methods as registered, before any layer
    /// `f` adds, so aliases come before this.
    pub fn map<T>(self, f: impl FnOnce(Router<S>) -> Router<T>) -> Routes<T> {
        Routes {
            router: f(self.router),
            described: self.described,
            paths: self.paths,
            methods: Vec::new(),
            refusal: self.refusal,
        }
    }

    /// Every path routed, in registration order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    pub fn into_parts(self) -> (Router<S>, Described) {
        (self.router, self.described)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use serde_json::json;
    use tower::ServiceExt;

    fn routes() -> Routes<()> {
        Routes::new()
            .tag("t", "things")
            .route(
                "/things/{id}",
                [
                    Endpoint::get(|| async { "got" }, json!({ "summary": "get" })),
                    Endpoint::delete(|| async { "gone" }, json!({ "summary": "delete" })),
                ],
            )
            .alias("/stuff/{id}", "/things/{id}")
    }

    async fn call(router: Router, method: Method, path: &str) -> Response {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        router.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn other_methods_get_the_computed_allow_list() {
        let (router, _) = routes().into_parts();
        let res = call(router.clone(), Method::GET, "/things/1").await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = call(router.clone(), Method::PUT, "/things/1").await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, DELETE");
        let res = call(router.clone(), Method::DELETE, "/stuff/1").await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = call(router, Method::POST, "/stuff/1").await;
        assert_eq!(res.headers()[header::ALLOW], "GET, DELETE");
    }

    #[test]
    fn aliases_are_routed_but_documented_once() {
        let r = routes();
        assert_eq!(r.paths(), ["/things/{id}", "/stuff/{id}"]);
        let (_, described) = r.into_parts();
        let documented: Vec<_> = described.paths().collect();
        assert_eq!(
            documented,
            vec![("/things/{id}", vec!["GET".to_owned(), "DELETE".to_owned()])]
        );
    }

    #[test]
    fn templated_routes_document_their_concrete_forms() {
        let r: Routes<()> = Routes::new().route(
            "/f/{call}",
            [Endpoint::get_at(
                || async { "" },
                vec![
                    ("/f/one()".into(), json!({ "summary": "one" })),
                    ("/f/two(x='@x')".into(), json!({ "summary": "two" })),
                ],
            )],
        );
        let (_, described) = r.into_parts();
        let documented: Vec<&str> = described.paths().map(|(p, _)| p).collect();
        assert_eq!(documented, ["/f/one()", "/f/two(x='@x')"]);
    }
}
