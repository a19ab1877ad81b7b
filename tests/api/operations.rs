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
