//! Attestations, signed capability cards and the ban list over real HTTP.

use crate::support::{card, each, TestServer, Worker};
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Value};

const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

const WORKER: &str = "x.acme.sum";

/// A tenant with a worker `x.acme.sum` and a registered signing key.
struct Setup {
    key: String,
    signing: SigningKey,
    kid: String,
}

async fn setup(s: &TestServer) -> Setup {
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.register(
        &key,
        &Worker::id(WORKER)
            .species("wrk.doc.summarizer")
            .capabilities(&["cap.doc.summarize", "cap.doc.classify"]),
    )
    .await;
    let signing = SigningKey::from_bytes(&[42u8; 32]);
    let kid = s.add_namespace_key(&key, "x.acme", &signing).await;
    Setup { key, signing, kid }
}

/// The worker's capability card for `sha`, naming the signing key `kid`.
fn sum_card(kid: &str, sha: &str) -> Value {
    card(
        WORKER,
        "wrk.doc.summarizer",
        &["cap.doc.classify", "cap.doc.summarize"],
        sha,
        kid,
    )
}

#[tokio::test]
async fn put_attest_follows_the_contract_and_sets_verify_current_hash() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    assert_eq!(s.attestation_of(&st.key, WORKER).await["status"], "none");
    assert_eq!(s.verify(WORKER).await["current_hash"], Value::Null);

    let (status, a) = s
        .call(
            Method::PUT,
            "/api/v1/workers/x.acme.sum/attest",
            Some(&st.key),
            Some(json!({
        "sha256": HASH_A, "ai_generated": true, "label": "v1", "ai_service": "claude",
        "ai_model": "claude-x", "ai_session_id": "session-123"})),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    assert!(a["id"].as_str().unwrap().starts_with("att_"));
    assert_eq!(a["worker_id"], "x.acme.sum");
    assert_eq!(a["sha256"], HASH_A);
    assert_eq!(a["status"], "attested");

    let v = s.verify(WORKER).await;
    assert_eq!(v["current_hash"], HASH_A);
    assert!(v["attested_at"].is_string());
    assert_eq!(v["ai_generated"], true);
    assert_eq!(v["ai_model"], "claude-x");
    let fp = v["ai_session_fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert!(
        !v.to_string().contains("session-123"),
        "the raw session id leaked"
    );

    let st2 = s.attestation_of(&st.key, WORKER).await;
    assert_eq!(
        (st2["status"].as_str(), st2["artifact_hash"].as_str()),
        (Some("attested"), Some(HASH_A))
    );

    for bad in [
        &HASH_A.to_uppercase(),
        "abc",
        &format!("{HASH_A}0"),
        &"g".repeat(64),
    ] {
        let (status, err) = s.try_attest_hash(&st.key, WORKER, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(err["error"]["code"], "invalid_sha256");
    }
    let (status, _) = s.try_attest_hash(&st.key, "x.acme.nope", HASH_A).await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn a_signed_card_from_the_workers_namespace_is_attested() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let (status, a) = s
        .submit_card(&st.key, WORKER, &sum_card(&st.kid, HASH_A), &st.signing)
        .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["status"], "attested", "{a}");
    assert_eq!(a["signed_by"], st.kid.as_str());
    let now = s.attestation_of(&st.key, WORKER).await;
    assert_eq!(now["status"], "attested");
    assert_eq!(now["signed_by"], st.kid.as_str());
    assert_eq!(s.verify(WORKER).await["current_hash"], HASH_A);
    s.stop().await;
}

