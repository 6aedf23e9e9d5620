//! Decisions over HTTP: the chain, tiers, signatories, receipts that verify
//! with only the published keys, the decision log, and the seed's flows.

use crate::support::{code, decision, message, sha, TestServer, Worker};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn the_seed_quick_start_allows_with_a_proof_that_verifies_offline() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "decisions:write", "read"])
        .await;
    let quick_start = Worker::named("x.myagent", "my-agent")
        .capabilities(&["cap.data.read.v1", "cap.report.generate.v1"])
        .tier(2);
    let w = s.register(&key, &quick_start).await;
    let mut request = decision(
        w["id"].as_str().unwrap(),
        "cap.data.read.v1",
        "dev",
        "PUBLIC",
    );
    request["tenant_id"] = json!("org.acme");
    let d = s.decide(&key, request).await;
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
    let denied = s
        .decide(
            &key,
            decision("x.myagent.my-agent", "cap.data.write.v1", "dev", "PUBLIC"),
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
    let (_, one) = s
        .get_json(&format!("/api/v1/decisions/{id}"), Some(&key))
        .await;
    assert_eq!(one["proof"], d["proof"]);
    s.stop().await;
}

#[tokio::test]
async fn the_local_hall_route_call_works_with_a_session_token() {
    let s = TestServer::start().await;
    let (key, w) = s
        .tenant_with_worker(
            "org.acme",
            &["workers:write", "decisions:write"],
            &Worker::named("x.acme", "a").capabilities(&["cap.data.read.v1"]),
        )
        .await;
    let (_, token) = s.post_empty("/api/v1/auth/token", &key).await;
    let route = |body: Value| {
        s.call(
            Method::POST,
            "/api/route",
            token["token"].as_str(),
            Some(body),
        )
    };
    let (status, d) = route(json!({
        "capability_id": "cap.data.read.v1", "worker_id": w["id"], "env": "dev",
        "data_label": "PUBLIC", "tenant_id": "org.acme"}))
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["denied"], false);
    let (status, d) = route(json!({
        "capability_id": "cap.data.read.v1", "worker_id": "x.acme.missing", "env": "dev",
        "data_label": "PUBLIC"}))
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
        (decision("x.a.b", "nope", "dev", "PUBLIC"), "capability"),
        (decision("x.a.b", "cap.a.b", "qa", "PUBLIC"), "env"),
        (decision("x.a.b", "cap.a.b", "dev", "SECRET"), "data_label"),
        (decision("Bad", "cap.a.b", "dev", "PUBLIC"), "worker_id"),
        (
            json!({"worker_id": "x.a.b", "env": "dev", "data_label": "PUBLIC"}),
            "capability",
        ),
        (
            json!({"worker_id": "x.a.b", "capability": "cap.a.b", "env": "dev", "data_label": "PUBLIC", "request_hash": "xyz"}),
            "request_hash",
        ),
    ] {
        let (status, err) = s.try_decide(&key, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(message(&err).starts_with(field), "{err}");
    }
    let mut other_tenant = decision("x.a.b", "cap.a.b", "dev", "PUBLIC");
    other_tenant["tenant_id"] = json!("org.other");
    assert_eq!(s.try_decide(&key, other_tenant).await.0, 403);
    let (_, read_only) = s.create_key("org.acme", &["read"]).await;
    let (status, _) = s
        .try_decide(&read_only, decision("x.a.b", "cap.a.b", "dev", "PUBLIC"))
        .await;
    assert_eq!(status, 403);
    s.stop().await;
}

