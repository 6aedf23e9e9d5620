//! The router over HTTP: `POST /api/v1/route`, `POST /api/route` with the
//! PyHall MCP server's body (no `worker_id`), and the telemetry events.

use crate::support::{code, message, TestServer};
use serde_json::{json, Value};

const CAP: &str = "cap.doc.summarize";
const CORRELATION: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

fn input() -> Value {
    json!({"capability_id": CAP, "env": "dev", "data_label": "PUBLIC",
        "tenant_risk": "low", "qos_class": "P2", "correlation_id": CORRELATION,
        "request": {"text": "hello"}})
}

async fn acme(s: &TestServer) -> String {
    let (_, key) = s
        .tenant_with_key("org.acme", &["decisions:write", "read"])
        .await;
    key
}

#[tokio::test]
async fn a_route_without_rules_is_a_complete_denied_decision_with_a_verifiable_receipt() {
    let s = TestServer::start().await;
    let key = acme(&s).await;
    let (status, d) = s.post("/api/v1/route", &key, input()).await;
    assert_eq!(status, 200, "{d}");
    for field in [
        "decision_id",
        "timestamp",
        "correlation_id",
        "tenant_id",
        "capability_id",
        "matched_rule_id",
        "selected_worker_species_id",
        "selected_worker_id",
        "env",
        "data_label",
        "tenant_risk",
        "qos_class",
        "denied",
        "deny_reason_if_denied",
        "deny_code",
        "required_controls_effective",
        "recommended_profiles_effective",
        "escalation_effective",
        "candidate_workers_ranked",
        "telemetry_envelopes",
        "dry_run",
        "outcome",
        "proof",
        "receipt",
        "blast_score",
        "blast_gate_passed",
        "privilege_envelope_ok",
        "rules_version",
    ] {
        assert!(d.get(field).is_some(), "{field} missing: {d}");
    }
    assert_eq!(d["denied"], true);
    assert_eq!(d["outcome"], "DENY");
    assert_eq!(d["deny_code"], "DENY_NO_MATCHING_RULE");
    assert_eq!(d["deny_reason_if_denied"]["code"], "DENY_NO_MATCHING_RULE");
    assert_eq!(d["matched_rule_id"], "NO_MATCH");
    assert_eq!(d["correlation_id"], CORRELATION);
    assert_eq!(d["tenant_id"], "org.acme");
    assert_eq!(d["proof"], d["receipt"]["receipt_hash"]);
    assert_eq!(d["receipt"]["receipt_version"], 3);
    assert_eq!(d["receipt"]["matched_rule_id"], "NO_MATCH");
    assert_eq!(
        d["telemetry_envelopes"][0]["event_id"],
        "evt.os.task.denied"
    );
    assert_eq!(s.verify_receipts(&key).await, Ok(1));

    let (status, events) = s
        .get_json(
            &format!("/api/v1/telemetry/events?correlation_id={CORRELATION}"),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["events"], d["telemetry_envelopes"], "{events}");
    s.stop().await;
}

#[tokio::test]
async fn the_mcp_servers_body_is_routed_by_api_route() {
    let s = TestServer::start().await;
    let key = acme(&s).await;
    // What the PyHall MCP server posts: no worker_id.
    let body = json!({"capability_id": CAP, "env": "dev", "data_label": "PUBLIC",
        "tenant_id": "org.acme", "tenant_risk": "low", "qos_class": "P2",
        "correlation_id": CORRELATION, "request": {}});
    let (status, d) = s.post("/api/route", &key, body).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["decision_id"], d["id"]);
    assert_eq!(d["allowed"], false);
    assert_eq!(d["outcome"], "DENY");
    assert_eq!(d["matched_rule_id"], "NO_MATCH");
    assert!(d["reason"].is_string(), "{d}");
    assert_eq!(d["artifact_hash"], Value::Null);
    assert_eq!(d["selected_worker_species_id"], Value::Null);
    assert_eq!(s.verify_receipts(&key).await, Ok(1));
    s.stop().await;
}

#[tokio::test]
async fn bad_route_input_is_400_naming_the_field_and_appends_nothing() {
    let s = TestServer::start().await;
    let key = acme(&s).await;
    let big = "x".repeat(70 * 1024);
    for (field, value) in [
        ("qos_class", json!("P9")),
        ("env", json!("moon")),
        ("correlation_id", json!("not-a-uuid")),
        ("blast_score", json!(101)),
        ("request", json!({"text": big})),
        ("approval_id", json!("approval-1")),
        ("blast_radious", json!({})),
    ] {
        let mut body = input();
        body[field] = value;
        let (status, err) = s.post("/api/v1/route", &key, body).await;
        assert_eq!(status, 400, "{field}: {err}");
        assert!(message(&err).contains(field), "{field}: {err}");
    }
    let (status, err) = s.post("/api/v1/route", &key, json!([1])).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(s.verify_receipts(&key).await, Ok(0));
    s.stop().await;
}

