//! The intercepting proxy (`serve --dev --proxy-listen`), over raw sockets: CONNECT
//! tunnels ended here with TLS for Graph's and Entra's hosts, absolute-form HTTP,
//! pass-through to other hosts (a loopback server stands in for one), refusals, and
//! the listener's protections.

use crate::common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn proxied(
    adjust: impl FnOnce(&mut cloudpc_partners::config::ServeConfig),
) -> Option<(TestServer, SocketAddr)> {
    let s = TestServer::start_with(|c| {
        c.dev.enabled = true;
        c.dev.proxy.proxy_listen = Some("127.0.0.1:0".into());
        adjust(c);
    })
    .await?;
    let proxy = s.server.as_ref().and_then(|s| s.proxy_addr).unwrap();
    Some((s, proxy))
}

/// Writes `request` and reads the answer to the end (requests say `Connection: close`).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The head of an answer up to its blank line, read byte by byte so nothing after it
/// (a tunnel's first bytes) is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // A chunked body: the JSON is the text between the first `{` and the last `}`.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)
}

/// A TLS client that trusts the server's development CA, speaking HTTP/1.1.
fn tls_client(s: &TestServer) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(s.config.data_dir.join("tls/dev-ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.unwrap())
        .collect()
}

/// Opens a CONNECT tunnel to `target` through the proxy; the answer's head.
async fn open_tunnel(proxy: SocketAddr, target: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    (stream, head)
}

#[tokio::test]
async fn connect_to_graph_is_ended_here_with_a_certificate_for_graph() {
    let Some((s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    let token = s.admin(TENANT_A);
    let (stream, head) = open_tunnel(proxy, "graph.microsoft.com:443").await;
    assert_eq!(status_of(&head), 200, "{head}");
    let name = rustls::pki_types::ServerName::try_from("graph.microsoft.com").unwrap();
    let mut tls = tls_client(&s).connect(name, stream).await.unwrap();
    let answer = exchange(
        &mut tls,
        &format!("GET /beta/deviceManagement/virtualEndpoint/externalPartners HTTP/1.1\r\nHost: graph.microsoft.com\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let body = json_body(&answer);
    // Links name the host the app addressed, so its next call comes back the same way.
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/beta/$metadata#deviceManagement/virtualEndpoint/externalPartners"
    );

    // The journal says where the request was sent.
    let journal: Value = s.get("/dev/v1/journal", &token).await.json().await.unwrap();
    let last = journal["value"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["host"], "graph.microsoft.com");
    assert_eq!(last["viaProxy"], true);
}

#[tokio::test]
async fn a_client_checking_another_name_refuses_the_certificate() {
    let Some((s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    let (stream, head) = open_tunnel(proxy, "graph.microsoft.com:443").await;
    assert_eq!(status_of(&head), 200, "{head}");
    let name = rustls::pki_types::ServerName::try_from("graph.contoso.test").unwrap();
    let err = tls_client(&s).connect(name, stream).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn the_token_endpoint_answers_as_login_microsoftonline_com() {
    let Some((s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    let (stream, _) = open_tunnel(proxy, "login.microsoftonline.com:443").await;
    let name = rustls::pki_types::ServerName::try_from("login.microsoftonline.com").unwrap();
    let mut tls = tls_client(&s).connect(name, stream).await.unwrap();
    let answer = exchange(
        &mut tls,
        "GET /contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration HTTP/1.1\r\nHost: login.microsoftonline.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let config = json_body(&answer);
    let tenant = cloudpc_partners::auth::tenant_for_domain("contoso.onmicrosoft.com");
    assert_eq!(
        config["token_endpoint"],
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(
        config["issuer"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
}

#[tokio::test]
async fn absolute_form_http_to_graph_is_served_here() {
    let Some((s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    let token = s.admin(TENANT_A);
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let answer = exchange(
        &mut stream,
        &format!("GET http://graph.microsoft.com/beta/deviceManagement/virtualEndpoint/externalPartners/$count HTTP/1.1\r\nHost: graph.microsoft.com\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(
        answer.split_once("\r\n\r\n").map(|(_, b)| b),
        Some("0"),
        "{answer}"
    );
}

/// A loopback server that answers any request with `hello from upstream`.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\nConnection: close\r\n\r\nhello from upstream")
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn other_hosts_pass_through_untouched() {
    let Some((_s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    let target = upstream().await;
    // A tunnel: the proxy relays bytes both ways.
    let (mut stream, head) = open_tunnel(proxy, &target.to_string()).await;
    assert_eq!(status_of(&head), 200, "{head}");
    let answer = exchange(&mut stream, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.ends_with("hello from upstream"), "{answer}");
    // An absolute-form request: forwarded, and the answer streamed back.
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let answer = exchange(
        &mut stream,
        &format!("GET http://{target}/x HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(answer.ends_with("hello from upstream"), "{answer}");
}

#[tokio::test]
async fn without_passthrough_other_hosts_get_a_502_that_names_them() {
    let Some((_s, proxy)) = proxied(|c| c.dev.proxy.proxy_passthrough = false).await else {
        return;
    };
    let target = upstream().await;
    let (mut stream, head) = open_tunnel(proxy, &target.to_string()).await;
    assert_eq!(status_of(&head), 502, "{head}");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    let answer = format!("{head}{}", String::from_utf8_lossy(&rest));
    let body = json_body(&answer);
    assert_eq!(body["error"]["code"], "BadGateway", "{answer}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1") && message.contains("--proxy-passthrough"),
        "{message}"
    );
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let answer = exchange(
        &mut stream,
        &format!("GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 502, "{answer}");
    assert_eq!(json_body(&answer)["error"]["code"], "BadGateway");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_with_the_reason() {
    let Some((_s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    // A port nothing listens on: bound, then released.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (_, head) = open_tunnel(proxy, &closed.to_string()).await;
    assert_eq!(status_of(&head), 502, "{head}");
}

#[tokio::test]
async fn a_request_for_the_proxy_itself_is_a_400_that_says_what_it_is() {
    let Some((_s, proxy)) = proxied(|_| {}).await else {
        return;
    };
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let answer = exchange(
        &mut stream,
        "GET /beta/deviceManagement HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(body["error"]["message"].as_str().unwrap().contains("proxy"));
}

#[tokio::test]
async fn a_tunnel_that_never_speaks_is_closed_after_the_header_timeout() {
    let Some((_s, proxy)) =
        proxied(|c| c.connections.header_timeout = cloudpc_partners::config::Span::secs(1)).await
    else {
        return;
    };
    let (mut stream, head) = open_tunnel(proxy, "graph.microsoft.com:443").await;
    assert_eq!(status_of(&head), 200, "{head}");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_proxy_listener_shares_its_slots_fairly() {
    let Some((s, proxy)) = proxied(|c| c.connections.max_connections = 4).await else {
        return;
    };
    // Every slot held by connections that say nothing ...
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(proxy).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ... and a fifth client is still served: the oldest silent one gave way.
    let token = s.admin(TENANT_A);
    let mut fifth = TcpStream::connect(proxy).await.unwrap();
    let answer = exchange(
        &mut fifth,
        &format!("GET http://graph.microsoft.com/beta/deviceManagement/virtualEndpoint/externalPartners/$count HTTP/1.1\r\nHost: graph.microsoft.com\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), held[0].read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
}

#[tokio::test]
async fn the_proxy_refuses_a_non_loopback_address_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cloudpc_partners::config::ServeConfig::for_data_dir(dir.path());
    config.in_memory = true;
    config.dev.enabled = true;
    config.dev.proxy.proxy_listen = Some("0.0.0.0:0".into());
    let clock = Arc::new(cloudpc_partners::clock::SystemClock);
    let err = match cloudpc_partners::start(&config, clock).await {
        Ok(_) => panic!("a proxy on 0.0.0.0 started without --proxy-allow-remote"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("--proxy-allow-remote"), "{err}");
}
