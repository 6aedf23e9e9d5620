//! The verifiable log over HTTP: signed checkpoints of a tenant's receipt
//! tree, inclusion and consistency proofs that verify against them (RFC
//! 9162, C2SP signed notes), and the refusals.

use std::time::{Duration, Instant};

use audit::merkle::{verify_consistency, verify_inclusion, Hash};
use audit::note::{Checkpoint, NoteVerifier};
use serde_json::Value;

use crate::support::{code, decision, TestServer, Worker};

async fn tenant(s: &TestServer) -> String {
    let (_, key) = s.tenant_with_key("org.log", &["admin"]).await;
    s.register(
        &key,
        &Worker::named("x.log", "w").capabilities(&["cap.a.b"]),
    )
    .await;
    key
}

fn unhex(s: &str) -> Hash {
    audit::tree::hex_hash(s).unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unhex(h.as_str().unwrap()))
        .collect()
}

/// The latest checkpoint once it covers `size` receipts (JSON form).
async fn checkpoint_of_at_least(s: &TestServer, key: &str, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = s
            .client
            .get(format!("{}/api/v1/audit/checkpoint", s.base))
            .bearer_auth(key)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let c: Value = resp.json().await.unwrap();
            if c["tree_size"].as_u64().unwrap() >= size {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "no checkpoint of {size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn checkpoints_are_signed_notes_and_proofs_verify_against_them() {
    let s = TestServer::start_with(
        |c| {
            c.checkpoint_interval = Duration::from_millis(100);
            c.log_origin =
                Some(service::transparency::LogOrigin::parse("registry.test/hall").unwrap());
        },
        false,
    )
    .await;
    let key = tenant(&s).await;
    let (status, none) = s.get_json("/api/v1/audit/checkpoint", Some(&key)).await;
    assert_eq!(status, 404, "no receipt, no checkpoint: {none}");

    let mut receipts = Vec::new();
    for _ in 0..5 {
        receipts.push(
            s.decide(&key, decision("x.log.w", "cap.a.b", "dev", "PUBLIC"))
                .await,
        );
    }
    let first = checkpoint_of_at_least(&s, &key, 5).await;
    assert_eq!(first["origin"], "registry.test/hall/org.log");
    assert_eq!(first["tree_size"], 5);

    // The note opens with the registry's key under the log's name.
    let published: Value = s.get_json("/api/v1/keys", None).await.1;
    let kid = first["key_id"].as_str().unwrap();
    let public = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the signing key is published");
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        public["public_key"].as_str().unwrap(),
    )
    .unwrap();
    let verifier = NoteVerifier::new(
        "registry.test/hall",
        ed25519_dalek::VerifyingKey::from_bytes(&raw.try_into().unwrap()).unwrap(),
    )
    .unwrap();
    let note = first["checkpoint"].as_str().unwrap();
    let opened = Checkpoint::open(
        note,
        "registry.test/hall/org.log",
        std::slice::from_ref(&verifier),
    )
    .unwrap();
    assert_eq!(opened.size, 5);
    assert_eq!(opened.root, unhex(first["root"].as_str().unwrap()));
    // As text, the same note.
    let text = s
        .client
        .get(format!("{}/api/v1/audit/checkpoint", s.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(text.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(text.text().await.unwrap(), note);

    // Every receipt's inclusion proof verifies against the signed head.
    for (i, d) in receipts.iter().enumerate() {
        let id = d["receipt"]["receipt_id"].as_str().unwrap();
        let (status, proof) = s
            .get_json(
                &format!("/api/v1/audit/proof/inclusion?receipt_id={id}&tree_size=5"),
                Some(&key),
            )
            .await;
        assert_eq!(status, 200, "{proof}");
        assert_eq!(proof["leaf_index"], i);
        let leaf =
            audit::tree::receipt_leaf(d["receipt"]["receipt_hash"].as_str().unwrap()).unwrap();
        verify_inclusion(&leaf, i as u64, 5, &hashes(&proof), &opened.root).unwrap();
    }

    // More receipts, a later checkpoint, and the two are consistent.
    for _ in 0..4 {
        s.decide(&key, decision("x.log.w", "cap.a.b", "dev", "PUBLIC"))
            .await;
    }
    let later = checkpoint_of_at_least(&s, &key, 9).await;
    let later_open = Checkpoint::open(
        later["checkpoint"].as_str().unwrap(),
        "registry.test/hall/org.log",
        &[verifier],
    )
    .unwrap();
    let (status, proof) = s
        .get_json("/api/v1/audit/proof/consistency?from=5&to=9", Some(&key))
        .await;
    assert_eq!(status, 200, "{proof}");
    verify_consistency(5, 9, &opened.root, &later_open.root, &hashes(&proof)).unwrap();
    // The stored checkpoints, largest first, and one by its size.
    let (_, list) = s
        .get_json("/api/v1/audit/checkpoints?size=5", Some(&key))
        .await;
    assert_eq!(list["checkpoints"][0]["checkpoint"], first["checkpoint"]);
    let (_, all) = s.get_json("/api/v1/audit/checkpoints", Some(&key)).await;
    assert_eq!(all["checkpoints"][0]["tree_size"], 9);
}

#[tokio::test]
async fn proofs_for_unknown_receipts_and_impossible_sizes_are_refused() {
    let s = TestServer::start().await;
    let key = tenant(&s).await;
    let d = s
        .decide(&key, decision("x.log.w", "cap.a.b", "dev", "PUBLIC"))
        .await;
    let id = d["receipt"]["receipt_id"].as_str().unwrap();
    let (status, e) = s
        .get_json(
            "/api/v1/audit/proof/inclusion?receipt_id=01a21740-998a-75ac-9b90-78f71b7f9d25&tree_size=1",
            Some(&key),
        )
        .await;
    assert_eq!(status, 404, "{e}");
    let (status, e) = s
        .get_json(
            &format!("/api/v1/audit/proof/inclusion?receipt_id={id}&tree_size=2"),
            Some(&key),
        )
        .await;
    assert_eq!((status, code(&e)), (400, "invalid_tree_size"), "{e}");
    for (q, expected) in [
        ("from=0&to=1", "invalid_query"),
        ("from=1&to=-1", "invalid_query"),
        ("from=2&to=1", "invalid_tree_size"),
        ("from=1&to=2", "invalid_tree_size"),
    ] {
        let (status, e) = s
            .get_json(&format!("/api/v1/audit/proof/consistency?{q}"), Some(&key))
            .await;
        assert_eq!((status, code(&e)), (400, expected), "{q}: {e}");
    }
    // A receipt newer than the latest checkpoint, no size asked: not yet.
    let (status, e) = s
        .get_json(
            &format!("/api/v1/audit/proof/inclusion?receipt_id={id}"),
            Some(&key),
        )
        .await;
    assert!(
        status == 409 && code(&e) == "not_yet_checkpointed" || status == 200,
        "{status} {e}"
    );
    // Another tenant's receipt is not found in yours.
    let (_, other) = s.tenant_with_key("org.other", &["read"]).await;
    let (status, _) = s
        .get_json(
            &format!("/api/v1/audit/proof/inclusion?receipt_id={id}&tree_size=1"),
            Some(&other),
        )
        .await;
    assert_eq!(status, 404);
}
