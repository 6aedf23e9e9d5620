//! `Idempotency-Key` on the decision endpoints: a repeat answers the original
//! decision and never appends a second receipt — across replicas, while the
//! first is in flight, and after its holder died.

use crate::support::{decision, message, TestServer, Worker};
use serde_json::{json, Value};

const AGENT_SCOPES: &[&str] = &["workers:write", "decisions:write", "read"];

/// A tenant with a key and a worker: `(key, registry id of the worker)`.
async fn tenant_with_worker(s: &TestServer, tenant: &str, namespace: &str) -> (String, String) {
    let (key, w) = s
        .tenant_with_worker(
            tenant,
            AGENT_SCOPES,
            &Worker::named(namespace, "agent").capabilities(&["cap.data.read.v1"]),
        )
        .await;
    (key, w["id"].as_str().unwrap().to_string())
}

fn request(worker: &str) -> Value {
    decision(worker, "cap.data.read.v1", "dev", "PUBLIC")
}

/// Posts a decision to `base` with an optional idempotency key: `(status,
/// Idempotent-Replayed header, body)`.
async fn post(
    s: &TestServer,
    base: &str,
    path: &str,
    key: &str,
    idempotency_key: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let mut req = s
        .client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .json(body);
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp
        .headers()
        .get("Idempotent-Replayed")
        .map(|v| v.to_str().unwrap().to_string());
    (status, replayed, resp.json().await.unwrap())
}

/// Posts a decision to `s` itself: `(status, Idempotent-Replayed header, body)`.
async fn decide(
    s: &TestServer,
    key: &str,
    idempotency_key: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, Value) {
    post(s, &s.base, "/api/v1/decisions", key, idempotency_key, body).await
}

/// A server with tenant `org.acme` and its worker: `(server, key, a decision
/// request for the worker)`.
async fn acme() -> (TestServer, String, Value) {
    let s = TestServer::start().await;
    let (key, worker) = tenant_with_worker(&s, "org.acme", "x.acme").await;
    let body = request(&worker);
    (s, key, body)
}

async fn chain_length(s: &TestServer, key: &str) -> usize {
    s.verify_receipts(key).await.expect("the chain verifies")
}

#[tokio::test]
async fn a_repeat_with_the_same_key_answers_the_original_decision_and_appends_no_receipt() {
    let (s, key, body) = acme().await;
    let (status, replayed, first) = decide(&s, &key, Some("k-1"), &body).await;
    assert_eq!((status, replayed), (200, None), "{first}");
    assert_eq!(first["denied"], false);

    let (status, replayed, again) = decide(&s, &key, Some("k-1"), &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(
        again, first,
        "the replay is the original answer, field for field"
    );
    // The local Hall route shares the key space.
    let (status, replayed, routed) =
        post(&s, &s.base, "/api/route", &key, Some("k-1"), &body).await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    assert_eq!(routed["id"], first["id"]);
    assert_eq!(chain_length(&s, &key).await, 1);

    // Without a key, or with another one, each call is a decision of its own.
    decide(&s, &key, None, &body).await;
    decide(&s, &key, Some("k-2"), &body).await;
    assert_eq!(chain_length(&s, &key).await, 3);
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_a_conflict() {
    let (s, key, body) = acme().await;
    decide(&s, &key, Some("k"), &body).await;
    let mut other = body.clone();
    other["env"] = json!("prod");
    let (status, _, e) = decide(&s, &key, Some("k"), &other).await;
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["error"]["code"], "idempotency_key_reused");
    assert!(message(&e).contains("different request body"));
    assert_eq!(chain_length(&s, &key).await, 1);
}

#[tokio::test]
async fn keys_belong_to_one_tenant() {
    let s = TestServer::start().await;
    let (acme, acme_worker) = tenant_with_worker(&s, "org.acme", "x.acme").await;
    let (beta, beta_worker) = tenant_with_worker(&s, "org.beta", "x.beta").await;
    let (_, _, a) = decide(&s, &acme, Some("same"), &request(&acme_worker)).await;
    let (status, replayed, b) = decide(&s, &beta, Some("same"), &request(&beta_worker)).await;
    assert_eq!((status, replayed), (200, None), "{b}");
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["tenant_id"], "org.beta");
    assert_eq!(chain_length(&s, &beta).await, 1);
}

