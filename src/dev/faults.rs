//! Fault and latency injection, in the spirit of Dev Proxy's Graph plugins: a share
//! of the Graph or partner API's requests is answered with a Graph-shaped 429 (with
//! `Retry-After`), 500, 503 or 504, and requests can be slowed down, so a client's
//! retry logic can be tested. Never applied to the dev API or the probes.
//!
//! Faults belong to a tenant: those set through `POST /dev/v1/faults` apply only to
//! requests whose token is for the tenant that set them, so tests sharing one
//! stand-in never fault each other. Faults given at start (`--faults`) apply to every
//! request in their scope, with a token or without.

use crate::http::ApiError;
use crate::json::Fields;
use crate::model::TenantId;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// Which requests faults apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `/beta/…`
    Graph,
    /// `/partner/v1/…`
    Partner,
    /// Both.
    All,
    /// Paths that start with this.
    Prefix(String),
}

/// What to inject.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSettings {
    pub scope: Scope,
    /// Share of matching requests answered with an error, 0 to 1.
    pub error_rate: f64,
    /// Share of matching requests whose connection is dropped without an answer.
    pub drop_rate: f64,
    /// The errors to choose from, evenly.
    pub errors: Vec<u16>,
    /// Added latency, from the first to the second bound (equal for a fixed delay).
    pub latency_ms: (u64, u64),
    /// `Retry-After` on an injected 429 or 503.
    pub retry_after_seconds: u64,
}

/// The settings in force; none by default.
#[derive(Debug, Default)]
pub struct Faults {
    /// From `--faults`: every request in their scope.
    start: RwLock<Option<FaultSettings>>,
    by_tenant: RwLock<HashMap<TenantId, FaultSettings>>,
    /// Whether any settings are in force: the common case (none) costs one load.
    any: AtomicBool,
}

/// The most latency one request may be given.
const MAX_LATENCY_MS: u64 = 60_000;