#[tokio::test]
async fn bad_signatures_unknown_or_foreign_keys_and_mismatched_cards_are_denied() {
    let s = TestServer::start().await;
    let st = setup(&s).await;

    // Signed by a different private key than the one registered under the kid.
    let (_, a) = s
        .submit_card(
            &st.key,
            WORKER,
            &sum_card(&st.kid, HASH_A),
            &SigningKey::from_bytes(&[7u8; 32]),
        )
        .await;
    assert_eq!(a["status"], "denied");
    assert!(a["reason"].as_str().unwrap().contains("signature"));

    let (_, a) = s
        .submit_card(
            &st.key,
            WORKER,
            &sum_card("nsk_00000000deadbeef", HASH_A),
            &st.signing,
        )
        .await;
    assert_eq!(a["status"], "denied");
    assert!(a["reason"]
        .as_str()
        .unwrap()
        .contains("unknown signing key"));

    // Another tenant's key on another namespace: trust comes from worker_id
    // only, and a kid is looked up among the worker namespace's keys.
    let (_, other) = s.tenant_with_key("org.other", &["admin"]).await;
    s.claim_namespace(&other, "x.other").await;
    let foreign = SigningKey::from_bytes(&[8u8; 32]);
    let foreign_kid = s.add_namespace_key(&other, "x.other", &foreign).await;
    let (_, a) = s
        .submit_card(&st.key, WORKER, &sum_card(&foreign_kid, HASH_A), &foreign)
        .await;
    assert_eq!(a["status"], "denied");
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("unknown signing key {foreign_kid}")),
        "{a}"
    );

    let mut wrong_caps = sum_card(&st.kid, HASH_A);
    wrong_caps["capabilities"] = json!(["cap.doc.summarize"]);
    let (_, a) = s
        .submit_card(&st.key, WORKER, &wrong_caps, &st.signing)
        .await;
    assert!(a["reason"].as_str().unwrap().contains("capabilities"));

    // Malformed cards and signatures are refused and recorded nowhere.
    let mut extra = sum_card(&st.kid, HASH_A);
    extra["admin"] = json!(true);
    assert_eq!(
        s.submit_card(&st.key, WORKER, &extra, &st.signing).await.0,
        400
    );
    let (status, _) = s
        .post(
            "/api/v1/workers/x.acme.sum/attestations",
            &st.key,
            json!({"card": sum_card(&st.kid, HASH_A), "signature": "not-a-signature"}),
        )
        .await;
    assert_eq!(status, 400);
    let mut other_worker = sum_card(&st.kid, HASH_A);
    other_worker["worker_id"] = json!("x.acme.other");
    assert_eq!(
        s.submit_card(&st.key, WORKER, &other_worker, &st.signing)
            .await
            .0,
        400
    );

    let mut conn = s.db.connect().await;
    let (total, denied): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'denied') FROM attestations",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((total, denied), (4, 4));
    assert_eq!(s.attestation_of(&st.key, WORKER).await["status"], "denied");
    assert_eq!(s.verify(WORKER).await["current_hash"], Value::Null);
    s.stop().await;
}

#[tokio::test]
async fn revoking_a_key_denies_cards_received_after_the_revocation_only() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let (_, before) = s
        .submit_card(&st.key, WORKER, &sum_card(&st.kid, HASH_A), &st.signing)
        .await;
    assert_eq!(before["status"], "attested");

    let (status, _) = s
        .post_empty(
            &format!("/api/v1/namespaces/x.acme/keys/{}/revoke", st.kid),
            &st.key,
        )
        .await;
    assert_eq!(status, 200);
    let (_, after) = s
        .submit_card(&st.key, WORKER, &sum_card(&st.kid, HASH_B), &st.signing)
        .await;
    assert_eq!(after["status"], "denied");
    assert!(after["reason"].as_str().unwrap().contains("revoked"));

    // The latest attestation is denied; verify keeps the hash signed before the revocation.
    assert_eq!(s.attestation_of(&st.key, WORKER).await["status"], "denied");
    assert_eq!(s.verify(WORKER).await["current_hash"], HASH_A);
    s.stop().await;
}

