//! Namespaces, signing keys, workers, verify and discovery over real HTTP.

use crate::support::{each, key_proof, message, public_key_b64, TestServer, Worker};
use reqwest::Method;
use serde_json::{json, Value};

const QUICK_START: &str = r#"{"name": "my-agent", "namespace": "x.myagent",
    "capabilities": ["cap.data.read.v1", "cap.report.generate.v1"], "policy_tier": 2}"#;

#[tokio::test]
async fn the_seed_quick_start_register_call_works_as_written() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "read"])
        .await;
    let body: Value = serde_json::from_str(QUICK_START).unwrap();
    let (status, w) = s.post("/api/v1/workers", &key, body).await;
    assert_eq!(status, 201, "{w}");
    assert!(w["id"].as_str().unwrap().starts_with("wrk_"));
    assert_eq!(w["worker_id"], "x.myagent.my-agent");
    assert_eq!(w["namespace"], "x.myagent");
    assert_eq!(w["policy_tier"], 2);
    assert_eq!(w["max_data_label"], "INTERNAL");
    assert_eq!(w["status"], "active");
    // The x.* namespace was claimed for the caller on the way.
    let (_, ns) = s.get_json("/api/v1/namespaces/x.myagent", Some(&key)).await;
    assert_eq!(ns["status"], "yours");
    // Either id form reads it.
    let id = w["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/workers/{id}"),
        "/api/v1/workers/x.myagent.my-agent".to_string(),
    ] {
        let (status, got) = s.get_json(&path, Some(&key)).await;
        assert_eq!(status, 200);
        assert_eq!(got["id"], id);
    }
    s.stop().await;
}

#[tokio::test]
async fn a_full_wcp_record_is_checked_against_its_artifact_hash() {
    let s = TestServer::start().await;
    let (_, admin) = s.tenant_with_key("org.example", &["admin"]).await;
    let (status, _) = s.claim_namespace(&admin, "org.example").await;
    assert_eq!(status, 201);
    let mut record = json!({
        "worker_id": "org.example.doc-summarizer",
        "worker_species_id": "wrk.doc.summarizer",
        "capabilities": ["cap.doc.summarize"],
        "risk_tier": "low",
        "required_controls": ["ctrl.obs.audit-log-append-only"],
        "currently_implements": ["ctrl.obs.audit-log-append-only"],
        "allowed_environments": ["dev", "prod"],
        "blast_radius": {"data": 1, "network": 0, "financial": 0, "time": 1, "reversibility": "reversible"},
        "owner": "org.example",
        "contact": "ops@example.org",
        "résumé": "non-ASCII keys are hashed as Python escapes them"
    });
    let hash = wcp::canonical::artifact_hash(record.as_object().unwrap());
    record["artifact_hash"] = json!(hash);

    let mut tampered = record.clone();
    tampered["risk_tier"] = json!("critical");
    let (status, err) = s.post("/api/v1/workers", &admin, tampered).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "DENY_WORKER_TAMPERED");
    assert_eq!(s.count("SELECT count(*) FROM workers").await, 0);

    let (status, w) = s.post("/api/v1/workers", &admin, record).await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["artifact_hash"], hash.as_str());
    assert_eq!(w["blast_score"], 2);
    assert_eq!(w["allowed_environments"], json!(["dev", "prod"]));
    assert_eq!(
        w["record"]["résumé"],
        "non-ASCII keys are hashed as Python escapes them"
    );
    s.stop().await;
}

