//! `POST /beta/$batch`: Graph's JSON batching. Each item runs in-process through the
//! Graph routes as the main listener layers them, with the batch's token, so it is
//! authorized, throttled, validated and answered exactly as the same call made
//! directly.

use crate::http::body::JsonObject;
use crate::http::extract::Authenticated;
use crate::http::respond::SerializedJson;
use crate::http::ApiError;
use crate::json::Fields;
use axum::body::Body;
use axum::extract::{Extension, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tower::ServiceExt;

/// Most requests in one batch, as in Graph.
const MAX_REQUESTS: usize = 20;

/// The largest answer one item may carry back; larger answers (none of the Graph
/// routes gives one: a page holds at most 999 connections) become a 500 item. With
/// answers held as their bytes, a batch holds at most 20 of these at once.
const MAX_ITEM_ANSWER: usize = 8 << 20;

/// One item's answer, its body kept as the bytes the route wrote (parsing it into a
/// tree would take several times the memory).
#[derive(Serialize)]
struct Answer {
    id: String,
    status: u16,
    headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Box<RawValue>>,
}

#[derive(Serialize)]
struct Answers {
    responses: Vec<Answer>,
}

/// One validated item of a batch.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    id: String,
    method: Method,
    /// Path and query below the version root, e.g. `/deviceManagement/…?$top=5`.
    url: String,
    depends_on: Vec<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
}

/// The router a batch's items run through, handed over at assembly.
#[derive(Clone)]
pub struct ItemRouter(pub axum::Router);

