//! Connection slots shared fairly: at most `--max-connections` sockets are open, and
//! when every slot is taken a newcomer takes the place of an idle connection instead
//! of being turned away. So a client that opens every socket it can and sends
//! nothing cannot lock others out: its idle sockets are the ones given up.
//!
//! Which connection gives way: one with no request in progress, taken from the peer
//! address holding the most slots; among that peer's, one that never sent a request
//! before one that did, then the least recently active. A connection whose request is
//! being served (from its headers until its answer's last byte) is never closed.
//! When no connection is idle the newcomer is closed at once, as before.
//!
//! The slot wraps the raw TCP stream, below TLS, so a handshake that stalls holds an
//! idle slot too; and the per-connection service, so the slot knows when a request is
//! in progress.
//!
//! The slots also carry the shutdown: once [`Slots::begin_closing`] is called, what a
//! client has already sent is still read and answered (with `Connection: close`), and
//! a connection with nothing unanswered is closed as soon as a read would wait. So a
//! request sent before SIGTERM is answered, where closing idle connections outright
//! (hyper's graceful shutdown) would drop a request whose bytes had arrived but had
//! not been read yet.

use atomic_waker::AtomicWaker;
use axum::http::{Request, Response};
use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Connections that have given way and not yet closed may briefly take the count
/// over the cap by at most this many; beyond it newcomers are refused.
const CLOSING_HEADROOM: usize = 32;

/// The slots of one listener.
#[derive(Clone)]
pub struct Slots(Arc<Shared>);

/// The acceptor that hands out a listener's slots, around the acceptor it wraps.
#[derive(Clone)]
pub struct ConnectionSlots<A> {
    inner: A,
    shared: Arc<Shared>,
}

struct Shared {
    cap: usize,
    started: Instant,
    registry: Mutex<Registry>,
    closing: AtomicBool,
    /// When a connection was last admitted, as `last_active` counts.
    last_admitted: AtomicU64,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<Slot>>,
    per_peer: HashMap<IpAddr, usize>,
    /// Open and not told to close.
    live: usize,
}

/// One open connection's place, and what is known of its use.
struct Slot {
    id: u64,
    peer: IpAddr,
    /// Milliseconds since the listener started, at the last byte read or written.
    last_active: AtomicU64,
    requests: AtomicU64,
    in_progress: AtomicU32,
    /// Bytes read since the last byte written: the client said something not yet
    /// answered (a request inside a proxy tunnel, a second request's headers).
    unanswered: AtomicBool,
    evicted: AtomicBool,
    reader: AtomicWaker,
}

impl Slot {
    /// Whether closing it now would cut nothing short.
    fn idle(&self) -> bool {
        self.in_progress.load(Ordering::Acquire) == 0
            && !(self.requests.load(Ordering::Relaxed) > 0
                && self.unanswered.load(Ordering::Relaxed))
    }
}

impl Slots {
    pub fn new(cap: usize) -> Self {
        Self(Arc::new(Shared {
            cap: cap.max(1),
            started: Instant::now(),
            registry: Mutex::new(Registry::default()),
            closing: AtomicBool::new(false),
            last_admitted: AtomicU64::new(0),
        }))
    }

    /// The acceptor that admits connections into these slots.
    pub fn acceptor<A>(&self, inner: A) -> ConnectionSlots<A> {
        ConnectionSlots {
            inner,
            shared: self.0.clone(),
        }
    }

    /// From now on answers say `Connection: close`, and connections with nothing
    /// unanswered close as soon as a read would wait.
    pub fn begin_closing(&self) {
        self.0.closing.store(true, Ordering::Release);
        let reg = self.0.registry.lock().unwrap_or_else(|e| e.into_inner());
        for slot in reg.open.values() {
            slot.reader.wake();
        }
    }

    /// Resolves once every connection has closed and none was admitted for a moment
    /// (the listen backlog is empty). The caller bounds the wait.
    pub async fn drained(&self) {
        const QUIET_MS: u64 = 50;
        loop {
            let empty = self
                .0
                .registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open
                .is_empty();
            let quiet = self.0.now_ms() >= self.0.last_admitted.load(Ordering::Relaxed) + QUIET_MS;
            if empty && quiet {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// A slot for a connection from `peer`, making room if every slot is taken; `None`
    /// if there is no room to make.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Arc<Slot>> {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if reg.live >= self.cap {
            if reg.open.len() >= self.cap + CLOSING_HEADROOM {
                return None;
            }
            let victim = reg
                .open
                .values()
                .filter(|s| !s.evicted.load(Ordering::Relaxed) && s.idle())
                .max_by_key(|s| {
                    (
                        reg.per_peer.get(&s.peer).copied().unwrap_or(0),
                        s.requests.load(Ordering::Relaxed) == 0,
                        std::cmp::Reverse(s.last_active.load(Ordering::Relaxed)),
                        // Within the same millisecond, the older.
                        std::cmp::Reverse(s.id),
                    )
                })?
                .clone();
            victim.evicted.store(true, Ordering::Release);
            victim.reader.wake();
            reg.live -= 1;
            metrics::counter!("connections_evicted_total").increment(1);
        }
        reg.next_id += 1;
        let slot = Arc::new(Slot {
            id: reg.next_id,
            peer,
            last_active: AtomicU64::new(self.now_ms()),
            requests: AtomicU64::new(0),
            in_progress: AtomicU32::new(0),
            unanswered: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        reg.open.insert(slot.id, slot.clone());
        self.last_admitted.store(self.now_ms(), Ordering::Relaxed);
        *reg.per_peer.entry(peer).or_default() += 1;
        reg.live += 1;
        Some(slot)
    }

    fn release(&self, slot: &Slot) {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if reg.open.remove(&slot.id).is_none() {
            return;
        }
        if !slot.evicted.load(Ordering::Acquire) {
            reg.live -= 1;
        }
        if let Some(n) = reg.per_peer.get_mut(&slot.peer) {
            *n -= 1;
            if *n == 0 {
                reg.per_peer.remove(&slot.peer);
            }
        }
    }
}

impl<S, A> Accept<TcpStream, S> for ConnectionSlots<A>
where
    A: Accept<Slotted, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = A::Stream;
    type Service = InProgress<A::Service>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let peer = stream
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let Some(slot) = self.shared.admit(peer) else {
            metrics::counter!("connections_refused_total").increment(1);
            return Box::pin(std::future::ready(Err(io::Error::other(
                "connection limit reached and no connection idle",
            ))));
        };
        let stream = Slotted {
            stream,
            slot: slot.clone(),
            shared: self.shared.clone(),
        };
        let accepted = self.inner.accept(stream, service);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((
                stream,
                InProgress {
                    inner: service,
                    slot,
                    shared,
                },
            ))
        })
    }
}