#[tokio::test]
async fn the_seeds_env_names_and_any_label_case_are_decided_and_recorded_canonically() {
    let s = TestServer::start().await;
    let (key, w) = s
        .tenant_with_worker(
            "org.acme",
            &["admin"],
            &Worker::named("x.acme", "a")
                .capabilities(&["cap.data.read.v1"])
                .tier(2)
                .environments(&["development", "staging"])
                .max_data_label("internal"),
        )
        .await;
    assert_eq!(w["allowed_environments"], json!(["dev", "stage"]));
    assert_eq!(w["max_data_label"], "INTERNAL");

    // `PYHALL_ENV=staging` (the seed's spelling) and a lowercase label.
    let d = s
        .decide(
            &key,
            decision("x.acme.a", "cap.data.read.v1", "staging", "public"),
        )
        .await;
    assert_eq!(d["denied"], false, "{d}");
    assert_eq!(
        (&d["env"], &d["data_label"]),
        (&json!("stage"), &json!("PUBLIC"))
    );
    assert_eq!(d["receipt"]["env"], "stage");
    assert_eq!(d["receipt"]["data_label"], "PUBLIC");

    let (status, d) = s
        .post(
            "/api/route",
            &key,
            json!({"worker_id": "x.acme.a", "capability_id": "cap.data.read.v1",
            "env": "Production", "data_label": "Restricted"}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["env"], "prod");
    assert_eq!(d["data_label"], "RESTRICTED");
    assert_eq!(d["deny_code"], "DENY_ENV_NOT_ALLOWED");

    // Tier floors take the same names and show the canonical ones.
    let p = s
        .set_policy(&key, json!({"decisions": {"tier_floors": {"staging": 4}}}))
        .await;
    assert_eq!(p["decisions"]["tier_floors"], json!({"stage": 4}));
    let d = s
        .decide(
            &key,
            decision("x.acme.a", "cap.data.read.v1", "stage", "PUBLIC"),
        )
        .await;
    assert_eq!(
        (d["tier"].as_u64(), d["deny_code"].as_str()),
        (Some(4), Some("DENY_NOT_ATTESTED"))
    );
    let (status, err) = s
        .try_set_policy(
            &key,
            json!({"decisions": {"tier_floors": {"staging": 4, "stage": 3}}}),
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
    s.register(
        &key,
        &Worker::named("x.acme", "a").capabilities(&["cap.data.read.v1"]),
    )
    .await;
    let request = decision("x.acme.a", "cap.data.read.v1", "dev", "PUBLIC");
    for path in ["/api/v1/decisions", "/api/route"] {
        let (status, err) = s.post(path, &s.operator_key, request.clone()).await;
        assert_eq!(status, 400, "{path}: {err}");
        assert_eq!(code(&err), "tenant_required", "{err}");
        let message = message(&err);
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
    let d = s.decide(&s.operator_key, named).await;
    assert_eq!(
        (d["denied"].as_bool(), d["tenant_id"].as_str()),
        (Some(false), Some("org.acme"))
    );
    assert_eq!(s.verify_receipts(&key).await, Ok(1));
    s.stop().await;
}

#[tokio::test]
async fn the_operator_naming_a_tenant_that_is_not_there_is_404_and_others_decide_meanwhile() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "decisions:write", "read"])
        .await;
    s.register(
        &key,
        &Worker::named("x.acme", "a").capabilities(&["cap.data.read.v1"]),
    )
    .await;
    let request = decision("x.acme.a", "cap.data.read.v1", "dev", "PUBLIC");
    let mut nowhere = request.clone();
    nowhere["tenant_id"] = json!("org.nobody");
    for path in ["/api/v1/decisions", "/api/route"] {
        let (status, err) = s.post(path, &s.operator_key, nowhere.clone()).await;
        assert_eq!(status, 404, "{path}: {err}");
        assert_eq!(code(&err), "not_found", "{err}");
        assert!(message(&err).contains("org.nobody"), "{err}");
    }
    // Acme's decisions are unaffected, before and after.
    let d = s.decide(&key, request).await;
    assert_eq!(d["denied"].as_bool(), Some(false), "{d}");
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
    s.register(
        &a,
        &Worker::named("x.alpha", "w")
            .capabilities(&["cap.a.b"])
            .tier(1),
    )
    .await;
    let req = decision("x.alpha.w", "cap.a.b", "prod", "PUBLIC");

    let d = s.decide(&b, req.clone()).await;
    assert_eq!(d["deny_code"], "DENY_UNKNOWN_TENANT");
    s.set_policy(
        &a,
        json!({"decisions": {"signatories": ["org.beta"], "tier_floors": {"prod": 3}}}),
    )
    .await;
    // B is a signatory now, but the prod floor (L3) wants an attestation.
    let d = s.decide(&b, req.clone()).await;
    assert_eq!(
        (d["deny_code"].as_str(), d["tier"].as_u64()),
        (Some("DENY_NOT_ATTESTED"), Some(3))
    );
    let sha = sha('f');
    s.attest_hash(&a, "x.alpha.w", &sha).await;
    assert_eq!(s.decide(&b, req.clone()).await["denied"], false);
    // B's decisions are in B's chain, not A's.
    assert_eq!(s.verify_receipts(&b).await, Ok(3));
    assert_eq!(s.verify_receipts(&a).await, Ok(0));

    s.ban(&a, &sha, "bad").await;
    assert_eq!(
        s.decide(&b, req.clone()).await["deny_code"],
        "DENY_HASH_BANNED"
    );

    let (_, policy) = s.get_json("/api/v1/policy", Some(&a)).await;
    assert_eq!(policy["decisions"]["tier_floors"]["prod"], 3);
    let (status, _) = s
        .try_set_policy(&a, json!({"decisions": {"tier_floors": {"prod": 9}}}))
        .await;
    assert_eq!(status, 400);
    s.stop().await;
}

