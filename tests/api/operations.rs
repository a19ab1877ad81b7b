//! Operational endpoints under hostile use: bounded metrics, a separate listener.

use crate::common::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn invented_methods_do_not_mint_metric_series() {
    let s = test_server!();
    for i in 0..20 {
        let m = Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let res = s.client.request(m, s.url(SET)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let metrics = s.text("/metrics").await;
    assert!(
        !metrics.contains("INVENTED"),
        "method names leaked into labels"
    );
    assert!(
        metrics.contains("method=\"other\""),
        "{}",
        &metrics[..metrics.len().min(3000)]
    );
}

#[tokio::test]
async fn ops_listener_serves_metrics_and_the_main_one_does_not() {
    let s = test_server!(|c| c.connections.ops_listen = Some("127.0.0.1:0".into()));
    let ops = s
        .server
        .as_ref()
        .unwrap()
        .ops_addr
        .expect("an operations listener");
    let res = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "ResourceNotFound").await;
    for path in ["/metrics", "/readyz", "/healthz"] {
        let res = s
            .client
            .get(format!("http://{ops}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        s.client
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// Every 405 says what is allowed, in a body: Graph's error on the probes and the
/// metrics, Entra's on the dev authority's endpoints.
#[tokio::test]
async fn every_405_carries_a_body() {
    let s = test_server!(|c| c.dev.enabled = true);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let res = s.client.post(s.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["allow"], "GET", "{path}");
        assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    }
    for (method, path, allow) in [
        (
            Method::GET,
            format!("/{TENANT_A}/oauth2/v2.0/token"),
            "POST",
        ),
        (Method::GET, format!("/{TENANT_A}/oauth2/token"), "POST"),
        (
            Method::DELETE,
            format!("/{TENANT_A}/v2.0/.well-known/openid-configuration"),
            "GET",
        ),
        (
            Method::POST,
            format!("/{TENANT_A}/discovery/v2.0/keys"),
            "GET",
        ),
        (Method::PUT, "/common/discovery/instance".to_string(), "GET"),
    ] {
        let res = s
            .client
            .request(method.clone(), s.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{method} {path}");
        assert_eq!(
            body["error_codes"],
            serde_json::json!([900561]),
            "{method} {path}"
        );
    }
}

/// Shell completions and the manual page come from the same description as the
/// command line itself.
#[test]
fn completions_and_the_manual_page_are_printed() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        assert!(script.contains("--proxy-listen"), "{shell}");
    }
    let man = run(&["man"]);
    assert!(man.contains(".TH cloudpc-partners 1"), "{man}");
    assert!(man.contains("serve"), "{man}");
}

/// `--worker-threads` sets how many threads serve requests; a count the runtime
/// cannot use is refused before anything starts.
#[tokio::test]
async fn worker_threads_are_set_or_refused() {
    // The runtime's threads, workers and blocking ones alike, once it serves.
    async fn runtime_threads(extra: &[&str]) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::spawn(dir.path(), extra);
        let res = crate::support::http_client()
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "tokio-rt-worker")
            .count()
    }
    let one = runtime_threads(&["--worker-threads", "1"]).await;
    let three = runtime_threads(&["--worker-threads", "3"]).await;
    // Two workers more (the blocking threads started so far may differ by one, as
    // startup's file work overlaps or not).
    assert!(three > one, "{one} and {three} runtime threads");
    for bad in ["0", "many"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudpc-partners"))
            .args(["serve", "--worker-threads", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--worker-threads"), "{bad}: {err}");
    }
}