#[tokio::test]
async fn a_refused_request_does_not_use_up_its_key() {
    let s = TestServer::start().await;
    let (key, worker) = tenant_with_worker(&s, "org.acme", "x.acme").await;
    let mut bad = request(&worker);
    bad["env"] = json!("moon");
    let (status, _, e) = decide(&s, &key, Some("k"), &bad).await;
    assert_eq!(status, 400, "{e}");
    let (status, replayed, d) = decide(&s, &key, Some("k"), &request(&worker)).await;
    assert_eq!((status, replayed), (200, None), "{d}");
    assert_eq!(chain_length(&s, &key).await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_refused() {
    let s = TestServer::start().await;
    let (key, worker) = tenant_with_worker(&s, "org.acme", "x.acme").await;
    let long = "k".repeat(256);
    for bad in ["has space", long.as_str()] {
        let (status, _, e) = decide(&s, &key, Some(bad), &request(&worker)).await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["error"]["code"], "invalid_idempotency_key");
    }
    // A caller who may not decide learns nothing about keys.
    let (_, reader) = s.create_key("org.acme", &["read"]).await;
    let (status, _, _) = decide(&s, &reader, Some("k"), &request(&worker)).await;
    assert_eq!(status, 403);
    assert_eq!(chain_length(&s, &key).await, 0);
}

#[tokio::test]
async fn concurrent_repeats_on_two_replicas_make_one_decision() {
    let s = TestServer::start().await;
    let (key, worker) = tenant_with_worker(&s, "org.acme", "x.acme").await;
    let (other, replica) = s.replica().await;
    let body = request(&worker);
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (s, base, key, body) = (
            s.clone(),
            if n % 2 == 0 {
                s.base.clone()
            } else {
                other.clone()
            },
            key.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            post(&s, &base, "/api/v1/decisions", &key, Some("burst"), &body).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut fresh = 0;
    for t in tasks {
        let (status, replayed, d) = t.await.unwrap();
        assert_eq!(status, 200, "{d}");
        fresh += usize::from(replayed.is_none());
        ids.insert(d["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "every repeat answers the one decision");
    assert_eq!(fresh, 1, "exactly one answer is not a replay");
    assert_eq!(chain_length(&s, &key).await, 1);
    replica.stop().await;
}

#[tokio::test]
async fn a_key_whose_holder_died_is_taken_over_once_its_lease_runs_out() {
    let (s, key, body) = acme().await;
    let (_, _, first) = decide(&s, &key, Some("first"), &body).await;
    // A claim left behind by a process that died before its receipt: same
    // body hash as a real request (taken from the completed row), lease over.
    let mut conn = s.db.connect().await;
    sqlx::query(
        "INSERT INTO decision_idempotency (tenant_id, idempotency_key, request_hash, claim, lease_until)
         SELECT tenant_id, 'orphan', request_hash, gen_random_uuid(), now() - interval '1 second'
         FROM decision_idempotency WHERE idempotency_key = 'first'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (status, replayed, d) = decide(&s, &key, Some("orphan"), &body).await;
    assert_eq!((status, replayed), (200, None), "{d}");
    assert_ne!(d["id"], first["id"]);
    let (_, replayed, again) = decide(&s, &key, Some("orphan"), &body).await;
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again["id"], d["id"]);
    assert_eq!(chain_length(&s, &key).await, 2);
}

#[tokio::test]
async fn a_repeat_waits_for_the_first_attempt_in_flight() {
    let (s, key, body) = acme().await;
    // The first attempt's receipt cannot commit while the chain row is locked.
    let mut blocker = s.db.connect().await;
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query(
        "INSERT INTO receipt_chains (tenant_id) VALUES ('org.acme')
         ON CONFLICT (tenant_id) DO UPDATE SET updated_at = now()",
    )
    .execute(&mut blocker)
    .await
    .unwrap();
    let s = std::sync::Arc::new(s);
    let spawn = |s: std::sync::Arc<TestServer>, key: String, body: Value| {
        tokio::spawn(async move {
            let base = s.base.clone();
            post(&s, &base, "/api/v1/decisions", &key, Some("slow"), &body).await
        })
    };
    let first = spawn(s.clone(), key.clone(), body.clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let repeat = spawn(s.clone(), key.clone(), body.clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!first.is_finished() && !repeat.is_finished());
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    let (s1, r1, d1) = first.await.unwrap();
    let (s2, r2, d2) = repeat.await.unwrap();
    assert_eq!((s1, r1), (200, None), "{d1}");
    assert_eq!((s2, r2.as_deref()), (200, Some("true")), "{d2}");
    assert_eq!(d1["id"], d2["id"]);
    assert_eq!(chain_length(&s, &key).await, 1);
}
