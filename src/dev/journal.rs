//! The request journal: a bounded ring of recent requests, so a partner integration's
//! test can assert "my service sent a heartbeat and a sync with this body". Kept in
//! memory, per process, in dev mode only.

use crate::auth::{Caller, CallerKind};
use crate::clock::format_graph_time;
use crate::http::context::RequestIds;
use crate::http::extract::Intercepted;
use crate::model::TenantId;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use http_body::Frame;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

/// The most of a request body the journal keeps.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// One request, as the journal shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub method: String,
    /// The host the request was sent to: the one the app addressed through the
    /// intercepting proxy (`graph.microsoft.com`), or the request's Host.
    pub host: Option<String>,
    /// It came through the intercepting proxy.
    pub via_proxy: bool,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub tenant: Option<TenantId>,
    pub caller: &'static str,
    pub partner_id: Option<uuid::Uuid>,
    pub client_request_id: String,
    pub request_id: String,
    pub duration_ms: f64,
    /// Kept for the partner API and for writes.
    pub body: Option<Value>,
    pub body_truncated: bool,
    /// The connection was dropped by fault injection: no status reached the client.
    pub dropped: bool,
    /// The status page's own call (it says so in [`super::PAGE_HEADER`]).
    pub from_page: bool,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "sequence": self.seq,
            "time": format_graph_time(self.time),
            "method": self.method,
            "host": self.host,
            "viaProxy": self.via_proxy,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "tenantId": self.tenant.map(|t| t.to_string()),
            "callerKind": self.caller,
            "clientRequestId": self.client_request_id,
            "requestId": self.request_id,
            "durationMs": (self.duration_ms * 1000.0).round() / 1000.0,
            "body": self.body,
        });
        if let Some(p) = self.partner_id {
            v["partnerId"] = json!(p.to_string());
        }
        if self.dropped {
            v["status"] = Value::Null;
            v["dropped"] = json!(true);
        }
        if self.body_truncated {
            v["bodyTruncated"] = json!(true);
        }
        if self.from_page {
            v["fromStatusPage"] = json!(true);
        }
        v
    }
}

/// Which entries a query wants.
#[derive(Debug, Default)]
pub struct Filter {
    /// `None`: every tenant's, and requests no tenant could be told for.
    pub tenant: Option<TenantId>,
    pub path: Option<String>,
    pub status: Option<StatusMatch>,
    pub method: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Whether the status page's own calls (its polls) are wanted too.
    pub with_page: bool,
}

/// A status, or a class such as `4xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Exact(u16),
    Class(u16),
}

impl StatusMatch {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            return class
                .parse::<u16>()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(StatusMatch::Class);
        }
        s.parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .map(StatusMatch::Exact)
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Exact(s) => s == status,
            StatusMatch::Class(c) => status / 100 == c,
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.tenant.is_none_or(|t| e.tenant == Some(t))
            && self.path.as_deref().is_none_or(|p| glob_match(p, &e.path))
            && self
                .status
                .is_none_or(|s| !e.dropped && s.matches(e.status))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
            && self.since.is_none_or(|t| e.time >= t)
            && (self.with_page || !e.from_page)
    }
}

/// The ring itself.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    next_seq: u64,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            capacity,
            inner: Mutex::default(),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, mut entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring();
        ring.next_seq += 1;
        entry.seq = ring.next_seq;
        if ring.entries.len() == self.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(entry);
    }

    /// The newest `top` entries the filter wants, oldest first.
    pub fn query(&self, filter: &Filter, top: usize) -> Vec<Entry> {
        let ring = self.ring();
        let mut found: Vec<Entry> = ring
            .entries
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(top)
            .cloned()
            .collect();
        found.reverse();
        found
    }

    /// Forgets the entries the filter wants; how many.
    pub fn clear(&self, filter: &Filter) -> usize {
        let mut ring = self.ring();
        let before = ring.entries.len();
        ring.entries.retain(|e| !filter.matches(e));
        before - ring.entries.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Copies what the handler reads of a body, up to [`MAX_BODY_BYTES`], without
/// changing what it reads: the size limits and streaming stay as they are.
struct Tee {
    inner: Body,
    copy: Arc<Mutex<(Vec<u8>, bool)>>,
}

impl HttpBody for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let mut copy = self.copy.lock().unwrap_or_else(|e| e.into_inner());
                let room = MAX_BODY_BYTES.saturating_sub(copy.0.len());
                if data.len() > room {
                    copy.1 = true;
                }
                copy.0.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn caller_kind(caller: &Result<std::sync::Arc<Caller>, crate::http::ApiError>) -> &'static str {
    match caller {
        Ok(c) => match c.kind {
            CallerKind::Delegated { .. } => "delegated",
            CallerKind::Application { .. } => "application",
            CallerKind::Partner { .. } => "partner",
        },
        Err(_) => "unauthenticated",
    }
}