#[tokio::test]
async fn the_tenants_policy_keeps_attestations_pending_until_satisfied() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let (status, p) = s
        .try_set_policy(
            &st.key,
            json!({"attestation": {"require_signature": true, "require_approval": false}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let (_, a) = s.try_attest_hash(&st.key, WORKER, HASH_A).await;
    assert_eq!(a["status"], "pending");
    assert!(a["reason"].as_str().unwrap().contains("signed"));
    assert_eq!(s.verify(WORKER).await["current_hash"], Value::Null);
    // The operator cannot approve away a missing signature.
    let (status, still) = s
        .post_empty(
            &format!("/api/v1/attestations/{}/approve", a["id"].as_str().unwrap()),
            &s.operator_key,
        )
        .await;
    assert_eq!((status, still["status"].as_str()), (200, Some("pending")));
    let (_, signed) = s
        .submit_card(&st.key, WORKER, &sum_card(&st.kid, HASH_A), &st.signing)
        .await;
    assert_eq!(signed["status"], "attested");

    s.try_set_policy(
        &st.key,
        json!({"attestation": {"require_signature": false, "require_approval": true}}),
    )
    .await;
    let (_, b) = s
        .submit_card(&st.key, WORKER, &sum_card(&st.kid, HASH_B), &st.signing)
        .await;
    assert_eq!(b["status"], "pending");
    assert_eq!(s.attestation_of(&st.key, WORKER).await["status"], "pending");
    let approve = format!("/api/v1/attestations/{}/approve", b["id"].as_str().unwrap());
    assert_eq!(s.post_empty(&approve, &st.key).await.0, 403);
    let (status, approved) = s.post_empty(&approve, &s.operator_key).await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("attested"))
    );
    assert_eq!(s.verify(WORKER).await["current_hash"], HASH_B);
    assert_eq!(s.post_empty(&approve, &s.operator_key).await.0, 409);
    let (_, p) = s.get_json("/api/v1/policy", Some(&st.key)).await;
    assert_eq!(p["attestation"]["require_approval"], true);
    s.stop().await;
}

