//! What one client can hold, tried over raw sockets: a slow request's headers, a slow
//! body, idle connections beyond the cap (they give way to newcomers), and a
//! half-sent request at SIGTERM.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn connect(origin: &str) -> TcpStream {
    let s = TcpStream::connect(origin.trim_start_matches("http://")).unwrap();
    // A guard against a test hanging, far above every limit the tests set.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until the server closes; returns what it sent.
fn read_to_close(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let s = test_server!(|c| {
        c.connections.header_timeout = Span::secs(1);
        c.connections.request_timeout = Span::secs(1);
    });
    let origin = s.origin.clone();
    let tok = s.admin(TENANT_A);
    let (headers, body) = tokio::task::spawn_blocking(move || {
        // Headers that never end: the connection is closed.
        let mut a = connect(&origin);
        a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let headers = read_to_close(a);
        // A body that never arrives: 408 with the Graph body.
        let mut b = connect(&origin);
        write!(
            b,
            "POST {SET} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"partnerId\""
        )
        .unwrap();
        (headers, read_to_close(b))
    })
    .await
    .unwrap();
    assert!(!headers.contains("200 OK"), "{headers}");
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(body.contains("\"RequestTimeout\""), "{body}");
}

#[tokio::test]
async fn a_connection_beyond_the_cap_takes_the_place_of_the_oldest_silent_one() {
    let s = test_server!(|c| c.connections.max_connections = 3);
    let origin = s.origin.clone();
    let (answers, later) = tokio::task::spawn_blocking(move || {
        let conns: Vec<TcpStream> = (0..4)
            .map(|_| {
                let c = connect(&origin);
                std::thread::sleep(Duration::from_millis(100));
                c
            })
            .collect();
        // Each asks once on its connection: the first, silent when the fourth came,
        // was closed without an answer.
        let answers: Vec<String> = conns
            .into_iter()
            .map(|mut c| {
                let _ =
                    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                read_to_close(c)
            })
            .collect();
        // With the others closed, a new connection is served.
        std::thread::sleep(Duration::from_millis(200));
        let mut again = connect(&origin);
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        (answers, read_to_close(again))
    })
    .await
    .unwrap();
    let served = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 200"))
        .count();
    let closed = answers.iter().filter(|a| a.is_empty()).count();
    assert_eq!((served, closed), (3, 1), "{answers:?}");
    assert!(answers[0].is_empty(), "{answers:?}");
    assert!(later.starts_with("HTTP/1.1 200"), "{later}");
}

/// A client that opens every socket it can get, says nothing on them and refills
/// each one the server closes, from the well-behaved client's own address and from
/// another; the well-behaved client opens a new connection for each request.
#[tokio::test]
async fn a_client_holding_every_slot_cannot_lock_out_another() {
    let s = test_server!(|c| c.connections.max_connections = 40);
    let addr: std::net::SocketAddr = s.origin.trim_start_matches("http://").parse().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hostile = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut held: Vec<tokio::net::TcpStream> = Vec::new();
                let (mut opened, mut peak) = (0usize, 0usize);
                let sources = ["127.0.0.1", "127.0.0.2"];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for source in sources {
                        let socket = tokio::net::TcpSocket::new_v4().unwrap();
                        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
                        if let Ok(c) = socket.connect(addr).await {
                            held.push(c);
                            opened += 1;
                        }
                    }
                    // Let go of what the server closed; the loop opens more.
                    held.retain(|c| {
                        let mut b = [0u8; 1];
                        matches!(c.try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
                    });
                    peak = peak.max(held.len());
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (opened, peak)
            })
        })
    };
    // Let it take every slot first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let origin = s.origin.clone();
    let answered = tokio::task::spawn_blocking(move || {
        (0..100)
            .filter(|_| {
                let mut c = connect(&origin);
                let _ =
                    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                read_to_close(c).starts_with("HTTP/1.1 200")
            })
            .count()
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (opened, peak) = hostile.join().unwrap();
    println!("answered {answered} of 100; the other client opened {opened} connections, holding up to {peak} open at once");
    assert!(peak >= 40, "the other client never held every slot: {peak}");
    assert!(answered >= 99, "answered {answered} of 100");
}

#[test]
fn sigterm_exits_within_the_grace_despite_a_half_sent_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(dir.path(), &["--shutdown-grace", "1s"]);
    let mut stuck = connect(&server.base);
    stuck
        .write_all(b"POST /partner/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // Bounded by the grace (1 s), with room for a slow machine; not a benchmark.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// A second signal cuts the shutdown grace short: the process exits at once, however
/// long the drain would still take.
#[test]
fn a_second_signal_stops_without_waiting_for_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(
        dir.path(),
        &["--shutdown-grace", "60s", "--header-timeout", "60s"],
    );
    // Headers half sent: the drain waits for the rest (up to the header timeout).
    let mut stuck = connect(&server.base);
    stuck
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal_term();
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.child.try_wait().unwrap().is_none(), "still draining");
    let started = Instant::now();
    server.signal_term();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Far below the 60 s grace; not a benchmark.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// Requests whose bytes arrived before SIGTERM are all answered (with
/// `Connection: close`), including those on connections not yet accepted.
#[test]
fn sigterm_answers_every_request_already_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(dir.path(), &["--shutdown-grace", "10s"]);
    let conns: Vec<TcpStream> = (0..600)
        .map(|_| {
            let mut c = connect(&server.base);
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    let sent = Instant::now();
    server.signal_term();
    let signalled_after = sent.elapsed();
    let answers: Vec<String> = conns.into_iter().map(read_to_close).collect();
    let status = server.child.wait().unwrap();
    let answered = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 200"))
        .count();
    let said_close = answers
        .iter()
        .filter(|a| a.to_ascii_lowercase().contains("connection: close"))
        .count();
    println!("signalled {signalled_after:?} after the last request; answered {answered} of 600, {said_close} with Connection: close");
    assert!(status.success(), "{status:?}");
    assert_eq!(answered, 600);
}

#[tokio::test]
async fn an_answer_given_before_the_body_is_read_says_connection_close() {
    let s = test_server!();
    let origin = s.origin.clone();
    let tok = s.admin(TENANT_A);
    let answers = tokio::task::spawn_blocking(move || {
        let send = |request: String| {
            let mut c = connect(&origin);
            c.write_all(request.as_bytes()).unwrap();
            let mut buf = vec![0u8; 4096];
            let n = c.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).to_lowercase()
        };
        let body = "{\"enableConnection\": false}";
        let head = |method: &str, path: &str, auth: &str| {
            format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let bearer = format!("Authorization: Bearer {tok}\r\n");
        [
            // 401 before the body is read.
            send(head("POST", SET, "")),
            // 404 for a key that is not a GUID, before the body is read.
            send(head("PATCH", &format!("{SET}/not-a-guid"), &bearer)),
            // A body that was read: the connection stays open.
            send(head("PATCH", &format!("{SET}/{}", uuid::Uuid::new_v4()), &bearer)),
        ]
    })
    .await
    .unwrap();
    assert!(
        answers[0].starts_with("http/1.1 401") && answers[0].contains("connection: close"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].starts_with("http/1.1 404") && answers[1].contains("connection: close"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].starts_with("http/1.1 404") && !answers[2].contains("connection: close"),
        "{}",
        answers[2]
    );
}