/// Records each request it is layered on (the API and token routes: the assembly
/// leaves the dev API, the probes and the page out).
pub async fn record(State(dev): State<super::DevState>, req: Request, next: Next) -> Response {
    let app = &dev.app;
    let journal = &dev.kit.journal;
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let time = app.clock.now();
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_owned);
    let intercepted = req.extensions().get::<Intercepted>();
    let via_proxy = intercepted.is_some();
    let host = intercepted.map(|i| i.host.clone()).or_else(|| {
        req.uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| req.headers().get(HOST).and_then(|h| h.to_str().ok()))
            .map(str::to_owned)
    });
    let caller = crate::http::extract::authenticate(app, req.headers()).await;
    let from_page = super::from_status_page(req.headers());
    let ids = req.extensions().get::<RequestIds>().cloned();
    // Token requests carry client secrets: never kept.
    let keep_body = (path.starts_with("/partner/") || !matches!(method.as_str(), "GET" | "HEAD"))
        && !path.contains("/oauth2/");
    let copy = Arc::new(Mutex::new((Vec::new(), false)));
    let req = if keep_body {
        let copy = copy.clone();
        req.map(|inner| Body::new(Tee { inner, copy }))
    } else {
        req
    };

    let res = next.run(req).await;

    let (bytes, truncated) = std::mem::take(&mut *copy.lock().unwrap_or_else(|e| e.into_inner()));
    let body = (!bytes.is_empty()).then(|| {
        serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    });
    let (tenant, partner_id) = match &caller {
        Ok(c) => (
            Some(c.tenant),
            match c.kind {
                CallerKind::Partner { partner_id } => Some(partner_id),
                _ => None,
            },
        ),
        Err(_) => (None, None),
    };
    let (request_id, client_request_id) = ids
        .map(|i| (i.request_id().to_owned(), i.client_request_id().to_owned()))
        .unwrap_or_default();
    journal.push(Entry {
        seq: 0,
        time,
        method,
        host,
        via_proxy,
        path,
        query,
        status: res.status().as_u16(),
        tenant,
        caller: caller_kind(&caller),
        partner_id,
        client_request_id,
        request_id,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        body,
        body_truncated: truncated,
        dropped: res.extensions().get::<super::faults::Dropped>().is_some(),
        from_page,
    });
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(path: &str, status: u16) -> Entry {
        Entry {
            seq: 0,
            time: Utc::now(),
            method: "POST".into(),
            host: None,
            via_proxy: false,
            path: path.into(),
            query: None,
            status,
            tenant: None,
            caller: "partner",
            partner_id: None,
            client_request_id: String::new(),
            request_id: String::new(),
            duration_ms: 0.0,
            body: None,
            body_truncated: false,
            dropped: false,
            from_page: false,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("/partner/*", "/partner/v1/heartbeat"));
        assert!(glob_match("*/heartbeat", "/partner/v1/heartbeat"));
        assert!(glob_match(
            "/beta/*/externalPartners*",
            "/beta/deviceManagement/virtualEndpoint/externalPartners/1"
        ));
        assert!(!glob_match("/partner/*", "/beta/x"));
        assert!(glob_match("/a", "/a"));
        assert!(!glob_match("/a", "/ab"));
        assert!(!glob_match("a*a", "a"));
    }

    proptest! {
        #[test]
        fn a_glob_without_stars_is_equality(p in "[a-c/]{0,6}", t in "[a-c/]{0,6}") {
            prop_assert_eq!(glob_match(&p, &t), p == t);
        }

        #[test]
        fn a_star_matches_any_middle(a in "[a-c]{0,4}", m in "[a-c*]{0,4}", b in "[a-c]{0,4}") {
            let text = format!("{a}{}{b}", m.replace('*', ""));
            let pattern = format!("{a}*{b}");
            prop_assert!(glob_match(&pattern, &text), "{} vs {}", pattern, text);
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(StatusMatch::parse("4xx"), Some(StatusMatch::Class(4)));
        assert_eq!(StatusMatch::parse("204"), Some(StatusMatch::Exact(204)));
        assert_eq!(StatusMatch::parse("9xx"), None);
        assert_eq!(StatusMatch::parse("abc"), None);
        assert!(StatusMatch::Class(4).matches(429));
    }

    #[test]
    fn the_ring_keeps_the_newest_and_numbers_them() {
        let j = Journal::new(2);
        for s in [200, 204, 429] {
            j.push(entry("/partner/v1/heartbeat", s));
        }
        let all = j.query(&Filter::default(), 10);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
        let f = Filter {
            status: Some(StatusMatch::Class(4)),
            ..Filter::default()
        };
        assert_eq!(j.query(&f, 10).len(), 1);
        assert_eq!(j.query(&Filter::default(), 1)[0].seq, 3);
        assert_eq!(j.clear(&f), 1);
        assert_eq!(j.query(&Filter::default(), 10).len(), 1);
    }
}