#[tokio::test]
async fn malformed_registrations_name_the_field_and_leave_no_rows() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["workers:write"]).await;
    let cases = [
        (
            json!({"name": "a", "namespace": "cap.doc", "capabilities": ["cap.a.b"]}),
            "namespace",
        ),
        (
            json!({"name": "A_B", "namespace": "x.me", "capabilities": ["cap.a.b"]}),
            "name",
        ),
        (
            json!({"name": "a", "namespace": "x.me", "capabilities": ["Cap.A"]}),
            "capabilities[0]",
        ),
        (
            json!({"name": "a", "namespace": "x.me", "capabilities": ["cap.a.b"], "policy_tier": 9}),
            "policy_tier",
        ),
        (
            json!({"name": "a", "namespace": "x.me", "capabilities": ["cap.a.b"], "policy_tier": "high"}),
            "policy_tier",
        ),
        (
            json!({"name": "a", "namespace": "x.me", "capabilities": ["cap.a.b"], "allowed_environments": ["qa"]}),
            "allowed_environments",
        ),
        (
            json!({"worker_id": "wrk.doc.summarizer", "capabilities": ["cap.a.b"]}),
            "worker_id",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = s.post("/api/v1/workers", &key, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["code"], "invalid_field");
        assert!(message(&err).starts_with(&format!("{field} ")), "{err}");
    }
    // Not even the implicit namespace claim was written.
    assert_eq!(s.count("SELECT count(*) FROM workers").await, 0);
    assert_eq!(s.count("SELECT count(*) FROM namespaces").await, 0);

    let body: Value = serde_json::from_str(QUICK_START).unwrap();
    assert_eq!(s.post("/api/v1/workers", &key, body.clone()).await.0, 201);
    let (status, err) = s.post("/api/v1/workers", &key, body).await;
    assert_eq!(status, 409, "{err}");
    s.stop().await;
}

#[tokio::test]
async fn another_tenant_cannot_register_change_or_revoke_a_tenants_worker() {
    let s = TestServer::start().await;
    let (_, a) = s
        .tenant_with_key("org.alpha", &["workers:write", "read"])
        .await;
    let (_, b) = s
        .tenant_with_key("org.beta", &["workers:write", "read", "admin"])
        .await;
    let (_, w) = s
        .post(
            "/api/v1/workers",
            &a,
            serde_json::from_str(QUICK_START).unwrap(),
        )
        .await;
    let id = w["id"].as_str().unwrap().to_string();

    // B may not register under A's namespace: 403 saying whose rule forbids it.
    let (status, err) = s
        .post(
            "/api/v1/workers",
            &b,
            json!({"name": "other", "namespace": "x.myagent", "capabilities": ["cap.a.b"]}),
        )
        .await;
    assert_eq!(status, 403);
    assert!(message(&err).contains("belongs to another tenant"), "{err}");
    // Nor claim it.
    let (status, _) = s.claim_namespace(&b, "x.myagent").await;
    assert_eq!(status, 409);

    for path in [
        format!("/api/v1/workers/{id}"),
        "/api/v1/workers/x.myagent.my-agent".into(),
    ] {
        assert_eq!(s.get_json(&path, Some(&b)).await.0, 404, "{path}");
        let (status, _) = s
            .call(
                Method::PATCH,
                &path,
                Some(&b),
                Some(json!({"policy_tier": 0})),
            )
            .await;
        assert_eq!(status, 404, "PATCH {path}");
        assert_eq!(
            s.post(&format!("{path}/revoke"), &b, json!({})).await.0,
            404
        );
    }
    let (_, listing) = s.get_json("/api/v1/workers", Some(&b)).await;
    assert_eq!(listing["workers"], json!([]));
    // A's worker is unchanged.
    let (_, mine) = s.get_json(&format!("/api/v1/workers/{id}"), Some(&a)).await;
    assert_eq!(mine["status"], "active");
    assert_eq!(mine["policy_tier"], 2);
    s.stop().await;
}