#[tokio::test]
async fn the_decision_log_filters_and_pages_newest_first() {
    let s = TestServer::start().await;
    let (key, w) = s
        .tenant_with_worker(
            "org.acme",
            &["workers:write", "decisions:write", "read"],
            &Worker::named("x.acme", "a").capabilities(&["cap.a.b"]),
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let cap = if i % 2 == 0 { "cap.a.b" } else { "cap.x.y" };
        let d = s
            .decide(&key, decision("x.acme.a", cap, "dev", "PUBLIC"))
            .await;
        ids.push(d["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = format!(
        "/api/v1/decisions?worker_id={}&limit=2",
        w["id"].as_str().unwrap()
    );
    loop {
        let (status, page) = s.get_json(&path, Some(&key)).await;
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
    for (filter, expected) in [
        ("denied=true", 2),
        ("capability_id=cap.a.b", 3),
        ("since=2999-01-01T00:00:00Z", 0),
        // Filters combine: allowed decisions of one capability, within a window.
        (
            "denied=false&capability_id=cap.a.b&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
            3,
        ),
        ("until=2000-01-01T00:00:00Z", 0),
    ] {
        let (status, page) = s
            .get_json(&format!("/api/v1/decisions?{filter}"), Some(&key))
            .await;
        assert_eq!(status, 200, "{filter}: {page}");
        assert_eq!(
            page["decisions"].as_array().unwrap().len(),
            expected,
            "{filter}: {page}"
        );
    }
    assert_eq!(
        s.get_json("/api/v1/decisions?since=yesterday", Some(&key))
            .await
            .0,
        400
    );
    // Another tenant sees none of it.
    let (_, other) = s.tenant_with_key("org.other", &["read"]).await;
    let (_, theirs) = s.get_json("/api/v1/decisions", Some(&other)).await;
    assert_eq!(theirs["decisions"], json!([]));
    assert_eq!(
        s.get_json(&format!("/api/v1/decisions/{}", ids[0]), Some(&other))
            .await
            .0,
        404
    );
    s.stop().await;
}

#[tokio::test]
async fn requests_that_change_nothing_leave_the_fact_copies_alone() {
    let s = TestServer::start().await;
    let worker = Worker::named("x.acme", "w").capabilities(&["cap.data.read.v1"]);
    let (key, _) = s
        .tenant_with_worker("org.acme", &["workers:write", "decisions:write"], &worker)
        .await;
    let ask = || decision("x.acme.w", "cap.data.read.v1", "dev", "PUBLIC");
    const INVALIDATIONS: &str = "hall_facts_cache_invalidations_total";
    const MISSES: &str = "hall_facts_cache_lookups_total{result=\"miss\"}";
    // Warm the copies until a decision reads nothing (announcements of the
    // setup's own writes may still be arriving).
    for _ in 0..50 {
        let before = s.counter(MISSES).await;
        s.decide(&key, ask()).await;
        if s.counter(MISSES).await == before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (invalidations, misses) = (s.counter(INVALIDATIONS).await, s.counter(MISSES).await);

    // Writes to nowhere, and writes refused before they change anything.
    for i in 0..50 {
        for (method, path) in [
            (Method::POST, format!("/nope/{i}")),
            (Method::DELETE, format!("/api/v1/ban-list/{i}")),
            (Method::POST, "/api/v1/workers".to_string()),
            (Method::PATCH, format!("/api/v1/workers/x.acme.w{i}")),
        ] {
            let (status, _) = s.call(method, &path, None, Some(json!({}))).await;
            assert!((400..500).contains(&status), "{path}: {status}");
        }
    }

    assert_eq!(s.counter(INVALIDATIONS).await, invalidations);
    s.decide(&key, ask()).await;
    assert_eq!(
        s.counter(MISSES).await,
        misses,
        "the next decision is answered from the copies"
    );
}

#[tokio::test]
async fn a_policy_out_of_range_is_refused_whole() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, before) = s.get_json("/api/v1/policy", Some(&key)).await;

    // More days than PostgreSQL's `integer` holds: once a 500, after the
    // attestation part was written.
    for days in [3_000_000_000_u64, 36_501] {
        let (status, err) = s
            .try_set_policy(
                &key,
                json!({
                    "attestation": {"require_signature": true, "require_approval": true},
                    "decisions": {"attestation_max_age_days": days},
                }),
            )
            .await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(code(&err), "invalid_field");
        assert!(
            message(&err).starts_with("decisions.attestation_max_age_days"),
            "{err}"
        );
    }
    let (_, after) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(after, before);

    let p = s
        .set_policy(
            &key,
            json!({"decisions": {"attestation_max_age_days": 36_500}}),
        )
        .await;
    assert_eq!(p["decisions"]["attestation_max_age_days"], 36_500);
    s.stop().await;
}

#[tokio::test]
async fn the_approval_ttl_is_set_read_and_refused_out_of_range() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, p) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(p["decisions"]["approval_ttl_seconds"], 3600, "{p}");

    let p = s
        .set_policy(&key, json!({"decisions": {"approval_ttl_seconds": 60}}))
        .await;
    assert_eq!(p["decisions"]["approval_ttl_seconds"], 60, "{p}");
    let (_, p) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(p["decisions"]["approval_ttl_seconds"], 60, "{p}");

    for out in [
        json!(0),
        json!(59),
        json!(604_801),
        json!(5_000_000_000_u64),
    ] {
        let (status, err) = s
            .try_set_policy(&key, json!({"decisions": {"approval_ttl_seconds": out}}))
            .await;
        assert_eq!(status, 400, "{out}: {err}");
        assert_eq!(code(&err), "invalid_field", "{err}");
        assert!(
            message(&err).starts_with("decisions.approval_ttl_seconds must be from 60 to 604800"),
            "{err}"
        );
    }
    for not_a_count in [json!(-1), json!("3600"), json!(90.5)] {
        let (status, err) = s
            .try_set_policy(
                &key,
                json!({"decisions": {"approval_ttl_seconds": not_a_count}}),
            )
            .await;
        assert_eq!(status, 400, "{not_a_count}: {err}");
    }
    let (_, p) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(
        p["decisions"]["approval_ttl_seconds"], 60,
        "refused: kept {p}"
    );

    let p = s
        .set_policy(
            &key,
            json!({"decisions": {"approval_ttl_seconds": 604_800}}),
        )
        .await;
    assert_eq!(p["decisions"]["approval_ttl_seconds"], 604_800, "{p}");
    // A policy that leaves it out goes back to the hour.
    let p = s
        .set_policy(&key, json!({"decisions": {"tier_floors": {}}}))
        .await;
    assert_eq!(p["decisions"]["approval_ttl_seconds"], 3600, "{p}");
    s.stop().await;
}