/// A connection's socket, holding its slot until it closes.
pub struct Slotted {
    stream: TcpStream,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
}

impl Drop for Slotted {
    fn drop(&mut self) {
        self.shared.release(&self.slot);
    }
}

impl AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.slot.reader.register(cx.waker());
        if self.slot.evicted.load(Ordering::Acquire) {
            // The end of the stream: the connection closes as if the client had left.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let closing = self.shared.closing.load(Ordering::Acquire)
            && self.slot.in_progress.load(Ordering::Acquire) == 0
            && !self.slot.unanswered.load(Ordering::Relaxed);
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            // Shutting down, nothing unanswered, and nothing more has arrived: the end.
            Poll::Pending if closing => return Poll::Ready(Ok(())),
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r?,
        }
        if buf.filled().len() > before {
            self.slot
                .last_active
                .store(self.shared.now_ms(), Ordering::Relaxed);
            self.slot.unanswered.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl Slotted {
    fn wrote(&self, n: usize) {
        if n > 0 {
            self.slot
                .last_active
                .store(self.shared.now_ms(), Ordering::Relaxed);
            self.slot.unanswered.store(false, Ordering::Relaxed);
        }
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.stream).poll_write(cx, buf))?;
        self.wrote(n);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, bufs))?;
        self.wrote(n);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The per-connection service, counting the requests in progress on its slot: from
/// the call (the headers are in) until the answer's body has been sent or dropped.
#[derive(Clone)]
pub struct InProgress<S> {
    inner: S,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
}

/// Held while a request is in progress.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: &Arc<Slot>) -> Self {
        slot.requests.fetch_add(1, Ordering::Relaxed);
        slot.in_progress.fetch_add(1, Ordering::AcqRel);
        Self(slot.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B, RB> tower::Service<Request<B>> for InProgress<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<Answer<RB>>;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        Answering {
            busy: Some(Busy::new(&self.slot)),
            // `Connection` is HTTP/1's alone (HTTP/2 forbids it).
            http1: req.version() < axum::http::Version::HTTP_2,
            shared: self.shared.clone(),
            inner: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The service's future; its answer's body carries the request's busy mark on.
    pub struct Answering<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
        http1: bool,
        shared: Arc<Shared>,
    }
}

impl<F, RB, E> Future for Answering<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<Answer<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if *this.http1 && this.shared.closing.load(Ordering::Acquire) {
            res.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        let busy = this.busy.take();
        Poll::Ready(Ok(res.map(|inner| Answer { inner, _busy: busy })))
    }
}

pin_project_lite::pin_project! {
    /// An answer's body; the request stays in progress until it is sent or dropped.
    pub struct Answer<B> {
        #[pin]
        inner: B,
        _busy: Option<Busy>,
    }
}

impl<B: http_body::Body> http_body::Body for Answer<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(cap: usize) -> Arc<Shared> {
        Slots::new(cap).0
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_newcomer_takes_the_place_of_the_biggest_holders_idle_connection() {
        let s = shared(3);
        let a1 = s.admit(A).unwrap();
        let a2 = s.admit(A).unwrap();
        let b1 = s.admit(B).unwrap();
        let _b2 = s.admit(B).unwrap();
        // A held two, B one: one of A's gave way.
        assert!(a1.evicted.load(Ordering::Relaxed) || a2.evicted.load(Ordering::Relaxed));
        assert!(!b1.evicted.load(Ordering::Relaxed));
    }

    #[test]
    fn never_used_connections_give_way_before_used_ones() {
        let s = shared(2);
        let used = s.admit(A).unwrap();
        drop(Busy::new(&used));
        let silent = s.admit(A).unwrap();
        let _new = s.admit(A).unwrap();
        assert!(silent.evicted.load(Ordering::Relaxed));
        assert!(!used.evicted.load(Ordering::Relaxed));
    }

    #[test]
    fn a_request_in_progress_is_never_cut_and_a_full_house_refuses() {
        let s = shared(1);
        let busy = s.admit(A).unwrap();
        let mark = Busy::new(&busy);
        assert!(s.admit(B).is_none());
        drop(mark);
        // Answered (a byte written after the last read): idle again.
        assert!(s.admit(B).is_some());
        assert!(busy.evicted.load(Ordering::Relaxed));
    }

    #[test]
    fn released_slots_are_counted_once() {
        let s = shared(1);
        let a = s.admit(A).unwrap();
        let b = s.admit(B).unwrap();
        s.release(&a);
        s.release(&a);
        s.release(&b);
        let reg = s.registry.lock().unwrap();
        assert_eq!((reg.live, reg.open.len(), reg.per_peer.len()), (0, 0, 0));
    }
}
