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

/// The checkpoint's note body (the text a witness cosigns).
fn body_of(note: &str) -> String {
    format!("{}\n", note.split_once("\n\n").unwrap().0)
}

fn witness(name: &str, seed: u8) -> audit::cosignature::Witness {
    audit::cosignature::Witness::new(name, ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
        .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn cosign(s: &TestServer, key: &str, note: &str) -> (u16, Value) {
    s.call(
        reqwest::Method::POST,
        "/api/v1/audit/checkpoint/cosign",
        Some(key),
        Some(serde_json::json!({ "checkpoint": note })),
    )
    .await
}

#[tokio::test]
async fn a_registered_witness_cosigns_a_checkpoint_and_it_is_served_with_the_cosignature() {
    let operator = witness("witness.operator.test/w", 21);
    let operator_vkey = operator.public().vkey();
    let s = TestServer::start_with(
        move |c| {
            c.checkpoint_interval = Duration::from_millis(100);
            c.witness_keys =
                vec![audit::cosignature::WitnessKey::from_vkey(&operator_vkey).unwrap()];
        },
        false,
    )
    .await;
    let key = tenant(&s).await;
    let (_, reader) = s.create_key("org.log", &["read"]).await;
    let w = witness("witness.example.com/w1", 9);
    let post = |vkey: String, k: String| {
        let s = &s;
        async move {
            s.call(
                reqwest::Method::POST,
                "/api/v1/audit/witnesses",
                Some(&k),
                Some(serde_json::json!({ "vkey": vkey })),
            )
            .await
        }
    };
    let (status, body) = post(w.public().vkey(), reader.clone()).await;
    assert_eq!(status, 403, "registering a witness needs admin: {body}");
    let (status, body) = post(w.public().vkey(), key.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "witness.example.com/w1");
    assert_eq!(body["vkey"], w.public().vkey());
    assert_eq!(body["registered_by"], "tenant");
    let (status, body) = post(w.public().vkey(), key.clone()).await;
    assert_eq!((status, code(&body)), (409, "witness_exists"), "{body}");
    // One key is one witness, whatever it is called.
    let same_key = audit::cosignature::Witness::new(
        "witness.example.com/alias",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap();
    let (status, body) = post(same_key.public().vkey(), key.clone()).await;
    assert_eq!((status, code(&body)), (409, "witness_exists"), "{body}");
    // A log's (note signer's, type 0x01) key is not a witness key.
    let log_key = audit::note::NoteSigner::new(
        "witness.example.com/w2",
        ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
    )
    .unwrap();
    let (status, body) = post(log_key.verifier().vkey(), key.clone()).await;
    assert_eq!(
        (status, code(&body)),
        (400, "invalid_witness_key"),
        "{body}"
    );
    let (_, list) = s.get_json("/api/v1/audit/witnesses", Some(&reader)).await;
    let names: Vec<&str> = list["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["witness.operator.test/w", "witness.example.com/w1"]);
    assert_eq!(list["witnesses"][0]["registered_by"], "operator");

    for _ in 0..3 {
        s.decide(&key, decision("x.log.w", "cap.a.b", "dev", "PUBLIC"))
            .await;
    }
    let c = checkpoint_of_at_least(&s, &key, 3).await;
    let note = c["checkpoint"].as_str().unwrap().to_string();
    let text = body_of(&note);
    let size = c["tree_size"].as_u64().unwrap();

    // No cosignature by a registered witness: refused.
    let stranger = witness("witness.stranger.test/x", 30);
    let line = stranger.cosign(&text, now()).unwrap();
    let (status, body) = cosign(&s, &reader, &format!("{note}{line}\n")).await;
    assert_eq!(
        (status, code(&body)),
        (400, "no_witness_cosignature"),
        "{body}"
    );
    // A registered witness's line that does not verify: refused.
    let forged = w
        .cosign(&text.replace(&size.to_string(), "999"), now())
        .unwrap();
    let (status, body) = cosign(&s, &reader, &format!("{note}{forged}\n")).await;
    assert_eq!(
        (status, code(&body)),
        (400, "invalid_cosignature"),
        "{body}"
    );
    // A witness that holds another tree of this size: the split view shows.
    let split = Checkpoint {
        root: [0xAB; 32],
        ..Checkpoint::parse(&text).unwrap()
    }
    .to_text();
    let split_line = w.cosign(&split, now()).unwrap();
    let (status, body) = cosign(&s, &reader, &format!("{split}\n{split_line}\n")).await;
    assert_eq!(
        (status, code(&body)),
        (409, "checkpoint_mismatch"),
        "{body}"
    );
    // A size never checkpointed.
    let unknown = Checkpoint {
        size: 1_000_000,
        ..Checkpoint::parse(&text).unwrap()
    }
    .to_text();
    let line = w.cosign(&unknown, now()).unwrap();
    let (status, body) = cosign(&s, &reader, &format!("{unknown}\n{line}\n")).await;
    assert_eq!(status, 404, "{body}");
    // Dated far ahead: refused.
    let line = w.cosign(&text, now() + 3600).unwrap();
    let (status, body) = cosign(&s, &reader, &format!("{note}{line}\n")).await;
    assert_eq!(
        (status, code(&body)),
        (400, "invalid_cosignature"),
        "{body}"
    );

    // The witness's and the operator's cosignatures are taken and served.
    let t = now();
    let line = w.cosign(&text, t).unwrap();
    let op_line = operator.cosign(&text, t).unwrap();
    let (status, cosigned) = cosign(&s, &reader, &format!("{note}{line}\n{op_line}\n")).await;
    assert_eq!(status, 200, "{cosigned}");
    assert_eq!(cosigned["tree_size"], size);
    assert_eq!(cosigned["cosignatures"].as_array().unwrap().len(), 2);
    assert_eq!(cosigned["cosignatures"][0]["timestamp"], t);
    let served = cosigned["checkpoint"].as_str().unwrap();
    assert!(served.starts_with(&note), "the issued note, then the lines");
    let (_, found) =
        audit::cosignature::cosignatures(served, &[w.public().clone(), operator.public().clone()])
            .unwrap();
    assert_eq!(found.len(), 2);
    // Sent again: stored once.
    let (_, again) = cosign(&s, &reader, &format!("{note}{line}\n")).await;
    assert_eq!(again["cosignatures"].as_array().unwrap().len(), 2);

    // Newer checkpoints come; the latest witnessed one is still this one.
    for _ in 0..2 {
        s.decide(&key, decision("x.log.w", "cap.a.b", "dev", "PUBLIC"))
            .await;
    }
    checkpoint_of_at_least(&s, &key, size + 2).await;
    let (status, witnessed) = s
        .get_json("/api/v1/audit/checkpoint?witnessed=true", Some(&reader))
        .await;
    assert_eq!(status, 200);
    assert_eq!(witnessed, Value::String(served.to_string()), "as text");
    let (status, by_name) = s
        .get_json(
            "/api/v1/audit/checkpoint?witness=witness.example.com/w1",
            Some(&reader),
        )
        .await;
    assert_eq!((status, by_name), (200, Value::String(served.to_string())));
    let (status, _) = s
        .get_json(
            "/api/v1/audit/checkpoint?witness=witness.stranger.test/x",
            Some(&reader),
        )
        .await;
    assert_eq!(status, 404, "not one of the tenant's witnesses");
    let (_, list) = s
        .get_json(
            &format!("/api/v1/audit/checkpoints?size={size}"),
            Some(&reader),
        )
        .await;
    assert_eq!(list["checkpoints"][0]["checkpoint"], served);

    // Removed: no longer trusted, nor served (its row stays).
    let (status, body) = s
        .call(
            reqwest::Method::DELETE,
            "/api/v1/audit/witnesses?name=witness.example.com/w1",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = s
        .call(
            reqwest::Method::DELETE,
            "/api/v1/audit/witnesses?name=witness.example.com/w1",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = s
        .call(
            reqwest::Method::DELETE,
            "/api/v1/audit/witnesses?name=witness.operator.test/w",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "the operator's witness is not the tenant's to remove: {body}"
    );
    let later = checkpoint_of_at_least(&s, &key, size + 2).await;
    let later_note = later["checkpoint"].as_str().unwrap();
    let line = w.cosign(&body_of(later_note), now()).unwrap();
    let (status, body) = cosign(&s, &reader, &format!("{later_note}{line}\n")).await;
    assert_eq!(
        (status, code(&body)),
        (400, "no_witness_cosignature"),
        "{body}"
    );
    let (_, list) = s
        .get_json(
            &format!("/api/v1/audit/checkpoints?size={size}"),
            Some(&reader),
        )
        .await;
    let kept = list["checkpoints"][0]["cosignatures"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["witness"], "witness.operator.test/w");
    assert!(!list["checkpoints"][0]["checkpoint"]
        .as_str()
        .unwrap()
        .contains("witness.example.com/w1"));

    // At most 20 witnesses per tenant.
    for i in 0..20u8 {
        let extra = witness(&format!("witness.extra.test/{i}"), 100 + i);
        let (status, body) = post(extra.public().vkey(), key.clone()).await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    let extra = witness("witness.extra.test/last", 99);
    let (status, body) = post(extra.public().vkey(), key.clone()).await;
    assert_eq!((status, code(&body)), (409, "too_many_witnesses"), "{body}");
}

#[tokio::test]
async fn concurrent_registrations_never_pass_the_witness_limit() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.many", &["admin"]).await;
    let posts = (0..25u8).map(|i| {
        let vkey = witness(&format!("witness.many.test/{i}"), 150 + i)
            .public()
            .vkey();
        let (s, key) = (&s, key.clone());
        async move {
            s.call(
                reqwest::Method::POST,
                "/api/v1/audit/witnesses",
                Some(&key),
                Some(serde_json::json!({ "vkey": vkey })),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(posts).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 20, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 201) {
        assert_eq!((*status, code(body)), (409, "too_many_witnesses"), "{body}");
    }
    let (_, list) = s.get_json("/api/v1/audit/witnesses", Some(&key)).await;
    assert_eq!(list["witnesses"].as_array().unwrap().len(), 20);
}