#[tokio::test]
async fn a_confirmed_ban_shows_in_the_list_and_verify_and_denies_attestations_until_lifted() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let op = s.operator_key.clone();
    s.attest_hash(&st.key, WORKER, HASH_A).await;

    let (status, report) = s
        .post(
            "/api/v1/ban-list/report",
            &st.key,
            json!({
        "sha256": HASH_A.to_uppercase(), "reason": "exfiltrates secrets",
        "evidence_url": "https://example.org/analysis"}),
        )
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(
        (report["status"].as_str(), report["sha256"].as_str()),
        (Some("pending"), Some(HASH_A))
    );
    let (_, list) = s.get_json("/api/v1/ban-list", None).await;
    assert_eq!(list, json!([]), "an unconfirmed report is not listed");
    assert_eq!(s.verify(WORKER).await["status"], "active");
    for bad in [
        json!({"sha256": "xyz", "reason": "r"}),
        json!({"sha256": HASH_A, "reason": ""}),
        json!({"sha256": HASH_A, "reason": "r", "evidence_url": "javascript:alert(1)"}),
    ] {
        assert_eq!(s.post("/api/v1/ban-list/report", &st.key, bad).await.0, 400);
    }
    assert_eq!(
        s.call(
            Method::POST,
            "/api/v1/ban-list/report",
            None,
            Some(json!({"sha256": HASH_A, "reason": "r"}))
        )
        .await
        .0,
        401
    );

    let (_, pending) = s
        .get_json("/api/v1/ban-list/reports?status=pending", Some(&op))
        .await;
    assert_eq!(pending["reports"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.get_json("/api/v1/ban-list/reports", Some(&st.key))
            .await
            .0,
        403
    );
    let id = report["id"].as_str().unwrap();
    assert_eq!(
        s.post_empty(&format!("/api/v1/ban-list/reports/{id}/confirm"), &st.key)
            .await
            .0,
        403
    );
    let (status, confirmed) = s
        .post(
            &format!("/api/v1/ban-list/reports/{id}/confirm"),
            &op,
            json!({"note": "verified by the security team"}),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(
        s.post_empty(&format!("/api/v1/ban-list/reports/{id}/confirm"), &op)
            .await
            .0,
        409
    );

    let (_, list) = s.get_json("/api/v1/ban-list?limit=10", None).await;
    let entries = list.as_array().expect("a bare JSON array");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e["sha256"].as_str(), e["reason"].as_str()),
        (Some(HASH_A), Some("exfiltrates secrets"))
    );
    assert_eq!(
        (e["source"].as_str(), e["review_status"].as_str()),
        (Some("community"), Some("approved"))
    );
    assert!(e["reported_at"].is_string());

    let v = s.verify(WORKER).await;
    assert_eq!(
        (v["status"].as_str(), v["banned"].as_bool()),
        (Some("banned"), Some(true))
    );
    assert_eq!(v["ban_reason"], "exfiltrates secrets");
    let (_, a) = s.try_attest_hash(&st.key, WORKER, HASH_A).await;
    assert_eq!(a["status"], "denied");
    assert!(a["reason"].as_str().unwrap().contains("ban list"));

    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/v1/ban-list/{HASH_A}"),
            Some(&st.key),
            None
        )
        .await
        .0,
        403
    );
    let (status, lifted) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/ban-list/{HASH_A}"),
            Some(&op),
            Some(json!({"note": "false positive"})),
        )
        .await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["lift_reason"], "false positive");
    assert_eq!(
        s.call(
            Method::DELETE,
            &format!("/api/v1/ban-list/{HASH_A}"),
            Some(&op),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(s.get_json("/api/v1/ban-list", None).await.1, json!([]));
    assert_eq!(s.verify(WORKER).await["status"], "active");
    let (_, history) = s
        .get_json(&format!("/api/v1/ban-list/{HASH_A}"), None)
        .await;
    assert_eq!(
        (
            history["banned"].as_bool(),
            history["history"].as_array().unwrap().len()
        ),
        (Some(false), 1)
    );

    // Rejected reports never reach the list; limits are checked.
    let (_, r2) = s
        .post(
            "/api/v1/ban-list/report",
            &st.key,
            json!({"sha256": HASH_B, "reason": "spam"}),
        )
        .await;
    let (status, rejected) = s
        .post_empty(
            &format!(
                "/api/v1/ban-list/reports/{}/reject",
                r2["id"].as_str().unwrap()
            ),
            &op,
        )
        .await;
    assert_eq!(
        (status, rejected["status"].as_str()),
        (200, Some("rejected"))
    );
    assert_eq!(s.get_json("/api/v1/ban-list", None).await.1, json!([]));
    assert_eq!(s.get_json("/api/v1/ban-list?limit=0", None).await.0, 400);
    s.stop().await;
}

#[tokio::test]
async fn the_ban_list_is_newest_first() {
    let s = TestServer::start_with_redis().await;
    let (_, key) = s.tenant_with_key("org.acme", &["read"]).await;
    for sha in [HASH_A, HASH_B] {
        let (_, r) = s
            .post(
                "/api/v1/ban-list/report",
                &key,
                json!({"sha256": sha, "reason": sha[..4].to_string()}),
            )
            .await;
        let (status, _) = s
            .post_empty(
                &format!(
                    "/api/v1/ban-list/reports/{}/confirm",
                    r["id"].as_str().unwrap()
                ),
                &s.operator_key,
            )
            .await;
        assert_eq!(status, 200);
    }
    let (_, list) = s.get_json("/api/v1/ban-list", None).await;
    let order: Vec<&str> = each(&list, "sha256");
    assert_eq!(order, vec![HASH_B, HASH_A]);
    let (_, one) = s.get_json("/api/v1/ban-list?limit=1", None).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    // With Redis, the confirmed set is kept there too.
    let keys = s.redis.as_ref().unwrap().keys();
    assert!(keys.iter().any(|k| k.ends_with("bans")), "{keys:?}");
    s.stop().await;
}

#[tokio::test]
async fn ban_reports_have_a_daily_quota_per_tenant_and_the_review_list_pages_and_filters() {
    let s = TestServer::start_with(|c| c.ban_reports_per_day = 2, false).await;
    let (_, key) = s.tenant_with_key("org.acme", &["read"]).await;
    let op = s.operator_key.clone();
    let file = |who: &str, hash: &str| {
        let body = json!({"sha256": hash, "reason": "exfiltrates secrets"});
        let who = who.to_string();
        let s = &s;
        async move { s.post("/api/v1/ban-list/report", &who, body).await }
    };
    assert_eq!(file(&key, HASH_A).await.0, 201);
    assert_eq!(file(&key, HASH_B).await.0, 201);
    let (status, err) = file(&key, &"c".repeat(64)).await;
    assert_eq!(status, 429, "{err}");
    assert_eq!(err["error"]["code"], "quota_exceeded");
    // The operator's own reports are not counted.
    for _ in 0..3 {
        assert_eq!(file(&op, HASH_A).await.0, 201);
    }

    // Pages of two, oldest first, through next_cursor.
    let mut seen = Vec::new();
    let mut path = "/api/v1/ban-list/reports?limit=2".to_string();
    loop {
        let (status, page) = s.get_json(&path, Some(&op)).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            each(&page["reports"], "sha256")
                .into_iter()
                .map(String::from),
        );
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/api/v1/ban-list/reports?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, [HASH_A, HASH_B, HASH_A, HASH_A, HASH_A]);

    let (_, acme) = s
        .get_json(
            "/api/v1/ban-list/reports?reporter_tenant=org.acme",
            Some(&op),
        )
        .await;
    assert_eq!(each(&acme["reports"], "sha256"), [HASH_A, HASH_B]);
    let (_, by_hash) = s
        .get_json(
            &format!("/api/v1/ban-list/reports?sha256={HASH_B}&status=pending"),
            Some(&op),
        )
        .await;
    assert_eq!(each(&by_hash["reports"], "reporter_tenant"), ["org.acme"]);
    for bad in [
        "cursor=nope",
        "sha256=xyz",
        "reporter_tenant=Not%20A%20Tenant",
    ] {
        let (status, err) = s
            .get_json(&format!("/api/v1/ban-list/reports?{bad}"), Some(&op))
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}: {err}"
        );
    }
    s.stop().await;
}