#[tokio::test]
async fn workers_are_updated_listed_with_cursors_and_revoked_but_kept() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "read"])
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, w) = s.post("/api/v1/workers", &key, json!({"name": format!("w{i}"), "namespace": "x.acme", "capabilities": [if i % 2 == 0 { "cap.a.even" } else { "cap.a.odd" }]}))
        .await;
        assert_eq!(status, 201, "{w}");
        ids.push(w["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/workers?limit=2".to_string();
    loop {
        let (status, page) = s.get_json(&path, Some(&key)).await;
        assert_eq!(status, 200, "{page}");
        let batch = page["workers"].as_array().unwrap();
        assert!(batch.len() <= 2);
        seen.extend(batch.iter().map(|w| w["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/workers?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let (_, odd) = s
        .get_json("/api/v1/workers?capability=cap.a.odd", Some(&key))
        .await;
    assert_eq!(odd["workers"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.get_json("/api/v1/workers?limit=0", Some(&key)).await.0,
        400
    );
    assert_eq!(
        s.get_json("/api/v1/workers?status=gone", Some(&key))
            .await
            .0,
        400
    );
    assert_eq!(
        s.get_json("/api/v1/workers?cursor=abc", Some(&key)).await.0,
        400
    );

    let (status, patched) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/workers/{}", ids[0]),
            Some(&key),
            Some(
                json!({"policy_tier": 6, "max_data_label": "RESTRICTED", "visibility": "private"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["policy_tier"], 6);
    assert_eq!(patched["max_data_label"], "RESTRICTED");
    let (status, err) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/workers/{}", ids[0]),
            Some(&key),
            Some(json!({"worker_id": "x.acme.other"})),
        )
        .await;
    assert_eq!(status, 400, "{err}");

    let (status, revoked) = s
        .post("/api/v1/workers/x.acme.w1/revoke", &key, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = s
        .call(
            Method::PATCH,
            "/api/v1/workers/x.acme.w1",
            Some(&key),
            Some(json!({"policy_tier": 1})),
        )
        .await;
    assert_eq!(status, 409);
    let (_, active) = s
        .get_json("/api/v1/workers?status=active", Some(&key))
        .await;
    assert_eq!(active["workers"].as_array().unwrap().len(), 4);
    assert_eq!(s.count("SELECT count(*) FROM workers").await, 5);
    s.stop().await;
}

#[tokio::test]
async fn verify_answers_all_ten_keys_and_hides_unknown_and_private_workers_alike() {
    let s = TestServer::start().await;
    let (_, a) = s
        .tenant_with_key("org.alpha", &["workers:write", "read"])
        .await;
    let (_, b) = s.tenant_with_key("org.beta", &["read"]).await;
    s.post(
        "/api/v1/workers",
        &a,
        json!({"name": "pub", "namespace": "x.alpha", "capabilities": ["cap.a.b"]}),
    )
    .await;
    s.post("/api/v1/workers", &a, json!({"name": "priv", "namespace": "x.alpha", "capabilities": ["cap.a.b"], "visibility": "private"})).await;

    let (status, v) = s.get_json("/api/v1/verify/x.alpha.pub", None).await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "worker_id",
        "status",
        "current_hash",
        "banned",
        "ban_reason",
        "attested_at",
        "ai_generated",
        "ai_service",
        "ai_model",
        "ai_session_fingerprint",
    ] {
        assert!(keys.contains(&k), "{k} missing from {v}");
    }
    assert_eq!(v["status"], "active");
    assert_eq!(v["current_hash"], Value::Null);
    assert_eq!(v["banned"], false);

    let (unknown_status, unknown) = s.get_json("/api/v1/verify/x.alpha.nope", None).await;
    let (private_status, private) = s.get_json("/api/v1/verify/x.alpha.priv", Some(&b)).await;
    assert_eq!((unknown_status, private_status), (404, 404));
    assert_eq!(
        message(&unknown).replace("nope", "X"),
        message(&private).replace("priv", "X")
    );
    assert_eq!(s.get_json("/api/v1/verify/x.alpha.priv", None).await.0, 404);
    // The owner sees its private worker; a malformed id is just unknown.
    assert_eq!(
        s.get_json("/api/v1/verify/x.alpha.priv", Some(&a)).await.0,
        200
    );
    assert_eq!(
        s.get_json("/api/v1/verify/NOT%20AN%20ID", None).await.0,
        404
    );

    s.post("/api/v1/workers/x.alpha.pub/revoke", &a, json!({}))
        .await;
    let (_, v) = s.get_json("/api/v1/verify/x.alpha.pub", None).await;
    assert_eq!(v["status"], "revoked");
    s.stop().await;
}

/// What `GET /namespaces/{namespace}` tells `key` of it: `available`,
/// `yours`, `taken`, `pending`, `reserved` or `invalid`.
async fn namespace_status(s: &TestServer, key: &str, namespace: &str) -> String {
    let (_, v) = s
        .get_json(&format!("/api/v1/namespaces/{namespace}"), Some(key))
        .await;
    v["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn namespaces_are_checked_claimed_reserved_and_administered_by_the_operator() {
    let s = TestServer::start_with(|c| c.org_claims_need_approval = true, false).await;
    let op = s.operator_key.clone();
    let (_, admin) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, other) = s.tenant_with_key("org.other", &["admin"]).await;

    assert_eq!(namespace_status(&s, &admin, "x.alice").await, "available");
    assert_eq!(namespace_status(&s, &admin, "cap.doc").await, "invalid");
    assert_eq!(namespace_status(&s, &admin, "org.wcp").await, "reserved");

    let (status, c) = s.claim_namespace(&admin, "x.alice").await;
    assert_eq!((status, c["status"].as_str()), (201, Some("claimed")));
    assert_eq!(s.claim_namespace(&admin, "x.alice").await.0, 200);
    assert_eq!(namespace_status(&s, &admin, "x.alice").await, "yours");
    assert_eq!(namespace_status(&s, &other, "x.alice").await, "taken");
    assert_eq!(s.claim_namespace(&other, "x.alice").await.0, 409);
    for bad in ["cap.doc", "wrk.x", "x.Alice", "org.a.b", "org.wcp"] {
        let (status, err) = s.claim_namespace(&admin, bad).await;
        assert_eq!(status, 400, "{bad}: {err}");
    }

    // org.* claims wait for the operator here.
    let (status, c) = s.claim_namespace(&admin, "org.acme").await;
    assert_eq!((status, c["status"].as_str()), (201, Some("pending")));
    assert_eq!(namespace_status(&s, &admin, "org.acme").await, "pending");
    let (status, err) = s
        .post(
            "/api/v1/workers",
            &admin,
            json!({"name": "w", "namespace": "org.acme", "capabilities": ["cap.a.b"]}),
        )
        .await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(
        s.post("/api/v1/namespaces/org.acme/approve", &admin, json!({}))
            .await
            .0,
        403
    );
    assert_eq!(
        s.post("/api/v1/namespaces/org.acme/approve", &op, json!({}))
            .await
            .0,
        200
    );
    assert_eq!(namespace_status(&s, &admin, "org.acme").await, "yours");

    // Reservation, release and transfer are the operator's.
    let (status, _) = s
        .post(
            "/api/v1/namespaces/x.brand/reserve",
            &op,
            json!({"reason": "trademark"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, v) = s.get_json("/api/v1/namespaces/x.brand", Some(&admin)).await;
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("reserved"), Some("trademark"))
    );
    assert_eq!(s.claim_namespace(&admin, "x.brand").await.0, 400);
    assert_eq!(
        s.post(
            "/api/v1/namespaces/x.alice/reserve",
            &op,
            json!({"reason": "r"})
        )
        .await
        .0,
        409
    );
    let (status, t) = s
        .post(
            "/api/v1/namespaces/x.alice/transfer",
            &op,
            json!({"tenant_id": "org.other"}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(namespace_status(&s, &other, "x.alice").await, "yours");
    assert_eq!(
        s.call(
            Method::DELETE,
            "/api/v1/namespaces/x.alice",
            Some(&admin),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        s.call(
            Method::DELETE,
            "/api/v1/namespaces/x.alice",
            Some(&op),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(namespace_status(&s, &admin, "x.alice").await, "available");

    // A namespace with workers cannot be released or transferred.
    s.post(
        "/api/v1/workers",
        &admin,
        json!({"name": "w", "namespace": "x.busy", "capabilities": ["cap.a.b"]}),
    )
    .await;
    assert_eq!(
        s.call(Method::DELETE, "/api/v1/namespaces/x.busy", Some(&op), None)
            .await
            .0,
        409
    );
    assert_eq!(
        s.post(
            "/api/v1/namespaces/x.busy/transfer",
            &op,
            json!({"tenant_id": "org.other"})
        )
        .await
        .0,
        409
    );

    let (_, mine) = s.get_json("/api/v1/namespaces", Some(&admin)).await;
    let names: Vec<&str> = each(&mine["namespaces"], "namespace");
    assert_eq!(names, vec!["org.acme", "x.busy"]);
    s.stop().await;
}

#[tokio::test]
async fn namespace_signing_keys_are_added_listed_and_revoked_but_kept() {
    let s = TestServer::start().await;
    let (_, admin) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, other) = s.tenant_with_key("org.other", &["admin"]).await;
    s.claim_namespace(&admin, "x.acme").await;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let public = signing.verifying_key();
    let b64 = public_key_b64(&signing);
    let proof = key_proof(&signing, "org.acme", "x.acme");

    let (status, k) = s
        .post(
            "/api/v1/namespaces/x.acme/keys",
            &admin,
            json!({"public_key": b64, "label": "release", "proof": proof}),
        )
        .await;
    assert_eq!(status, 201, "{k}");
    let kid = k["kid"].as_str().unwrap().to_string();
    assert!(kid.starts_with("nsk_"));
    assert_eq!(k["public_key"], b64.as_str());
    let hex: String = public
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        s.post(
            "/api/v1/namespaces/x.acme/keys",
            &admin,
            json!({"public_key": hex, "label": "again", "proof": proof})
        )
        .await
        .0,
        409
    );
    let (status, err) = s
        .post(
            "/api/v1/namespaces/x.acme/keys",
            &admin,
            json!({"public_key": "AAAA", "label": "x", "proof": proof}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_public_key");
    // Only the holder of the namespace may add or see keys (with a proof
    // made for its own tenant, the other one is told the namespace is not
    // found).
    let (status, _) = s
        .post(
            "/api/v1/namespaces/x.acme/keys",
            &other,
            json!({"public_key": b64, "label": "x",
                   "proof": key_proof(&signing, "org.other", "x.acme")}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        s.get_json("/api/v1/namespaces/x.acme/keys", Some(&other))
            .await
            .0,
        404
    );
    assert_eq!(
        s.post(
            &format!("/api/v1/namespaces/x.acme/keys/{kid}/revoke"),
            &other,
            json!({})
        )
        .await
        .0,
        404
    );

    let (status, revoked) = s
        .post(
            &format!("/api/v1/namespaces/x.acme/keys/{kid}/revoke"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(revoked["revoked_at"].is_string());
    let (_, list) = s
        .get_json("/api/v1/namespaces/x.acme/keys", Some(&admin))
        .await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 1);
    assert!(list["keys"][0]["revoked_at"].is_string());
    s.stop().await;
}

#[tokio::test]
async fn a_namespace_key_needs_a_proof_of_possession_made_for_this_tenant_and_namespace() {
    let s = TestServer::start().await;
    let (_, victim) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, squatter) = s.tenant_with_key("org.squat", &["admin"]).await;
    s.claim_namespace(&victim, "x.acme").await;
    s.claim_namespace(&squatter, "x.squat").await;
    let acme_key = ed25519_dalek::SigningKey::from_bytes(&[21u8; 32]);
    let squat_key = ed25519_dalek::SigningKey::from_bytes(&[22u8; 32]);
    let b64 = public_key_b64(&acme_key);

    // The squatter has acme's public key, never its private half: no proof,
    // a proof by its own key, or acme's proof replayed are all refused.
    for proof in [
        None,
        Some(key_proof(&squat_key, "org.squat", "x.squat")),
        Some(key_proof(&acme_key, "org.acme", "x.acme")),
        Some("not a signature".to_string()),
    ] {
        let mut body = json!({"public_key": b64, "label": "squat"});
        if let Some(p) = &proof {
            body["proof"] = json!(p);
        }
        let (status, err) = s
            .post("/api/v1/namespaces/x.squat/keys", &squatter, body)
            .await;
        assert_eq!(status, 400, "{proof:?}: {err}");
        assert_eq!(err["error"]["code"], "invalid_proof", "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("hall-registry/namespace-key/v1"),
            "{err}"
        );
    }
    // So acme registers its own key on its own namespace.
    let (status, k) = s.try_add_namespace_key(&victim, "x.acme", &acme_key).await;
    assert_eq!(status, 201, "{k}");
    s.stop().await;
}

#[tokio::test]
async fn a_kid_registered_on_another_namespace_first_does_not_block_the_same_key_on_yours() {
    let s = TestServer::start().await;
    let (_, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, other) = s.tenant_with_key("org.other", &["admin"]).await;
    s.claim_namespace(&acme, "x.acme").await;
    s.claim_namespace(&other, "x.other").await;
    // One key pair both hold (e.g. a shared release key): the other tenant
    // registers it first, on its own namespace.
    let shared = ed25519_dalek::SigningKey::from_bytes(&[23u8; 32]);
    let theirs = s.add_namespace_key(&other, "x.other", &shared).await;
    let (status, mine) = s.try_add_namespace_key(&acme, "x.acme", &shared).await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(mine["kid"], theirs.as_str());
    assert_eq!(mine["namespace"], "x.acme");
    // Again on the same namespace: 409.
    let (status, _) = s.try_add_namespace_key(&acme, "x.acme", &shared).await;
    assert_eq!(status, 409);
    s.stop().await;
}

#[tokio::test]
async fn the_operator_force_releases_and_transfers_a_namespace_in_use_and_each_change_is_in_its_history(
) {
    let s = TestServer::start().await;
    let (_, squatter) = s.tenant_with_key("org.squat", &["admin"]).await;
    let (_, owner) = s.tenant_with_key("org.brand", &["admin"]).await;
    s.register(
        &squatter,
        &Worker::id("x.brand.fake").capabilities(&["cap.data.read.v1"]),
    )
    .await;
    let squat_key = ed25519_dalek::SigningKey::from_bytes(&[24u8; 32]);
    s.add_namespace_key(&squatter, "x.brand", &squat_key).await;

    // Tenants may not force anything, nor read the history.
    for (path, body) in [
        (
            "/api/v1/namespaces/x.brand/force-release",
            json!({"reason": "mine"}),
        ),
        (
            "/api/v1/namespaces/x.brand/force-transfer",
            json!({"tenant_id": "org.brand", "reason": "mine"}),
        ),
    ] {
        let (status, err) = s.post(path, &owner, body).await;
        assert_eq!(status, 403, "{path}: {err}");
    }
    assert_eq!(
        s.get_json("/api/v1/namespaces/x.brand/history", Some(&owner))
            .await
            .0,
        403
    );
    // Unforced, the namespace in use is refused; forced, a reason is required.
    let (status, err) = s
        .post(
            "/api/v1/namespaces/x.brand/transfer",
            &s.operator_key,
            json!({"tenant_id": "org.brand"}),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    for body in [json!({}), json!({"tenant_id": "org.brand", "reason": "  "})] {
        let (status, _) = s
            .post(
                "/api/v1/namespaces/x.brand/force-transfer",
                &s.operator_key,
                body,
            )
            .await;
        assert_eq!(status, 400);
    }

    let (status, moved) = s
        .post(
            "/api/v1/namespaces/x.brand/force-transfer",
            &s.operator_key,
            json!({"tenant_id": "org.brand", "reason": "trademark of Brand Inc"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["action"], "transfer");
    assert_eq!(moved["forced"], true);
    assert_eq!(moved["from_tenant"], "org.squat");
    assert_eq!(moved["to_tenant"], "org.brand");
    assert_eq!(moved["revoked_workers"], 1);
    assert_eq!(moved["revoked_keys"], 1);
    let (_, check) = s.get_json("/api/v1/namespaces/x.brand", Some(&owner)).await;
    assert_eq!(check["status"], "yours");
    let (_, verified) = s
        .get_json("/api/v1/verify/x.brand.fake", Some(&squatter))
        .await;
    assert_eq!(verified["status"], "revoked", "{verified}");

    let (status, released) = s
        .post(
            "/api/v1/namespaces/x.brand/force-release",
            &s.operator_key,
            json!({"reason": "dispute settled: free again"}),
        )
        .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["action"], "release");
    assert_eq!(released["from_tenant"], "org.brand");
    assert_eq!(released["revoked_workers"], 0);

    let (status, history) = s
        .get_json("/api/v1/namespaces/x.brand/history", Some(&s.operator_key))
        .await;
    assert_eq!(status, 200);
    let changes = history["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["reason"], "trademark of Brand Inc");
    assert_eq!(changes[1]["reason"], "dispute settled: free again");
    let (_, me) = s
        .get_json("/api/v1/auth/whoami", Some(&s.operator_key))
        .await;
    assert_eq!(changes[0]["actor_key_id"], me["key_id"]);
    assert_eq!(changes[0]["actor_tenant"], me["tenant_id"]);
    s.stop().await;
}

#[tokio::test]
async fn discovery_merges_the_imported_catalog_with_declared_capabilities() {
    let s = TestServer::start_with(|c| c.max_body_bytes = 1024 * 1024, false).await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "read"])
        .await;
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::support::workspace_root().join("../shared/reference/taxonomy-catalog.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        s.post("/api/v1/catalog/import", &key, catalog.clone())
            .await
            .0,
        403
    );
    let (status, imported) = s
        .post("/api/v1/catalog/import", &s.operator_key, catalog.clone())
        .await;
    assert_eq!(status, 200, "{imported}");
    assert_eq!(imported["inserted"], 245);
    let (_, again) = s
        .post("/api/v1/catalog/import", &s.operator_key, catalog)
        .await;
    assert_eq!(
        (again["inserted"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(245))
    );
    let (status, err) = s
        .post(
            "/api/v1/catalog/import",
            &s.operator_key,
            json!({"entities": [{"id": "wrk.x.y", "type": "capability"}]}),
        )
        .await;
    assert_eq!(status, 400, "{err}");

    s.post("/api/v1/workers", &key, json!({"name": "a", "namespace": "x.acme", "capabilities": ["cap.doc.ocr", "cap.custom.thing"]})).await;
    s.post("/api/v1/workers", &key, json!({"name": "b", "namespace": "x.acme", "capabilities": ["cap.custom.secret"], "visibility": "private"})).await;

    let (status, caps) = s.get_json("/wcp/capabilities", None).await;
    assert_eq!(status, 200);
    let caps = caps["capabilities"].as_array().unwrap();
    let find = |id: &str| caps.iter().find(|c| c["id"] == id).cloned();
    assert_eq!(caps.iter().filter(|c| c["in_catalog"] == true).count(), 127);
    let summarize = find("cap.doc.ocr").unwrap();
    assert_eq!(
        (
            summarize["in_catalog"].as_bool(),
            summarize["workers"].as_i64()
        ),
        (Some(true), Some(1))
    );
    let custom = find("cap.custom.thing").unwrap();
    assert_eq!(
        (custom["in_catalog"].as_bool(), custom["workers"].as_i64()),
        (Some(false), Some(1))
    );
    // A private worker's capabilities show to its tenant only.
    assert!(find("cap.custom.secret").is_none());
    let (_, own) = s.get_json("/wcp/capabilities", Some(&key)).await;
    assert!(own["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "cap.custom.secret"));

    let (status, workers) = s.get_json("/wcp/workers", Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(workers["workers"].as_array().unwrap().len(), 2);
    assert_eq!(s.get_json("/wcp/workers", None).await.0, 401);
    // The PyHall MCP server lists them at /api/workers, reading these fields.
    let (status, listed) = s.get_json("/api/workers", Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(listed, workers);
    for w in listed["workers"].as_array().unwrap() {
        for field in [
            "worker_id",
            "worker_species_id",
            "capabilities",
            "risk_tier",
        ] {
            assert!(w.get(field).is_some(), "{field} missing from {w}");
        }
    }
    assert_eq!(s.get_json("/api/workers", None).await.0, 401);

    let (status, health) = s.get_json("/wcp/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["wcp_version"], "0.2");
    let behaviours = health["behaviours"].as_array().unwrap();
    assert!(behaviours
        .iter()
        .any(|b| b["behaviour"] == "capability_discovery" && b["enforced"] == true));

    let (_, species) = s
        .get_json("/api/v1/catalog?type=worker_species", None)
        .await;
    assert_eq!(species["entities"].as_array().unwrap().len(), 48);
    assert_eq!(s.get_json("/api/v1/catalog?type=bogus", None).await.0, 400);
    s.stop().await;
}

/// PostgreSQL's `jsonb` has no NUL: a registration or update carrying one is
/// refused naming the field, instead of failing in the database with a 500.
#[tokio::test]
async fn a_nul_character_in_a_registration_or_update_is_a_400_naming_the_field() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "read"])
        .await;
    let body =
        json!({"name": "w", "namespace": "x.acme", "capabilities": ["cap.a.b"], "note": "a\u{0}b"});
    let (status, err) = s.post("/api/v1/workers", &key, body).await;
    assert_eq!(status, 400, "{err}");
    assert!(message(&err).starts_with("note "), "{err}");
    let body = json!({"name": "w", "namespace": "x.acme", "capabilities": ["cap.a.b"]});
    let (status, w) = s.post("/api/v1/workers", &key, body).await;
    assert_eq!(status, 201, "{w}");
    let path = format!("/api/v1/workers/{}", w["id"].as_str().unwrap());
    let patch = json!({"meta": {"tags": ["\u{0}"]}});
    let (status, err) = s.call(Method::PATCH, &path, Some(&key), Some(patch)).await;
    assert_eq!(status, 400, "{err}");
    assert!(message(&err).starts_with("meta.tags[0] "), "{err}");
    s.stop().await;
}
