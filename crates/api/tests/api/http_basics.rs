//! The server's common surface over real HTTP: health, readiness, metrics,
//! the OpenAPI document and Swagger UI, request ids and the JSON error shape.

use crate::support::{error_of, workspace_root, TestServer};

#[tokio::test]
async fn health_answers_ok_and_the_server_version() {
    let server = TestServer::start().await;
    let resp = server.get("/health").await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    server.stop().await;
}

#[tokio::test]
async fn readyz_is_ready_while_postgres_answers() {
    let server = TestServer::start().await;
    let resp = server.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["database"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn readyz_is_503_while_postgres_is_unreachable() {
    let server = TestServer::start().await;
    // Take the database away under the running server.
    let admin = testkit::admin_database_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", server.db.name()))
        .execute(&mut conn)
        .await
        .unwrap();
    let resp = server.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let (code, message) = error_of(resp).await;
    assert_eq!(code, "unavailable");
    assert!(message.contains("not ready"), "{message}");
    // Liveness is not readiness: the process still answers.
    assert_eq!(server.get("/health").await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn readyz_asks_postgres_at_most_once_a_second_and_notices_it_gone_after_that() {
    let server = TestServer::start().await;
    const CHECKS: &str = "hall_readiness_checks_total";
    assert_eq!(server.get("/readyz").await.status(), 200);
    let checks = server.counter(CHECKS).await;
    let started = std::time::Instant::now();
    for _ in 0..50 {
        assert_eq!(server.get("/readyz").await.status(), 200);
    }
    let asked = server.counter(CHECKS).await - checks;
    if started.elapsed() < std::time::Duration::from_secs(1) {
        assert!(
            asked <= 1,
            "{asked} readiness checks for 50 probes within a second"
        );
    }

    let admin = testkit::admin_database_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", server.db.name()))
        .execute(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resp = server.get("/readyz").await;
    assert_eq!(resp.status(), 503, "the answer is at most a second old");
    let (code, _) = error_of(resp).await;
    assert_eq!(code, "unavailable");
    server.stop().await;
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let server = TestServer::start().await;
    let resp = server.get("/api/v1/no-such-thing").await;
    assert_eq!(resp.status(), 404);
    let (code, message) = error_of(resp).await;
    assert_eq!(code, "not_found");
    assert!(message.contains("/api/v1/no-such-thing"));
    server.stop().await;
}

#[tokio::test]
async fn wrong_method_is_a_json_405_with_allow() {
    let server = TestServer::start().await;
    let resp = server
        .client
        .delete(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
    let (code, _) = error_of(resp).await;
    assert_eq!(code, "method_not_allowed");
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_one_is_kept() {
    let server = TestServer::start().await;
    let generated = server.get("/health").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let kept = server
        .client
        .get(server.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "abc-123");

    let replaced = server
        .client
        .get(server.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id with spaces");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_pattern() {
    let server = TestServer::start().await;
    for _ in 0..3 {
        server.get("/health").await;
    }
    server.get("/nope/1").await;
    server.get("/nope/2").await;
    let resp = server.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#"hall_http_requests_total{method="GET",route="/health",status="200"} 3"#),
        "{text}"
    );
    // Unmatched paths share one label, so clients cannot grow the label set.
    assert!(
        text.contains(r#"hall_http_requests_total{method="GET",route="unmatched",status="404"} 2"#)
    );
    assert!(text
        .contains(r#"hall_http_request_duration_seconds_count{method="GET",route="/health"} 3"#));
    assert!(!text.contains("/nope/1"));
    server.stop().await;
}

#[tokio::test]
async fn served_openapi_document_equals_the_checked_in_file() {
    let server = TestServer::start().await;
    let resp = server.get("/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let served: serde_json::Value = resp.json().await.unwrap();
    let file = std::fs::read_to_string(workspace_root().join("openapi/openapi.json")).unwrap();
    let checked_in: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(
        served, checked_in,
        "openapi/openapi.json is stale: run `cargo run --bin hall-registry -- openapi > openapi/openapi.json`"
    );
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    server.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs_without_any_download() {
    let server = TestServer::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client.get(server.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = server.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The UI's assets come from this server (vendored), not a CDN.
    let bundle = server.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    let init = server
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    server.stop().await;
}

/// This process's peak resident memory, in bytes (Linux).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status")
        * 1024
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_413_without_being_inflated() {
    use std::io::Write;
    let server = TestServer::start().await;
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;
    // 64 MiB of zeros: about 64 KiB compressed, well under the body limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 256 * 1024, "{} bytes compressed", bomb.len());
    let peak = peak_rss();

    let resp = server
        .client
        .post(server.url("/api/v1/ban-list/report"))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let (code, _) = error_of(resp).await;
    assert_eq!(code, "payload_too_large");
    let grown = peak_rss().saturating_sub(peak);
    assert!(
        grown < 16 << 20,
        "the peak memory grew by {} MiB refusing it",
        grown >> 20
    );

    // A small gzip body is read as what it inflates to.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(
        serde_json::json!({"sha256": "b".repeat(64), "reason": "exfiltrates secrets"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let resp = server
        .client
        .post(server.url("/api/v1/ban-list/report"))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    server.stop().await;
}

#[tokio::test]
async fn readyz_and_metrics_show_the_chain_verifier_catching_up_with_new_receipts() {
    let server = TestServer::start().await;
    let (_, key) = server
        .tenant_with_key("org.acme", &["workers:write", "decisions:write", "read"])
        .await;
    let w = server
        .register(
            &key,
            &crate::support::Worker::named("x.acme", "checked").capabilities(&["cap.data.read.v1"]),
        )
        .await;
    for _ in 0..3 {
        let request = crate::support::decision(
            w["id"].as_str().unwrap(),
            "cap.data.read.v1",
            "dev",
            "PUBLIC",
        );
        server.decide(&key, request).await;
    }
    // The test server looks every second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let chains = loop {
        let body: serde_json::Value = server.get("/readyz").await.json().await.unwrap();
        let chains = body["chains"].clone();
        if chains["state"] == "ok" && chains["verified"] == 3 {
            break chains;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(chains["receipts"], 3);
    assert_eq!(chains["broken_chains"], 0);
    assert!(chains["checked_at"].is_string());
    assert_eq!(server.counter("hall_chain_receipts").await, 3);
    assert_eq!(server.counter("hall_chain_receipts_unverified").await, 0);
    assert_eq!(
        server.counter("hall_chain_receipts_verified_total").await,
        3
    );
    assert_eq!(server.counter("hall_chain_broken_chains").await, 0);
    assert_eq!(
        server.counter("hall_chain_integrity_failures_total").await,
        0
    );
    server.stop().await;
}
