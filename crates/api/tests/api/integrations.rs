//! The no-code integrations' `POST /api/route` (n8n, Zapier, Langflow): they
//! may omit `data_label` or send `CONFIDENTIAL`, and read `decision_id`,
//! `allowed`, `outcome`, `reason`, `artifact_hash` and
//! `selected_worker_species_id` besides `denied`.

use crate::support::{code, message, sha, TestServer, Worker};
use serde_json::{json, Value};

const CAP: &str = "cap.doc.summarize.v1";
const SPECIES: &str = "wrk.doc.summarizer";

/// The body an integration sends: the seed's, without `data_label`.
fn integration_body(worker: &str) -> Value {
    json!({"capability_id": CAP, "worker_id": worker, "env": "dev", "tenant_id": "org.acme"})
}

async fn acme_with_worker(s: &TestServer, name: &str, max_label: &str) -> String {
    let (_, key) = s
        .tenant_with_key(
            "org.acme",
            &["admin", "workers:write", "decisions:write", "read"],
        )
        .await;
    s.register(
        &key,
        &Worker::named("x.acme", name)
            .capabilities(&[CAP])
            .species(SPECIES)
            // L2: the data label is checked against the worker's clearance.
            .tier(2)
            .max_data_label(max_label),
    )
    .await;
    key
}

#[tokio::test]
async fn an_integration_body_without_a_label_or_with_confidential_is_decided_as_restricted_with_the_fields_it_reads(
) {
    let s = TestServer::start().await;
    let key = acme_with_worker(&s, "summarizer", "RESTRICTED").await;
    s.attest_hash(&key, "x.acme.summarizer", &sha('a')).await;

    let mut confidential = integration_body("x.acme.summarizer");
    confidential["data_label"] = json!("CONFIDENTIAL");
    for path in ["/api/route", "/api/v1/decisions"] {
        for body in [integration_body("x.acme.summarizer"), confidential.clone()] {
            let (status, d) = s.post(path, &key, body.clone()).await;
            assert_eq!(status, 200, "{path} {body}: {d}");
            assert_eq!(d["data_label"], "RESTRICTED", "{d}");
            assert_eq!(d["receipt"]["data_label"], "RESTRICTED", "{d}");
            assert_eq!(d["decision_id"], d["id"], "{d}");
            assert_eq!(
                (&d["denied"], &d["allowed"], &d["outcome"]),
                (&json!(false), &json!(true), &json!("ALLOW")),
                "{d}"
            );
            assert!(
                d["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("allowed")),
                "{d}"
            );
            assert_eq!(d["artifact_hash"], json!(sha('a')), "{d}");
            assert_eq!(d["selected_worker_species_id"], SPECIES, "{d}");
        }
    }
    assert_eq!(s.verify_receipts(&key).await, Ok(4));
    s.stop().await;
}

#[tokio::test]
async fn an_omitted_label_never_widens_access_and_a_deny_carries_its_reason() {
    let s = TestServer::start().await;
    // The worker takes INTERNAL data at most: RESTRICTED is beyond it.
    let key = acme_with_worker(&s, "internal-only", "INTERNAL").await;
    let (status, d) = s
        .post("/api/route", &key, integration_body("x.acme.internal-only"))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["data_label"], "RESTRICTED", "{d}");
    assert_eq!(
        (&d["denied"], &d["allowed"], &d["outcome"]),
        (&json!(true), &json!(false), &json!("DENY")),
        "{d}"
    );
    assert_eq!(d["reason"], d["deny_reason"], "{d}");
    assert!(d["reason"].as_str().is_some_and(|r| !r.is_empty()), "{d}");
    // Not attested: no hash to show; its species all the same.
    assert_eq!(d["artifact_hash"], Value::Null, "{d}");
    assert_eq!(d["selected_worker_species_id"], SPECIES, "{d}");

    // A worker the tenant does not know has neither.
    let (status, d) = s
        .post("/api/route", &key, integration_body("x.acme.missing"))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (&d["outcome"], &d["artifact_hash"]),
        (&json!("DENY"), &Value::Null)
    );
    assert_eq!(d["selected_worker_species_id"], Value::Null, "{d}");
    s.stop().await;
}

