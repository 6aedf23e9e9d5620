//! Receipt signing key rotation: a new kid from the next receipt on, old
//! receipts still verifying with the published keys, and replicas that
//! share a key file switching together.

use std::time::{Duration, Instant};

use crate::support::{decision, message, TestServer, Worker};
use serde_json::Value;

/// A tenant with an L0 worker; returns its key.
async fn tenant_with_worker(s: &TestServer) -> String {
    let (_, key) = s.tenant_with_key("org.keys", &["admin"]).await;
    s.register(
        &key,
        &Worker::named("x.keys", "w").capabilities(&["cap.a.b"]),
    )
    .await;
    key
}

async fn decide_at(s: &TestServer, base: &str, key: &str) -> Value {
    let resp = s
        .client
        .post(format!("{base}/api/v1/decisions"))
        .bearer_auth(key)
        .json(&decision("x.keys.w", "cap.a.b", "dev", "PUBLIC"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn signed_with(d: &Value) -> String {
    d["receipt"]["signing_key_id"].as_str().unwrap().to_string()
}

async fn rotate(s: &TestServer, key: &str) -> (u16, Value) {
    s.post_empty("/api/v1/keys/rotate", key).await
}

fn write_seed(path: &std::path::Path, byte: u8) {
    use base64::Engine;
    std::fs::write(
        path,
        base64::engine::general_purpose::STANDARD.encode([byte; 32]),
    )
    .unwrap();
}

#[tokio::test]
async fn rotating_the_generated_key_signs_new_receipts_with_a_new_kid_and_old_ones_still_verify() {
    let s = TestServer::start().await;
    let key = tenant_with_worker(&s).await;
    let before = signed_with(&decide_at(&s, &s.base, &key).await);
    let key_file = s.data_dir.path().join(api::runtime::RECEIPT_KEY_FILE);
    let old_seed = std::fs::read_to_string(&key_file).unwrap();

    let (status, err) = rotate(&s, &key).await;
    assert_eq!(status, 403, "only the operator rotates: {err}");
    let (status, r) = rotate(&s, &s.operator_key).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["retired_kid"], before.as_str());
    let after = r["kid"].as_str().unwrap().to_string();
    assert_ne!(after, before);
    // The old private key is gone from disk; the new one is private to the server.
    let new_seed = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_seed, old_seed);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    assert_eq!(signed_with(&decide_at(&s, &s.base, &key).await), after);
    let (_, keys) = s.get_json("/api/v1/keys", None).await;
    let status_of = |kid: &str| {
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status_of(&before).as_deref(), Some("retired"));
    assert_eq!(status_of(&after).as_deref(), Some("active"));
    // One chain across both keys, verified with only the published keys.
    assert_eq!(s.verify_receipts(&key).await, Ok(2));
    s.stop().await;
}

#[tokio::test]
async fn an_inline_key_cannot_be_rotated_by_the_api() {
    let s = TestServer::start_with(
        |c| {
            use base64::Engine;
            c.receipt_signing_key =
                Some(base64::engine::general_purpose::STANDARD.encode([3u8; 32]))
        },
        false,
    )
    .await;
    let (status, err) = rotate(&s, &s.operator_key).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "cannot_rotate");
    assert!(message(&err).contains("HALL_RECEIPT_SIGNING_KEY"));
    s.stop().await;
}

#[tokio::test]
async fn replicas_sharing_a_key_file_switch_together_when_one_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.key");
    write_seed(&file, 5);
    let path = file.clone();
    let s = TestServer::start_with(move |c| c.receipt_signing_key_file = Some(path), false).await;
    let (b_url, b) = s.replica().await;
    let key = tenant_with_worker(&s).await;
    let first = signed_with(&decide_at(&s, &b_url, &key).await);
    assert_eq!(signed_with(&decide_at(&s, &s.base, &key).await), first);

    // Nothing new in the file: nothing to rotate to.
    let (status, err) = rotate(&s, &s.operator_key).await;
    assert_eq!(status, 409, "{err}");
    assert!(message(&err).contains("still holds the active key"));

    write_seed(&file, 6);
    let (status, r) = rotate(&s, &s.operator_key).await;
    assert_eq!(status, 200, "{r}");
    let second = r["kid"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(signed_with(&decide_at(&s, &s.base, &key).await), second);
    // The replica hears of it and reads the same file.
    let deadline = Instant::now() + Duration::from_secs(5);
    while signed_with(&decide_at(&s, &b_url, &key).await) != second {
        assert!(Instant::now() < deadline, "the replica never switched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.verify_receipts(&key).await.is_ok());
    b.stop().await;
    s.stop().await;
}