/// Sends `body` as the TypeScript SDK does: `PUT` with a bearer credential
/// and `Content-Type: application/json`, and no `Accept` header (which
/// reqwest would add). Returns the status and the parsed answer.
async fn put_without_accept(s: &TestServer, path: &str, key: &str, body: &Value) -> (u16, Value) {
    use std::io::{Read, Write};
    let url = s.url(path);
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let body = body.to_string();
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&authority).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    })
    .await
    .unwrap();
    let (head, answer) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(answer).unwrap_or(Value::Null))
}

/// What the Go and TypeScript SDKs read from the answer.
fn assert_sdk_answer(a: &Value, sha: &str) {
    assert_eq!(a["worker_id"], WORKER, "{a}");
    assert_eq!(a["namespace"], "x.acme", "{a}");
    assert_eq!(a["package_hash"], sha, "{a}");
    assert_eq!(a["status"], "attested", "{a}");
    assert!(a["attested_at"].is_string(), "{a}");
}

#[tokio::test]
async fn the_go_sdk_attestation_body_is_attested_and_its_fields_are_recorded() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let (status, a) = s
        .call(
            Method::PUT,
            "/api/v1/workers/x.acme.sum/attest",
            Some(&st.key),
            Some(json!({
                "worker_id": WORKER,
                "worker_species_id": "wrk.doc.summarizer",
                "package_hash": HASH_A,
                "worker_version": "1.2.0",
                "manifest_path": "workers/sum/manifest.json",
                "ai_generated": true,
                "ai_service": "claude",
                "ai_model": "claude-x",
                "ai_session_fingerprint": "session-go",
            })),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {a}");
    assert_sdk_answer(&a, HASH_A);
    assert_eq!(a["sha256"], HASH_A);
    assert_eq!(a["worker_species_id"], "wrk.doc.summarizer");
    assert_eq!(a["worker_version"], "1.2.0");
    assert_eq!(a["manifest_path"], "workers/sum/manifest.json");
    assert_eq!(a["ai_model"], "claude-x");

    let v = s.verify(WORKER).await;
    assert_eq!(v["current_hash"], HASH_A);
    assert_eq!(v["ai_session_fingerprint"].as_str().map(str::len), Some(16));
    assert_eq!(
        s.count(
            "SELECT count(*) FROM attestations WHERE worker_species_id = 'wrk.doc.summarizer' \
             AND worker_version = '1.2.0' AND manifest_path = 'workers/sum/manifest.json' \
             AND ai_session_id = 'session-go'"
        )
        .await,
        1
    );
    s.stop().await;
}

