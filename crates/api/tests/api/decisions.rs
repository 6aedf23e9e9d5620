//! Decisions over HTTP: the chain, tiers, signatories, receipts that verify
//! with only the published keys, the decision log, and the seed's flows.

use crate::support::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

async fn call(
    s: &TestServer,
    m: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    s.call(m, path, key, body).await
}

async fn decide(s: &TestServer, key: &str, body: Value) -> Value {
    let (status, d) = call(s, Method::POST, "/api/v1/decisions", Some(key), Some(body)).await;
    assert_eq!(status, 200, "{d}");
    d
}

#[tokio::test]
async fn the_seed_quick_start_allows_with_a_proof_that_verifies_offline() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "decisions:write", "read"])
        .await;
    let (_, w) = call(
        &s,
        Method::POST,
        "/api/v1/workers",
        Some(&key),
        Some(json!({
        "name": "my-agent", "namespace": "x.myagent",
        "capabilities": ["cap.data.read.v1", "cap.report.generate.v1"], "policy_tier": 2})),
    )
    .await;
    let d = decide(
        &s,
        &key,
        json!({"worker_id": w["id"], "capability": "cap.data.read.v1",
        "env": "dev", "data_label": "PUBLIC", "tenant_id": "org.acme"}),
    )
    .await;
    assert_eq!(d["denied"], false, "{d}");
    assert_eq!(d["deny_code"], Value::Null);
    assert_eq!(d["tier"], 2);
    assert_eq!(d["worker_id"], "x.myagent.my-agent");
    assert_eq!(d["capability_id"], "cap.data.read.v1");
    assert_eq!(d["proof"], d["receipt"]["receipt_hash"]);
    assert_eq!(d["proof"].as_str().unwrap().len(), 64);
    assert_eq!(d["receipt"]["prev_receipt_hash"], Value::Null);
    assert!(d["correlation_id"].as_str().unwrap().len() >= 8);
    let id = d["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    // The decorator flow: no tenant_id; a capability it does not declare is a deny, as a 200.
    let denied = decide(
        &s,
        &key,
        json!({"worker_id": "x.myagent.my-agent",
        "capability": "cap.data.write.v1", "env": "dev", "data_label": "PUBLIC"}),
    )
    .await;
    assert_eq!(denied["denied"], true);
    assert_eq!(denied["deny_code"], "DENY_CAPABILITY_NOT_DECLARED");
    assert!(denied["deny_reason"]
        .as_str()
        .unwrap()
        .contains("cap.data.write.v1"));
    assert_eq!(denied["receipt"]["prev_receipt_hash"], d["proof"]);

    assert_eq!(s.verify_receipts(&key).await, Ok(2));
    let (_, one) = call(
        &s,
        Method::GET,
        &format!("/api/v1/decisions/{id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(one["proof"], d["proof"]);
    s.stop().await;
}

#[tokio::test]
async fn the_local_hall_route_call_works_with_a_session_token() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "decisions:write"])
        .await;
    let (_, w) = call(
        &s,
        Method::POST,
        "/api/v1/workers",
        Some(&key),
        Some(json!({
        "name": "a", "namespace": "x.acme", "capabilities": ["cap.data.read.v1"]})),
    )
    .await;
    let (_, token) = call(&s, Method::POST, "/api/v1/auth/token", Some(&key), None).await;
    let (status, d) = call(
        &s,
        Method::POST,
        "/api/route",
        token["token"].as_str(),
        Some(json!({
        "capability_id": "cap.data.read.v1", "worker_id": w["id"], "env": "dev",
        "data_label": "PUBLIC", "tenant_id": "org.acme"})),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["denied"], false);
    let (status, d) = call(
        &s,
        Method::POST,
        "/api/route",
        token["token"].as_str(),
        Some(json!({
        "capability_id": "cap.data.read.v1", "worker_id": "x.acme.missing", "env": "dev",
        "data_label": "PUBLIC"})),
    )
    .await;
    assert_eq!((status, d["denied"].as_bool()), (200, Some(true)));
    assert!(d["deny_reason"].is_string());
    s.stop().await;
}

