//! What one client can hold, tried over raw sockets: a slow request's headers, a slow
//! body, idle connections beyond the cap, and a half-sent request at SIGTERM.

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
async fn connections_beyond_the_cap_are_closed_and_the_rest_served() {
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
        // Each asks once on its connection: one of the four was closed without an answer.
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
    assert!(later.starts_with("HTTP/1.1 200"), "{later}");
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
