//! `GET /api/dispatches/recent`: the PyHall MCP server's list of recent
//! dispatches — the tenant's route decisions, newest first, and nothing else.

use crate::support::TestServer;
use serde_json::json;

#[tokio::test]
async fn recent_dispatches_are_the_tenants_route_decisions_newest_first() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["decisions:write", "workers:write", "read"])
        .await;
    let (_, other) = s
        .tenant_with_key("org.other", &["decisions:write", "read"])
        .await;
    let route = |n: u32| {
        json!({"capability_id": "cap.doc.summarize", "env": "dev", "data_label": "PUBLIC",
            "tenant_risk": "low", "qos_class": "P2",
            "correlation_id": format!("3f2504e0-4f89-41d3-9a0c-0305e82c33{n:02}")})
    };
    let mut routed = Vec::new();
    for n in 0..3 {
        let (status, d) = s.post("/api/v1/route", &key, route(n)).await;
        assert_eq!(status, 200, "{d}");
        routed.push(d["decision_id"].as_str().unwrap().to_string());
    }
    // A decision about a named worker is not a dispatch of the router.
    let (status, w) = s
        .post(
            "/api/v1/workers",
            &key,
            json!({"name": "w", "namespace": "x.acme", "capabilities": ["cap.doc.summarize"]}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    let (status, _) = s
        .post(
            "/api/v1/decisions",
            &key,
            json!({"worker_id": "x.acme.w", "capability": "cap.doc.summarize", "env": "dev",
                "data_label": "PUBLIC"}),
        )
        .await;
    assert_eq!(status, 200);
    // Another tenant's route decision is not listed.
    assert_eq!(s.post("/api/v1/route", &other, route(9)).await.0, 200);

    let (status, page) = s.get_json("/api/dispatches/recent", Some(&key)).await;
    assert_eq!(status, 200, "{page}");
    let listed: Vec<&str> = page["dispatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision_id"].as_str().unwrap())
        .collect();
    routed.reverse();
    assert_eq!(listed, routed);
    let newest = &page["dispatches"][0];
    assert_eq!(newest["outcome"], "DENY");
    assert_eq!(newest["receipt"]["matched_rule_id"], "NO_MATCH");

    let (status, one) = s
        .get_json("/api/dispatches/recent?limit=1", Some(&key))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["dispatches"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.get_json("/api/dispatches/recent?limit=0", Some(&key))
            .await
            .0,
        400
    );
    assert_eq!(s.get_json("/api/dispatches/recent", None).await.0, 401);
}