#[tokio::test]
async fn malformed_decision_requests_are_4xx_and_other_tenants_cannot_be_claimed() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["decisions:write"]).await;
    for (body, field) in [
        (
            json!({"worker_id": "x.a.b", "capability": "nope", "env": "dev", "data_label": "PUBLIC"}),
            "capability",
        ),
        (
            json!({"worker_id": "x.a.b", "capability": "cap.a.b", "env": "qa", "data_label": "PUBLIC"}),
            "env",
        ),
        (
            json!({"worker_id": "x.a.b", "capability": "cap.a.b", "env": "dev", "data_label": "SECRET"}),
            "data_label",
        ),
        (
            json!({"worker_id": "Bad", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC"}),
            "worker_id",
        ),
        (
            json!({"worker_id": "x.a.b", "env": "dev", "data_label": "PUBLIC"}),
            "capability",
        ),
        (
            json!({"worker_id": "x.a.b", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC", "request_hash": "xyz"}),
            "request_hash",
        ),
    ] {
        let (status, err) = call(
            &s,
            Method::POST,
            "/api/v1/decisions",
            Some(&key),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            err["error"]["message"].as_str().unwrap().starts_with(field),
            "{err}"
        );
    }
    let (status, _) = call(&s, Method::POST, "/api/v1/decisions", Some(&key), Some(json!({
        "worker_id": "x.a.b", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC", "tenant_id": "org.other"}))).await;
    assert_eq!(status, 403);
    let (_, read_only) = s.create_key("org.acme", &["read"]).await;
    let (status, _) = call(
        &s,
        Method::POST,
        "/api/v1/decisions",
        Some(&read_only),
        Some(json!({
        "worker_id": "x.a.b", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC"})),
    )
    .await;
    assert_eq!(status, 403);
    s.stop().await;
}

#[tokio::test]
async fn the_seeds_env_names_and_any_label_case_are_decided_and_recorded_canonically() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (status, w) = call(
        &s,
        Method::POST,
        "/api/v1/workers",
        Some(&key),
        Some(
            json!({"name": "a", "namespace": "x.acme", "capabilities": ["cap.data.read.v1"],
            "policy_tier": 2, "allowed_environments": ["development", "staging"],
            "max_data_label": "internal"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["allowed_environments"], json!(["dev", "stage"]));
    assert_eq!(w["max_data_label"], "INTERNAL");

    // `PYHALL_ENV=staging` (the seed's spelling) and a lowercase label.
    let d = decide(
        &s,
        &key,
        json!({"worker_id": "x.acme.a", "capability": "cap.data.read.v1",
            "env": "staging", "data_label": "public"}),
    )
    .await;
    assert_eq!(d["denied"], false, "{d}");
    assert_eq!(
        (&d["env"], &d["data_label"]),
        (&json!("stage"), &json!("PUBLIC"))
    );
    assert_eq!(d["receipt"]["env"], "stage");
    assert_eq!(d["receipt"]["data_label"], "PUBLIC");

    let (status, d) = call(
        &s,
        Method::POST,
        "/api/route",
        Some(&key),
        Some(
            json!({"worker_id": "x.acme.a", "capability_id": "cap.data.read.v1",
            "env": "Production", "data_label": "Restricted"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["env"], "prod");
    assert_eq!(d["data_label"], "RESTRICTED");
    assert_eq!(d["deny_code"], "DENY_ENV_NOT_ALLOWED");

    // Tier floors take the same names and show the canonical ones.
    let (status, p) = call(
        &s,
        Method::PUT,
        "/api/v1/policy",
        Some(&key),
        Some(json!({"decisions": {"tier_floors": {"staging": 4}}})),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["decisions"]["tier_floors"], json!({"stage": 4}));
    let d = decide(
        &s,
        &key,
        json!({"worker_id": "x.acme.a", "capability": "cap.data.read.v1",
            "env": "stage", "data_label": "PUBLIC"}),
    )
    .await;
    assert_eq!(
        (d["tier"].as_u64(), d["deny_code"].as_str()),
        (Some(4), Some("DENY_NOT_ATTESTED"))
    );
    let (status, err) = call(
        &s,
        Method::PUT,
        "/api/v1/policy",
        Some(&key),
        Some(json!({"decisions": {"tier_floors": {"staging": 4, "stage": 3}}})),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(s.verify_receipts(&key).await, Ok(3));
    s.stop().await;
}

#[tokio::test]
async fn a_decision_with_the_operators_key_must_name_its_tenant() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "decisions:write", "read"])
        .await;
    let (status, _) = call(
        &s,
        Method::POST,
        "/api/v1/workers",
        Some(&key),
        Some(json!({"name": "a", "namespace": "x.acme", "capabilities": ["cap.data.read.v1"]})),
    )
    .await;
    assert_eq!(status, 201);
    let request = json!({"worker_id": "x.acme.a", "capability": "cap.data.read.v1",
        "env": "dev", "data_label": "PUBLIC"});
    for path in ["/api/v1/decisions", "/api/route"] {
        let (status, err) = call(
            &s,
            Method::POST,
            path,
            Some(&s.operator_key),
            Some(request.clone()),
        )
        .await;
        assert_eq!(status, 400, "{path}: {err}");
        assert_eq!(err["error"]["code"], "tenant_required", "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("tenant_id") && message.contains("API key of that tenant"),
            "{message}"
        );
    }
    // Nothing was decided: no receipt in anyone's chain.
    assert_eq!(s.verify_receipts(&key).await, Ok(0));

    // Naming the tenant decides for it, in its chain.
    let mut named = request.clone();
    named["tenant_id"] = json!("org.acme");
    let d = decide(&s, &s.operator_key, named).await;
    assert_eq!(
        (d["denied"].as_bool(), d["tenant_id"].as_str()),
        (Some(false), Some("org.acme"))
    );
    assert_eq!(s.verify_receipts(&key).await, Ok(1));
    s.stop().await;
}

#[tokio::test]
async fn signatories_floors_and_bans_shape_decisions() {
    let s = TestServer::start().await;
    let (_, a) = s
        .tenant_with_key("org.alpha", &["admin", "decisions:write"])
        .await;
    let (_, b) = s
        .tenant_with_key("org.beta", &["decisions:write", "read"])
        .await;
    call(
        &s,
        Method::POST,
        "/api/v1/workers",
        Some(&a),
        Some(json!({
        "name": "w", "namespace": "x.alpha", "capabilities": ["cap.a.b"], "policy_tier": 1})),
    )
    .await;
    let req = json!({"worker_id": "x.alpha.w", "capability": "cap.a.b", "env": "prod", "data_label": "PUBLIC"});

    let d = decide(&s, &b, req.clone()).await;
    assert_eq!(d["deny_code"], "DENY_UNKNOWN_TENANT");
    let (status, _) = call(
        &s,
        Method::PUT,
        "/api/v1/policy",
        Some(&a),
        Some(json!({"decisions": {"signatories": ["org.beta"], "tier_floors": {"prod": 3}}})),
    )
    .await;
    assert_eq!(status, 200);
    // B is a signatory now, but the prod floor (L3) wants an attestation.
    let d = decide(&s, &b, req.clone()).await;
    assert_eq!(
        (d["deny_code"].as_str(), d["tier"].as_u64()),
        (Some("DENY_NOT_ATTESTED"), Some(3))
    );
    let sha = "f".repeat(64);
    call(
        &s,
        Method::PUT,
        "/api/v1/workers/x.alpha.w/attest",
        Some(&a),
        Some(json!({"sha256": sha, "ai_generated": false})),
    )
    .await;
    assert_eq!(decide(&s, &b, req.clone()).await["denied"], false);
    // B's decisions are in B's chain, not A's.
    assert_eq!(s.verify_receipts(&b).await, Ok(3));
    assert_eq!(s.verify_receipts(&a).await, Ok(0));

    let (_, r) = call(
        &s,
        Method::POST,
        "/api/v1/ban-list/report",
        Some(&a),
        Some(json!({"sha256": sha, "reason": "bad"})),
    )
    .await;
    call(
        &s,
        Method::POST,
        &format!(
            "/api/v1/ban-list/reports/{}/confirm",
            r["id"].as_str().unwrap()
        ),
        Some(&s.operator_key),
        None,
    )
    .await;
    assert_eq!(
        decide(&s, &b, req.clone()).await["deny_code"],
        "DENY_HASH_BANNED"
    );

    let (_, policy) = call(&s, Method::GET, "/api/v1/policy", Some(&a), None).await;
    assert_eq!(policy["decisions"]["tier_floors"]["prod"], 3);
    let (status, _) = call(
        &s,
        Method::PUT,
        "/api/v1/policy",
        Some(&a),
        Some(json!({"decisions": {"tier_floors": {"prod": 9}}})),
    )
    .await;
    assert_eq!(status, 400);
    s.stop().await;
}

#[tokio::test]
async fn the_decision_log_filters_and_pages_newest_first() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "decisions:write", "read"])
        .await;
    let (_, w) = call(
        &s,
        Method::POST,
        "/api/v1/workers",
        Some(&key),
        Some(json!({
        "name": "a", "namespace": "x.acme", "capabilities": ["cap.a.b"]})),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let cap = if i % 2 == 0 { "cap.a.b" } else { "cap.x.y" };
        let d = decide(&s, &key, json!({"worker_id": "x.acme.a", "capability": cap, "env": "dev", "data_label": "PUBLIC"})).await;
        ids.push(d["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = format!(
        "/api/v1/decisions?worker_id={}&limit=2",
        w["id"].as_str().unwrap()
    );
    loop {
        let (status, page) = call(&s, Method::GET, &path, Some(&key), None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["decisions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/decisions?worker_id=x.acme.a&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let (_, denied) = call(
        &s,
        Method::GET,
        "/api/v1/decisions?denied=true",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(denied["decisions"].as_array().unwrap().len(), 2);
    let (_, by_cap) = call(
        &s,
        Method::GET,
        "/api/v1/decisions?capability_id=cap.a.b",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(by_cap["decisions"].as_array().unwrap().len(), 3);
    let (_, none) = call(
        &s,
        Method::GET,
        "/api/v1/decisions?since=2999-01-01T00:00:00Z",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(none["decisions"], json!([]));
    // Filters combine: allowed decisions of one capability, within a window.
    let (_, combined) = call(
        &s,
        Method::GET,
        "/api/v1/decisions?denied=false&capability_id=cap.a.b&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        combined["decisions"].as_array().unwrap().len(),
        3,
        "{combined}"
    );
    let (_, before_all) = call(
        &s,
        Method::GET,
        "/api/v1/decisions?until=2000-01-01T00:00:00Z",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(before_all["decisions"], json!([]));
    assert_eq!(
        call(
            &s,
            Method::GET,
            "/api/v1/decisions?since=yesterday",
            Some(&key),
            None
        )
        .await
        .0,
        400
    );
    // Another tenant sees none of it.
    let (_, other) = s.tenant_with_key("org.other", &["read"]).await;
    let (_, theirs) = call(&s, Method::GET, "/api/v1/decisions", Some(&other), None).await;
    assert_eq!(theirs["decisions"], json!([]));
    assert_eq!(
        call(
            &s,
            Method::GET,
            &format!("/api/v1/decisions/{}", ids[0]),
            Some(&other),
            None
        )
        .await
        .0,
        404
    );
    s.stop().await;
}