#[tokio::test]
async fn the_tenants_default_data_label_applies_when_a_request_names_none() {
    let s = TestServer::start().await;
    let key = acme_with_worker(&s, "internal-only", "INTERNAL").await;
    let (_, p) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(p["decisions"]["default_data_label"], "RESTRICTED", "{p}");

    let p = s
        .set_policy(
            &key,
            json!({"decisions": {"default_data_label": "internal"}}),
        )
        .await;
    assert_eq!(p["decisions"]["default_data_label"], "INTERNAL", "{p}");
    let d = s
        .decide(&key, integration_body("x.acme.internal-only"))
        .await;
    assert_eq!(
        (&d["data_label"], &d["receipt"]["data_label"], &d["outcome"]),
        (&json!("INTERNAL"), &json!("INTERNAL"), &json!("ALLOW")),
        "{d}"
    );
    // A label named in the request still wins.
    let mut restricted = integration_body("x.acme.internal-only");
    restricted["data_label"] = json!("RESTRICTED");
    let d = s.decide(&key, restricted).await;
    assert_eq!(
        (&d["data_label"], &d["outcome"]),
        (&json!("RESTRICTED"), &json!("DENY"))
    );

    let (status, err) = s
        .try_set_policy(&key, json!({"decisions": {"default_data_label": "SECRET"}}))
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(
        message(&err).starts_with("decisions.default_data_label \"SECRET\""),
        "{err}"
    );
    // A policy that leaves it out goes back to RESTRICTED.
    let p = s
        .set_policy(&key, json!({"decisions": {"tier_floors": {}}}))
        .await;
    assert_eq!(p["decisions"]["default_data_label"], "RESTRICTED", "{p}");
    s.stop().await;
}

#[tokio::test]
async fn a_tenant_id_of_another_tenant_is_forbidden_with_a_message_saying_to_omit_it() {
    let s = TestServer::start().await;
    let key = acme_with_worker(&s, "summarizer", "RESTRICTED").await;
    let mut body = integration_body("x.acme.summarizer");
    body["tenant_id"] = json!("org.other");
    let (status, err) = s.post("/api/route", &key, body).await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(code(&err), "forbidden", "{err}");
    let message = message(&err);
    assert!(
        message.contains("omit tenant_id or send your own (org.acme)"),
        "{message}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_route_call_without_a_worker_is_routed_and_without_tenant_risk_is_400_naming_it() {
    let s = TestServer::start().await;
    let key = acme_with_worker(&s, "summarizer", "RESTRICTED").await;
    // The seed's body without worker_id: not a route input yet.
    let (status, err) = s
        .post(
            "/api/route",
            &key,
            json!({"capability_id": CAP, "env": "dev", "data_label": "PUBLIC"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(code(&err), "invalid_field", "{err}");
    assert_eq!(message(&err), "tenant_risk is required", "{err}");

    // The integrations' body without a label, routed: the tenant has no
    // rules, so it is denied (fail closed) with the fields they read.
    let (status, d) = s
        .post(
            "/api/route",
            &key,
            json!({"capability_id": CAP, "env": "dev", "tenant_id": "org.acme",
                "tenant_risk": "low", "qos_class": "P2"}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["data_label"], "RESTRICTED", "{d}");
    assert_eq!(
        (&d["denied"], &d["allowed"], &d["outcome"]),
        (&json!(true), &json!(false), &json!("DENY")),
        "{d}"
    );
    assert_eq!(d["deny_code"], "DENY_NO_MATCHING_RULE", "{d}");
    assert!(
        d["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no routing rules")),
        "{d}"
    );
    assert_eq!(d["decision_id"], d["id"], "{d}");
    assert_eq!(s.verify_receipts(&key).await, Ok(1));
    s.stop().await;
}