/// `POST /beta/$batch`
pub async fn batch(
    Authenticated(_): Authenticated,
    Extension(ItemRouter(router)): Extension<ItemRouter>,
    headers: HeaderMap,
    JsonObject(envelope): JsonObject,
) -> Result<SerializedJson, ApiError> {
    let items = parse_envelope(&envelope)?;
    let order = execution_order(&items)?;
    let mut statuses: HashMap<&str, u16> = HashMap::new();
    let mut responses: Vec<(usize, Answer)> = Vec::with_capacity(items.len());
    for i in order {
        let item = &items[i];
        let failed = item
            .depends_on
            .iter()
            .find(|d| statuses.get(d.as_str()).is_none_or(|s| *s >= 400));
        let (status, response) = match failed {
            Some(dep) => failed_dependency(item, dep, statuses.get(dep.as_str()).copied()),
            None => run(router.clone(), &headers, item).await,
        };
        statuses.insert(&item.id, status);
        responses.push((i, response));
    }
    // Answer in request order, which clients find easiest to read.
    responses.sort_by_key(|(i, _)| *i);
    let responses: Vec<Answer> = responses.into_iter().map(|(_, r)| r).collect();
    // Written into a buffer of the answer's size: grown by doubling, a batch of large
    // pages would briefly hold twice its size again.
    let size: usize = responses
        .iter()
        .map(|r| r.body.as_ref().map_or(0, |b| b.get().len()) + 512)
        .sum();
    let answers = Answers { responses };
    Ok(SerializedJson::written(StatusCode::OK, size + 64, |out| {
        out.value(&answers)
    }))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Validates the envelope; any mistake in it makes the whole batch a 400.
fn parse_envelope(envelope: &Map<String, Value>) -> Result<Vec<Item>, ApiError> {
    let mut fields = Fields::new(envelope);
    let requests = fields.array("requests").map_err(bad)?.ok_or_else(|| {
        bad("The batch has no 'requests' array; send {\"requests\": [{\"id\": \"1\", \"method\": \"GET\", \"url\": \"/…\"}]}.")
    })?;
    fields
        .finish_with(|name, _| {
            format!("The batch has an unknown property {name}; a batch is {{\"requests\": [...]}}.")
        })
        .map_err(bad)?;
    if requests.is_empty() {
        return Err(bad("The batch holds no requests; send from 1 to 20."));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(bad(format!(
            "The batch holds {} requests; a batch may hold at most {MAX_REQUESTS}.",
            requests.len()
        )));
    }
    let items = requests
        .iter()
        .enumerate()
        .map(|(n, r)| parse_item(n, r))
        .collect::<Result<Vec<_>, _>>()?;
    for (n, item) in items.iter().enumerate() {
        if items[..n].iter().any(|other| other.id == item.id) {
            return Err(bad(format!(
                "The batch has more than one request with id '{}'; ids must be unique.",
                item.id
            )));
        }
    }
    for item in &items {
        if let Some(missing) = item
            .depends_on
            .iter()
            .find(|d| !items.iter().any(|other| &other.id == *d))
        {
            return Err(bad(format!(
                "Request '{}' depends on '{missing}', which is not in the batch.",
                item.id
            )));
        }
    }
    Ok(items)
}

fn parse_item(n: usize, value: &Value) -> Result<Item, ApiError> {
    let at = format!("Request {} of the batch", n + 1);
    let mut r = Fields::of(value, &format!("requests[{n}]")).map_err(bad)?;
    let id = r
        .str("id")
        .map_err(bad)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("{at} has no 'id'.")))?
        .to_owned();
    let at = format!("Request '{id}' of the batch");
    let method = r
        .str("method")
        .map_err(bad)?
        .ok_or_else(|| bad(format!("{at} has no 'method'.")))?
        .to_ascii_uppercase();
    let method = match method.as_str() {
        "GET" | "POST" | "PATCH" | "PUT" | "DELETE" => Method::from_bytes(method.as_bytes())
            .map_err(|_| bad(format!("{at} has an invalid method.")))?,
        other => {
            return Err(bad(format!(
                "{at} has the method '{other}'; use GET, POST, PATCH, PUT or DELETE."
            )))
        }
    };
    let url = r
        .str("url")
        .map_err(bad)?
        .ok_or_else(|| bad(format!("{at} has no 'url'.")))?;
    let url = relative_url(url).map_err(|why| bad(format!("{at}: {why}")))?;
    let depends_on = r
        .array("dependsOn")
        .map_err(bad)?
        .unwrap_or_default()
        .iter()
        .map(|d| {
            d.as_str().map(str::to_owned).ok_or_else(|| {
                bad(format!(
                    "{at}: 'dependsOn' must list request ids as strings."
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    // A map of any header names, not fields.
    let headers = match r.value("headers") {
        None => Vec::new(),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(name, value)| {
                let value = value.as_str().ok_or_else(|| {
                    bad(format!(
                        "{at}: the header '{name}' must have a string value."
                    ))
                })?;
                match (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    (Ok(n), Ok(v)) => Ok((n, v)),
                    _ => Err(bad(format!("{at}: the header '{name}' is not valid."))),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad(r.wrong("headers", "an object", other))),
    };
    let content_type = headers
        .iter()
        .find(|(n, _)| *n == header::CONTENT_TYPE)
        .and_then(|(_, v)| v.to_str().ok());
    let body = match r.value("body") {
        None => None,
        Some(value) => {
            Some(item_body(value, content_type).map_err(|why| bad(format!("{at}: {why}")))?)
        }
    };
    // Graph ignores what else an item holds; msgraph-core for Python writes
    // `depends_on` beside the others, and its batches work against Graph.
    r.ignore_rest();
    Ok(Item {
        id,
        method,
        url,
        depends_on,
        headers,
        body,
    })
}

/// An item's URL below the version root: relative, with or without a leading `/`.
/// An absolute URL under `/beta` names the same resource (msgraph-core for Python
/// sends those once its adapter has been used); it is served here, whatever its host.
fn relative_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let absolute;
    let url = if url.contains("://") {
        absolute = url::Url::parse(url)
            .ok()
            .filter(|u| u.path().starts_with("/beta/"))
            .map(|u| u[url::Position::BeforePath..].to_owned())
            .ok_or_else(|| {
                format!(
                    "the url '{url}' must be relative to the version root, such as /deviceManagement/virtualEndpoint/externalPartners."
                )
            })?;
        absolute.as_str()
    } else {
        url
    };
    let path = url.trim_start_matches('/');
    // Some clients repeat the version; it names the same resource.
    let path = path.strip_prefix("beta/").unwrap_or(path);
    if path.is_empty() {
        return Err("the url is empty.".into());
    }
    if path.starts_with("$batch") || path.starts_with("%24batch") {
        return Err("a batch cannot contain another batch.".into());
    }
    Ok(format!("/{path}"))
}

/// `/beta` + the item's URL, percent-encoded where a URI needs it (batch URLs are
/// written as people type them: `$filter=city eq null`).
fn encoded_uri(url: &str) -> String {
    match url::Url::parse(&format!("http://batch.invalid/beta{url}")) {
        Ok(u) => u[url::Position::BeforePath..].to_owned(),
        Err(_) => format!("/beta{url}"),
    }
}

/// The bytes an item's body stands for: JSON as JSON; for any other content type, a
/// string holds the bytes base64-encoded (Graph's form for binary bodies). Without a
/// content type, a string that decodes from base64 to JSON is taken as that JSON:
/// msgraph-sdk-core for JavaScript sends request bodies so, and without the header.
fn item_body(value: &Value, content_type: Option<&str>) -> Result<Vec<u8>, String> {
    let declared_json = content_type.map(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
    });
    match (value, declared_json) {
        (Value::String(s), Some(false)) => base64_bytes(s).ok_or_else(|| {
            "the body is a string but not base64; send JSON with Content-Type application/json, or base64 for other types.".into()
        }),
        (Value::String(s), None) => match base64_bytes(s) {
            Some(bytes) if serde_json::from_slice::<Value>(&bytes).is_ok() => Ok(bytes),
            _ => Ok(value.to_string().into_bytes()),
        },
        (other, _) => Ok(other.to_string().into_bytes()),
    }
}

/// Base64 in any of its common alphabets, padded or not.
fn base64_bytes(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s.trim()).ok())
}

/// The order to run items in: each after everything it depends on, otherwise in the
/// order given. A dependency cycle makes the batch a 400.
fn execution_order(items: &[Item]) -> Result<Vec<usize>, ApiError> {
    let mut done: Vec<usize> = Vec::with_capacity(items.len());
    while done.len() < items.len() {
        let ready = (0..items.len()).find(|i| {
            !done.contains(i)
                && items[*i]
                    .depends_on
                    .iter()
                    .all(|d| done.iter().any(|j| &items[*j].id == d))
        });
        match ready {
            Some(i) => done.push(i),
            None => {
                return Err(bad(
                    "The batch's dependsOn references form a cycle; each request may depend only on requests that can run before it.",
                ))
            }
        }
    }
    Ok(done)
}

/// 424 for an item whose dependency failed (or was itself not run).
fn failed_dependency(item: &Item, dep: &str, status: Option<u16>) -> (u16, Answer) {
    let why = match status {
        Some(s) => format!("which failed with status {s}"),
        None => "which did not run".to_owned(),
    };
    let body = json!({"error": {
        "code": "FailedDependency",
        "message": format!("Request '{}' was not run: it depends on request '{dep}', {why}.", item.id),
    }});
    (424, error_answer(item, 424, body))
}

/// Runs one item through the router, with the batch's credentials and host.
async fn run(router: axum::Router, batch_headers: &HeaderMap, item: &Item) -> (u16, Answer) {
    let mut request = Request::builder()
        .method(item.method.clone())
        .uri(encoded_uri(&item.url));
    if let Some(h) = request.headers_mut() {
        for name in [
            header::AUTHORIZATION,
            header::HOST,
            HeaderName::from_static("x-forwarded-proto"),
        ] {
            if let Some(v) = batch_headers.get(&name) {
                h.insert(name, v.clone());
            }
        }
        for (name, value) in &item.headers {
            h.insert(name.clone(), value.clone());
        }
        if item.body.is_some() && !h.contains_key(header::CONTENT_TYPE) {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    let body = item.body.clone().map_or_else(Body::empty, Body::from);
    let request = match request.body(body) {
        Ok(r) => crate::http::canonical::canonical_request(r),
        Err(e) => {
            let answer = failed_item(
                item,
                400,
                "BadRequest",
                &format!("The request's url is not valid: {e}."),
            );
            return (400, answer);
        }
    };
    let response = match router.oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ITEM_ANSWER).await else {
        let answer = failed_item(
            item,
            500,
            "InternalServerError",
            &format!(
                "The answer to this request is larger than the {} MiB a batch item may carry; make the request on its own.",
                MAX_ITEM_ANSWER >> 20
            ),
        );
        return (500, answer);
    };
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if let (Some(canonical), Ok(v)) = (canonical_header(name.as_str()), value.to_str()) {
            headers.insert(canonical.to_owned(), Value::String(v.to_owned()));
        }
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let body = match bytes.is_empty() {
        true => None,
        false => {
            let json = match is_json {
                true => String::from_utf8(bytes.to_vec()).ok(),
                false => None,
            };
            // JSON as it was written (RawValue checks it is JSON); anything else, or
            // JSON that does not parse, base64-encoded as a JSON string.
            json.and_then(|text| RawValue::from_string(text).ok())
                .or_else(|| {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
                    RawValue::from_string(Value::String(encoded).to_string()).ok()
                })
        }
    };
    let answer = Answer {
        id: item.id.clone(),
        status,
        headers,
        body,
    };
    (status, answer)
}

fn failed_item(item: &Item, status: u16, code: &str, message: &str) -> Answer {
    error_answer(
        item,
        status,
        json!({"error": {"code": code, "message": message}}),
    )
}

fn error_answer(item: &Item, status: u16, body: Value) -> Answer {
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), "application/json".into());
    Answer {
        id: item.id.clone(),
        status,
        headers,
        body: RawValue::from_string(body.to_string()).ok(),
    }
}

/// The spelling Graph uses for each response header an item reports; others (transport
/// and CORS headers) are left out.
fn canonical_header(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "content-type" => "Content-Type",
        "location" => "Location",
        "etag" => "ETag",
        "retry-after" => "Retry-After",
        "odata-version" => "OData-Version",
        "preference-applied" => "Preference-Applied",
        "www-authenticate" => "WWW-Authenticate",
        "allow" => "Allow",
        "deprecation" => "Deprecation",
        "sunset" => "Sunset",
        "link" => "Link",
        "cache-control" => "Cache-Control",
        "request-id" => "request-id",
        "client-request-id" => "client-request-id",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(v: Value) -> Result<Vec<Item>, String> {
        parse_envelope(v.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn items_are_validated_with_a_pointed_message() {
        let e = |v: Value| envelope(v).unwrap_err();
        assert!(e(json!({})).contains("no 'requests'"));
        assert!(e(json!({"requests": []})).contains("no requests"));
        assert!(e(json!({"requests": {}})).contains("must be an array"));
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/x"}))
            .collect();
        assert!(e(json!({"requests": many})).contains("at most 20"));
        assert!(e(json!({"requests": [{"method": "GET", "url": "/x"}]})).contains("no 'id'"));
        assert!(e(json!({"requests": [{"id": "1", "url": "/x"}]})).contains("no 'method'"));
        assert!(
            e(json!({"requests": [{"id": "1", "method": "TRACE", "url": "/x"}]}))
                .contains("'TRACE'")
        );
        assert!(e(json!({"requests": [{"id": "1", "method": "GET"}]})).contains("no 'url'"));
        assert!(e(json!({"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v2/x"}]})).contains("relative"));
        assert!(e(json!({"requests": [{"id": "1", "method": "GET", "url": "/x"}, {"id": "1", "method": "GET", "url": "/y"}]})).contains("unique"));
        assert!(e(
            json!({"requests": [{"id": "1", "method": "GET", "url": "/x", "dependsOn": ["9"]}]})
        )
        .contains("'9'"));
        assert!(
            e(json!({"requests": [{"id": "1", "method": "GET", "url": "/$batch"}]}))
                .contains("another batch")
        );
        assert!(e(json!({"requests": [{"id": "1", "method": "POST", "url": "/x", "headers": {"Content-Type": "image/png"}, "body": "%%%"}]})).contains("base64"));
        assert!(e(json!({"requests": [], "extra": 1})).contains("'extra'"));
    }

    #[test]
    fn urls_and_bodies_take_every_documented_form() {
        let items = envelope(json!({"requests": [
            {"id": "a", "method": "get", "url": "deviceManagement/virtualEndpoint/externalPartners?$top=1"},
            {"id": "b", "method": "POST", "url": "/deviceManagement/x", "body": {"k": 1}, "headers": {"content-type": "application/json"}},
            {"id": "c", "method": "POST", "url": "/beta/deviceManagement/x", "body": "eyJrIjoxfQ==", "headers": {"Content-Type": "application/octet-stream"}},
            {"id": "f", "method": "GET", "url": "https://127.0.0.1:8443/beta/deviceManagement/x?$top=1"},
        ]}))
        .unwrap();
        assert_eq!(items[3].url, "/deviceManagement/x?$top=1");
        assert_eq!(
            items[0].url,
            "/deviceManagement/virtualEndpoint/externalPartners?$top=1"
        );
        assert_eq!(items[0].method, Method::GET);
        assert_eq!(items[1].body.as_deref(), Some(&b"{\"k\":1}"[..]));
        assert_eq!(items[2].url, "/deviceManagement/x");
        assert_eq!(items[2].body.as_deref(), Some(&b"{\"k\":1}"[..]));
        // No content type, base64 of JSON (msgraph-sdk-core for JavaScript): that JSON.
        let items = envelope(json!({"requests": [
            {"id": "d", "method": "POST", "url": "/x", "body": "eyJrIjoxfQ"},
            {"id": "e", "method": "POST", "url": "/x", "body": "plain words"},
        ]}))
        .unwrap();
        assert_eq!(items[0].body.as_deref(), Some(&b"{\"k\":1}"[..]));
        assert_eq!(items[1].body.as_deref(), Some(&b"\"plain words\""[..]));
        assert_eq!(
            encoded_uri("/x?$filter=city eq null&$select=a,b"),
            "/beta/x?$filter=city%20eq%20null&$select=a,b"
        );
    }

    #[test]
    fn dependencies_order_execution_and_cycles_are_refused() {
        let items = envelope(json!({"requests": [
            {"id": "3", "method": "GET", "url": "/x", "dependsOn": ["4"]},
            {"id": "1", "method": "GET", "url": "/x"},
            {"id": "4", "method": "GET", "url": "/x", "dependsOn": ["1"]},
        ]}))
        .unwrap();
        assert_eq!(execution_order(&items).unwrap(), vec![1, 2, 0]);
        let cyclic = envelope(json!({"requests": [
            {"id": "1", "method": "GET", "url": "/x", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/x", "dependsOn": ["1"]},
        ]}))
        .unwrap();
        assert!(execution_order(&cyclic)
            .unwrap_err()
            .to_string()
            .contains("cycle"));
    }
}