#[tokio::test]
async fn another_tenant_is_403_saying_to_omit_it() {
    let s = TestServer::start().await;
    let key = acme(&s).await;
    s.create_tenant("org.other").await;
    let mut body = input();
    body["tenant_id"] = json!("org.other");
    for path in ["/api/v1/route", "/api/route"] {
        let (status, err) = s.post(path, &key, body.clone()).await;
        assert_eq!(status, 403, "{path}: {err}");
        assert_eq!(code(&err), "forbidden", "{err}");
        assert!(message(&err).contains("omit tenant_id"), "{err}");
    }
    s.stop().await;
}

#[tokio::test]
async fn telemetry_events_need_a_uuid_correlation_id() {
    let s = TestServer::start().await;
    let key = acme(&s).await;
    for query in [
        "",
        "?correlation_id=abc",
        "?correlation_id=3f2504e0-4f89-41d3-9a0c-0305e82c3301&limit=0",
    ] {
        let (status, err) = s
            .get_json(&format!("/api/v1/telemetry/events{query}"), Some(&key))
            .await;
        assert_eq!(status, 400, "{query}: {err}");
    }
    let (status, events) = s
        .get_json(
            &format!("/api/v1/telemetry/events?correlation_id={CORRELATION}"),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(events["events"], json!([]));
    s.stop().await;
}

/// Tenant org.acme with an attested worker of species `wrk.doc.summarizer`
/// and rules routing [`CAP`] to it; its key.
async fn acme_routed(s: &TestServer) -> String {
    use crate::support::{sha, Worker};
    let (_, key) = s
        .tenant_with_key(
            "org.acme",
            &["admin", "workers:write", "decisions:write", "read"],
        )
        .await;
    s.register(
        &key,
        &Worker::named("x.acme", "summarizer")
            .capabilities(&[CAP])
            .species("wrk.doc.summarizer")
            .tier(2)
            .max_data_label("RESTRICTED"),
    )
    .await;
    s.attest_hash(&key, "x.acme.summarizer", &sha('a')).await;
    let rules = json!({"rules": [{
        "rule_id": "rr_summarize",
        "match": {"capability_id": CAP},
        "decision": {"candidate_workers_ranked": [
            {"worker_species_id": "wrk.doc.missing"},
            {"worker_species_id": "wrk.doc.summarizer"}
        ]}
    }]});
    let (status, v) = s
        .call(
            reqwest::Method::PUT,
            "/api/v1/routing/rules",
            Some(&key),
            Some(rules),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    key
}

#[tokio::test]
async fn a_routed_request_selects_the_enrolled_worker_by_the_tenants_rules() {
    use crate::support::sha;
    let s = TestServer::start().await;
    let key = acme_routed(&s).await;
    let (status, d) = s.post("/api/v1/route", &key, input()).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["outcome"], "ALLOW", "{d}");
    assert_eq!(d["allowed"], true);
    assert_eq!(d["matched_rule_id"], "rr_summarize");
    assert_eq!(d["selected_worker_species_id"], "wrk.doc.summarizer");
    assert_eq!(d["selected_worker_id"], "x.acme.summarizer");
    assert_eq!(d["artifact_hash"], json!(sha('a')));
    assert_eq!(d["rules_version"], "1");
    assert_eq!(
        d["candidate_workers_ranked"][0]["skip_reason"],
        "no_enrolled_worker"
    );
    assert_eq!(d["receipt"]["rules_version"], "1");
    assert_eq!(d["receipt"]["worker_id"], "x.acme.summarizer");
    let events: Vec<&str> = d["telemetry_envelopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "evt.os.task.routed",
            "evt.os.worker.selected",
            "evt.os.policy.gated"
        ]
    );
    assert_eq!(s.verify_receipts(&key).await, Ok(1));
    s.stop().await;
}

#[tokio::test]
async fn the_integrations_bodies_without_a_label_or_with_confidential_are_routed_as_restricted() {
    let s = TestServer::start().await;
    let key = acme_routed(&s).await;
    let body = json!({"capability_id": CAP, "env": "dev", "tenant_id": "org.acme",
        "tenant_risk": "low", "qos_class": "P2"});
    let mut confidential = body.clone();
    confidential["data_label"] = json!("CONFIDENTIAL");
    for b in [body, confidential] {
        let (status, d) = s.post("/api/route", &key, b.clone()).await;
        assert_eq!(status, 200, "{b}: {d}");
        assert_eq!(d["data_label"], "RESTRICTED", "{d}");
        assert_eq!(d["outcome"], "ALLOW", "{d}");
        assert_eq!(d["selected_worker_species_id"], "wrk.doc.summarizer", "{d}");
        assert!(d["reason"].is_string(), "{d}");
    }
    assert_eq!(s.verify_receipts(&key).await, Ok(2));
    s.stop().await;
}