impl Faults {
    fn tenants(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TenantId, FaultSettings>> {
        self.by_tenant.read().unwrap_or_else(|e| e.into_inner())
    }

    fn refresh_any(&self) {
        let any = self.start().is_some() || !self.tenants().is_empty();
        self.any.store(any, Ordering::Release);
    }

    /// The faults every request in their scope meets (`--faults`).
    pub fn set_start(&self, settings: Option<FaultSettings>) {
        *self.start.write().unwrap_or_else(|e| e.into_inner()) = settings;
        self.refresh_any();
    }

    pub fn start(&self) -> Option<FaultSettings> {
        self.start.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets (or with `None` clears) a tenant's faults.
    pub fn set(&self, tenant: TenantId, settings: Option<FaultSettings>) {
        {
            let mut map = self.by_tenant.write().unwrap_or_else(|e| e.into_inner());
            match settings {
                Some(s) => map.insert(tenant, s),
                None => map.remove(&tenant),
            };
        }
        self.refresh_any();
    }

    pub fn get(&self, tenant: TenantId) -> Option<FaultSettings> {
        self.tenants().get(&tenant).cloned()
    }

    /// Clears every tenant's faults and those given at start (a full reset).
    pub fn clear_all(&self) {
        self.by_tenant
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.set_start(None);
    }

    /// What a request for `tenant` (`None`: no valid token) meets: its tenant's
    /// faults, else those given at start.
    fn for_request(&self, tenant: Option<TenantId>) -> Option<FaultSettings> {
        tenant.and_then(|t| self.get(t)).or_else(|| self.start())
    }
}

impl FaultSettings {
    /// Reads `{"scope": "graph", "errorRate": 0.2, "errors": [429, 503],
    /// "latencyMs": [100, 300], "retryAfterSeconds": 2}`; every field but one of
    /// `errorRate`/`latencyMs` is optional. The error names the field.
    pub fn parse(v: &Value) -> Result<Self, String> {
        let Value::Object(m) = v else {
            return Err(format!(
                "The fault settings must be an object, not {}.",
                crate::json::fields::kind(v)
            ));
        };
        let mut f = Fields::new(m);
        let scope = match f.str("scope")? {
            None | Some("graph") => Scope::Graph,
            Some("partner") => Scope::Partner,
            Some("all") => Scope::All,
            Some(p) if p.starts_with('/') => Scope::Prefix(p.to_owned()),
            Some(other) => {
                return Err(format!(
                    "'scope' '{other}' is not graph, partner, all or a path starting with /."
                ))
            }
        };
        let mut rate = |name: &'static str| -> Result<f64, String> {
            match f.f64(name)? {
                None => Ok(0.0),
                Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
                Some(r) => Err(format!(
                    "'{name}' must be a number from 0 to 1; {r} is not."
                )),
            }
        };
        let (error_rate, drop_rate) = (rate("errorRate")?, rate("dropRate")?);
        if error_rate + drop_rate > 1.0 {
            return Err("'errorRate' and 'dropRate' together may be at most 1.".into());
        }
        let errors = match f.array("errors")? {
            None => vec![503],
            Some(items) if !items.is_empty() => items
                .iter()
                .map(|i| {
                    i.as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|n| [429, 500, 503, 504].contains(n))
                        .ok_or("'errors' may hold 429, 500, 503 and 504.")
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("'errors' must be a non-empty array such as [429, 503].".into()),
        };
        let latency_ms = match f.value("latencyMs") {
            None => (0, 0),
            Some(Value::Number(n)) => {
                let ms = n
                    .as_u64()
                    .ok_or("'latencyMs' must be whole milliseconds.")?;
                (ms, ms)
            }
            Some(Value::Array(b)) if b.len() == 2 => match (b[0].as_u64(), b[1].as_u64()) {
                (Some(lo), Some(hi)) if lo <= hi => (lo, hi),
                _ => {
                    return Err(
                        "'latencyMs' as a range is [smallest, largest] milliseconds.".into(),
                    )
                }
            },
            Some(_) => {
                return Err("'latencyMs' is milliseconds, or a [smallest, largest] range.".into())
            }
        };
        if latency_ms.1 > MAX_LATENCY_MS {
            return Err(format!("'latencyMs' may be at most {MAX_LATENCY_MS}."));
        }
        let retry_after_seconds = match f.u64("retryAfterSeconds")? {
            None => 2,
            Some(s) if s <= 3600 => s,
            Some(s) => {
                return Err(format!(
                    "'retryAfterSeconds' must be 0 to 3600; {s} is not."
                ))
            }
        };
        f.finish()?;
        if error_rate == 0.0 && drop_rate == 0.0 && latency_ms.1 == 0 {
            return Err(
                "The fault settings have nothing to inject: give errorRate or dropRate above 0, or latencyMs.".into(),
            );
        }
        Ok(FaultSettings {
            scope,
            error_rate,
            drop_rate,
            errors,
            latency_ms,
            retry_after_seconds,
        })
    }

    pub fn to_json(&self) -> Value {
        let scope = match &self.scope {
            Scope::Graph => "graph".to_owned(),
            Scope::Partner => "partner".to_owned(),
            Scope::All => "all".to_owned(),
            Scope::Prefix(p) => p.clone(),
        };
        let mut m = Map::new();
        m.insert("scope".into(), json!(scope));
        m.insert("errorRate".into(), json!(self.error_rate));
        m.insert("dropRate".into(), json!(self.drop_rate));
        m.insert("errors".into(), json!(self.errors));
        m.insert(
            "latencyMs".into(),
            json!([self.latency_ms.0, self.latency_ms.1]),
        );
        m.insert("retryAfterSeconds".into(), json!(self.retry_after_seconds));
        Value::Object(m)
    }

    /// Whether a request to `path` is faulted. Only the API routes are faulted at
    /// all (the assembly layers faults on them alone), so the dev API, the probes,
    /// the page and the token endpoint stay reachable whatever the scope.
    fn applies_to(&self, path: &str) -> bool {
        match &self.scope {
            Scope::Graph => path.starts_with("/beta/"),
            Scope::Partner => path.starts_with("/partner/"),
            Scope::All => path.starts_with("/beta/") || path.starts_with("/partner/"),
            Scope::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

/// The injected answer for a status.
fn injected(status: u16, retry_after: u64) -> ApiError {
    let why =
        "Injected by cloudpc-partners' fault settings (POST /dev/v1/faults); not a real failure.";
    match status {
        429 => ApiError::TooManyRequests {
            message: format!("Too many requests: {why}"),
            retry_after_secs: retry_after,
        },
        503 => ApiError::Unavailable(format!("The service is unavailable: {why}")),
        504 => ApiError::GatewayTimeout(format!("The request timed out: {why}")),
        _ => ApiError::Internal,
    }
}

/// Applies the fault settings, if any, to a request: its tenant's (told from its
/// token), else those given at start.
pub async fn inject(State(dev): State<super::DevState>, req: Request, next: Next) -> Response {
    let faults = &dev.kit.faults;
    if !faults.any.load(Ordering::Acquire) || super::from_status_page(req.headers()) {
        return next.run(req).await;
    }
    let tenant = crate::http::extract::authenticate(&dev.app, req.headers())
        .await
        .ok()
        .map(|caller| caller.tenant);
    let settings = faults
        .for_request(tenant)
        .filter(|s| s.applies_to(req.uri().path()));
    let Some(s) = settings else {
        return next.run(req).await;
    };
    let (delay, fate) = {
        let delay = rand::random_range(s.latency_ms.0..=s.latency_ms.1);
        let roll = rand::random::<f64>();
        let fate = if roll < s.drop_rate {
            Fate::Drop
        } else if roll < s.drop_rate + s.error_rate {
            Fate::Fail(s.errors[rand::random_range(0..s.errors.len())])
        } else {
            Fate::Serve
        };
        (delay, fate)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match fate {
        Fate::Serve => next.run(req).await,
        Fate::Fail(status) => injected(status, s.retry_after_seconds).into_response(),
        Fate::Drop => {
            let mut res = Response::new(axum::body::Body::new(Severed));
            res.extensions_mut().insert(Dropped);
            res
        }
    }
}

enum Fate {
    Serve,
    Fail(u16),
    Drop,
}

/// Marks a response whose connection is dropped, for the journal.
#[derive(Debug, Clone, Copy)]
pub struct Dropped;

/// A body that fails at once: the server then abandons the connection (HTTP/1) or
/// resets the stream (HTTP/2), so the client sees a network error, not an answer.
struct Severed;

impl http_body::Body for Severed {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(axum::Error::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by fault injection",
        )))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_field_by_field() {
        let ok = FaultSettings::parse(
            &json!({"scope": "partner", "errorRate": 0.5, "errors": [429], "latencyMs": [10, 20]}),
        )
        .unwrap();
        assert_eq!(ok.scope, Scope::Partner);
        assert_eq!(ok.latency_ms, (10, 20));
        assert_eq!(FaultSettings::parse(&ok.to_json()).unwrap(), ok);
        let err = |v: Value| FaultSettings::parse(&v).unwrap_err();
        assert!(err(json!({})).contains("nothing to inject"));
        assert!(err(json!({"errorRate": 2})).contains("0 to 1"));
        assert!(err(json!({"errorRate": 1, "errors": [404]})).contains("429, 500"));
        assert!(err(json!({"latencyMs": [5, 1]})).contains("range"));
        assert!(err(json!({"latencyMs": 100000})).contains("at most"));
        assert!(err(json!({"errorRate": 1, "scope": "moon"})).contains("scope"));
        assert!(err(json!({"errorRate": 1, "colour": 1})).contains("'colour'"));
    }

    #[test]
    fn scopes_pick_their_paths() {
        let scope = |s: &str| FaultSettings::parse(&json!({"scope": s, "errorRate": 1})).unwrap();
        assert!(scope("/").applies_to("/beta/x"));
        assert!(scope("graph").applies_to("/beta/x"));
        assert!(!scope("graph").applies_to("/partner/v1/heartbeat"));
        assert!(scope("partner").applies_to("/partner/v1/heartbeat"));
        assert!(scope("all").applies_to("/partner/v1/heartbeat"));
        assert!(!scope("/beta/deviceManagement").applies_to("/beta/$batch"));
    }

    #[test]
    fn a_tenants_faults_are_its_own_and_start_faults_everyones() {
        let faults = Faults::default();
        let (a, b) = (
            TenantId(uuid::Uuid::new_v4()),
            TenantId(uuid::Uuid::new_v4()),
        );
        assert!(!faults.any.load(Ordering::Relaxed));
        let mine = FaultSettings::parse(&json!({"errorRate": 1})).unwrap();
        faults.set(a, Some(mine.clone()));
        assert_eq!(faults.for_request(Some(a)), Some(mine.clone()));
        assert_eq!(faults.for_request(Some(b)), None);
        assert_eq!(faults.for_request(None), None);
        let everyone = FaultSettings::parse(&json!({"latencyMs": 5})).unwrap();
        faults.set_start(Some(everyone.clone()));
        assert_eq!(faults.for_request(Some(b)), Some(everyone.clone()));
        assert_eq!(faults.for_request(None), Some(everyone));
        assert_eq!(faults.for_request(Some(a)), Some(mine));
        faults.clear_all();
        assert!(!faults.any.load(Ordering::Relaxed));
    }
}