#[tokio::test]
async fn the_typescript_sdk_attestation_body_without_worker_id_or_accept_is_attested() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let (status, a) = put_without_accept(
        &s,
        "/api/v1/workers/x.acme.sum/attest",
        &st.key,
        &json!({
            "worker_species_id": "wrk.doc.summarizer",
            "package_hash": HASH_B,
            "worker_version": "0.9.1",
            "ai_generated": false,
        }),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {a}");
    assert_sdk_answer(&a, HASH_B);
    assert_eq!(a["worker_version"], "0.9.1");
    assert_eq!(a["manifest_path"], Value::Null);
    assert_eq!(s.verify(WORKER).await["current_hash"], HASH_B);
    s.stop().await;
}

#[tokio::test]
async fn conflicting_aliases_another_worker_or_another_species_are_refused_naming_both() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let path = "/api/v1/workers/x.acme.sum/attest";
    let refused = |body: Value| {
        let s = &s;
        let key = st.key.clone();
        async move {
            let (status, err) = s.call(Method::PUT, path, Some(&key), Some(body)).await;
            assert_eq!(status, 400, "{err}");
            err["error"]["message"].as_str().unwrap().to_string()
        }
    };
    let m = refused(json!({"sha256": HASH_A, "package_hash": HASH_B})).await;
    assert!(m.contains("sha256") && m.contains("package_hash"), "{m}");
    let m = refused(json!({"package_hash": HASH_A, "ai_session_id": "a",
        "ai_session_fingerprint": "b"}))
    .await;
    assert!(
        m.contains("ai_session_id") && m.contains("ai_session_fingerprint"),
        "{m}"
    );
    let m = refused(json!({"package_hash": "abc"})).await;
    assert!(m.contains("package_hash"), "{m}");
    let m = refused(json!({"worker_version": "1.0"})).await;
    assert!(m.contains("sha256") && m.contains("package_hash"), "{m}");
    let m = refused(json!({"package_hash": HASH_A, "worker_id": "x.acme.other"})).await;
    assert!(m.contains("x.acme.other") && m.contains(WORKER), "{m}");
    let m = refused(json!({"package_hash": HASH_A, "worker_id": "not a worker"})).await;
    assert!(m.contains("worker_id"), "{m}");
    let m =
        refused(json!({"package_hash": HASH_A, "worker_species_id": "wrk.doc.translator"})).await;
    assert!(
        m.contains("wrk.doc.translator") && m.contains("wrk.doc.summarizer"),
        "{m}"
    );
    let m = refused(json!({"package_hash": HASH_A, "worker_species_id": "cap.doc.x"})).await;
    assert!(m.contains("worker_species_id"), "{m}");
    let m = refused(json!({"package_hash": HASH_A, "worker_version": "1.0\u{7}beta"})).await;
    assert!(m.contains("worker_version"), "{m}");
    let m = refused(json!({"package_hash": HASH_A, "manifest_path": "m".repeat(1001)})).await;
    assert!(m.contains("manifest_path"), "{m}");
    assert_eq!(s.count("SELECT count(*) FROM attestations").await, 0);

    // The same value under both names is one hash.
    let (status, a) = s
        .call(
            Method::PUT,
            path,
            Some(&st.key),
            Some(json!({"sha256": HASH_A, "package_hash": HASH_A})),
        )
        .await;
    assert_eq!((status, a["package_hash"].as_str()), (200, Some(HASH_A)));
    s.stop().await;
}

#[tokio::test]
async fn the_body_may_name_the_worker_by_its_registry_id_while_the_path_uses_the_wcp_id() {
    let s = TestServer::start().await;
    let st = setup(&s).await;
    let (_, w) = s
        .call(
            Method::GET,
            "/api/v1/workers/x.acme.sum",
            Some(&st.key),
            None,
        )
        .await;
    let registry_id = w["id"].as_str().unwrap().to_string();
    let (status, a) = s
        .call(
            Method::PUT,
            "/api/v1/workers/x.acme.sum/attest",
            Some(&st.key),
            Some(json!({"worker_id": registry_id, "package_hash": HASH_A})),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    let (status, a) = s
        .call(
            Method::PUT,
            &format!("/api/v1/workers/{registry_id}/attest"),
            Some(&st.key),
            Some(json!({"worker_id": WORKER, "package_hash": HASH_B})),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    s.stop().await;
}
