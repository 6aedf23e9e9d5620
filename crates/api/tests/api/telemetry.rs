//! `POST /api/v1/telemetry/decisions` as the SDKs send it, and the totals.

use crate::support::TestServer;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn reported_counts_add_up_per_tenant_id_and_day() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.tele", &["decisions:write", "read"])
        .await;
    let (_, other) = s.tenant_with_key("org.else", &["read"]).await;
    let report = json!({"decisions": [
        {"worker_id": "wrk.doc.summarizer", "count": 12},
        {"worker_id": "x.tele.worker", "count": 1},
        {"worker_id": "wrk.doc.summarizer", "count": 3}]});
    let (status, r) = s
        .post("/api/v1/telemetry/decisions", &key, report.clone())
        .await;
    assert_eq!((status, r["accepted"].as_u64()), (202, Some(3)), "{r}");
    s.post("/api/v1/telemetry/decisions", &key, report).await;

    let (status, t) = s.get_json("/api/v1/telemetry/decisions", Some(&key)).await;
    assert_eq!(status, 200, "{t}");
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(
        t["telemetry"],
        json!([{"worker_id": "wrk.doc.summarizer", "day": today, "count": 30},
               {"worker_id": "x.tele.worker", "day": today, "count": 2}])
    );
    let (_, theirs) = s
        .get_json("/api/v1/telemetry/decisions", Some(&other))
        .await;
    assert_eq!(theirs["telemetry"], json!([]), "tenants see only their own");
    s.stop().await;
}

#[tokio::test]
async fn malformed_or_unauthenticated_reports_are_refused_and_store_nothing() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.tele", &["read"]).await;
    for (body, what) in [
        (json!({"decisions": []}), "empty"),
        (
            json!({"decisions": [{"worker_id": "not an id", "count": 1}]}),
            "bad id",
        ),
        (
            json!({"decisions": [{"worker_id": "wrk.a.b", "count": 0}]}),
            "zero",
        ),
        (
            json!({"decisions": [{"worker_id": "wrk.a.b", "count": -5}]}),
            "negative",
        ),
        (json!({"decisions": [{"worker_id": "wrk.a.b"}]}), "no count"),
    ] {
        let (status, e) = s.post("/api/v1/telemetry/decisions", &key, body).await;
        assert_eq!(status, 400, "{what}: {e}");
        assert!(e["error"]["code"].is_string());
    }
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/telemetry/decisions",
            None,
            Some(json!({"decisions": [{"worker_id": "wrk.a.b", "count": 1}]})),
        )
        .await;
    assert_eq!(status, 401);
    let (_, t) = s
        .get_json("/api/v1/telemetry/decisions?since=2000-01-01", Some(&key))
        .await;
    assert_eq!(t["telemetry"], json!([]));
    let (status, _) = s
        .get_json("/api/v1/telemetry/decisions?since=last-week", Some(&key))
        .await;
    assert_eq!(status, 400);
    s.stop().await;
}
