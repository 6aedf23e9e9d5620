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
    let (_, key) = s
        .tenant_with_key("org.tele", &["decisions:write", "read"])
        .await;
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

#[tokio::test]
async fn a_key_that_cannot_decide_cannot_report_usage() {
    let s = TestServer::start().await;
    let (_, reader) = s.tenant_with_key("org.tele", &["read"]).await;
    let report = json!({"decisions": [{"worker_id": "wrk.a.b", "count": 1}]});

    let (status, e) = s.post("/api/v1/telemetry/decisions", &reader, report).await;

    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (403, Some("insufficient_scope")),
        "{e}"
    );
    let (_, t) = s
        .get_json("/api/v1/telemetry/decisions", Some(&reader))
        .await;
    assert_eq!(t["telemetry"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn a_tenant_cannot_report_more_different_ids_a_day_than_its_quota() {
    let s = TestServer::start_with(|c| c.telemetry_ids_per_day = 3, false).await;
    let (_, key) = s
        .tenant_with_key("org.tele", &["decisions:write", "read"])
        .await;
    let (_, other) = s.tenant_with_key("org.else", &["decisions:write"]).await;
    let report = |ids: &[&str]| json!({"decisions": ids.iter().map(|id| json!({"worker_id": id, "count": 1})).collect::<Vec<_>>()});
    let post = |key: String, body: serde_json::Value| {
        let s = &s;
        async move { s.post("/api/v1/telemetry/decisions", &key, body).await }
    };

    assert_eq!(
        post(key.clone(), report(&["wrk.a.one", "wrk.a.two"]))
            .await
            .0,
        202
    );
    // Two new ids would make four: refused whole, nothing of it stored.
    let (status, e) = post(
        key.clone(),
        report(&["wrk.a.one", "wrk.a.three", "wrk.a.four"]),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (429, Some("quota_exceeded")),
        "{e}"
    );
    // Within the quota, and known ids keep counting once it is full.
    assert_eq!(post(key.clone(), report(&["wrk.a.three"])).await.0, 202);
    assert_eq!(
        post(key.clone(), report(&["wrk.a.one", "wrk.a.two"]))
            .await
            .0,
        202
    );
    assert_eq!(post(key.clone(), report(&["wrk.a.five"])).await.0, 429);
    // The quota is each tenant's own.
    assert_eq!(post(other, report(&["wrk.a.five"])).await.0, 202);

    let (_, t) = s.get_json("/api/v1/telemetry/decisions", Some(&key)).await;
    let counts: Vec<(String, u64)> = t["telemetry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["worker_id"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("wrk.a.one".into(), 2),
            ("wrk.a.three".into(), 1),
            ("wrk.a.two".into(), 2)
        ]
    );
    s.stop().await;
}
