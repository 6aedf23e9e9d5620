//! Many concurrent decisions for one tenant, through two server processes
//! sharing one database and one receipt key: one gap-free, fork-free chain.

use std::collections::HashSet;

use crate::support::healthy;
use serde_json::{json, Value};

/// Sends `request` and reads the JSON body of its answer.
async fn body(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn two_processes_and_many_connections_build_one_chain_without_forks_or_gaps() {
    let db = testkit::TestDb::create().await;
    let operator = format!("phk_conc_{}", uuid::Uuid::new_v4().simple());
    let seed = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let envs = [
        ("DATABASE_URL", db.url()),
        ("HALL_BOOTSTRAP_API_KEY", operator.as_str()),
        ("HALL_RECEIPT_SIGNING_KEY", seed),
        ("HALL_RATE_LIMIT_PER_MINUTE", "0"),
        ("HALL_LOG_LEVEL", "warn"),
    ];
    let mut a = healthy(&envs).await;
    let mut b = healthy(&envs).await;

    let http = reqwest::Client::new();
    http.post(a.url("/api/v1/tenants"))
        .bearer_auth(&operator)
        .json(&json!({"id": "org.conc", "display_name": "C"}))
        .send()
        .await
        .unwrap();
    let key = body(
        http.post(a.url("/api/v1/api-keys"))
            .bearer_auth(&operator)
            .json(
                &json!({"name": "k", "scopes": ["admin", "decisions:write"], "tenant_id": "org.conc"}),
            ),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_string();
    let w = http
        .post(a.url("/api/v1/workers"))
        .bearer_auth(&key)
        .json(&json!({"name": "w", "namespace": "x.conc", "capabilities": ["cap.a.b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), 201);

    let total = 600;
    let bases = [a.url(""), b.url("")];
    let mut tasks = Vec::new();
    for lane in 0..24 {
        let (http, key, bases) = (http.clone(), key.clone(), bases.clone());
        tasks.push(tokio::spawn(async move {
            let mut proofs = Vec::new();
            for i in (lane..total).step_by(24) {
                let base = &bases[i % 2];
                let cap = if i % 5 == 0 { "cap.not.declared" } else { "cap.a.b" };
                let d = body(http.post(format!("{base}/api/v1/decisions")).bearer_auth(&key)
                    .json(&json!({"worker_id": "x.conc.w", "capability": cap, "env": "dev", "data_label": "PUBLIC"})))
                    .await;
                proofs.push(d["proof"].as_str().expect("a proof for every decision").to_string());
            }
            proofs
        }));
    }
    let mut proofs = HashSet::new();
    for t in tasks {
        proofs.extend(t.await.unwrap());
    }
    assert_eq!(proofs.len(), total);

    let keys = body(http.get(a.url("/api/v1/keys"))).await;
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        1,
        "replicas share one key: {keys}"
    );
    let mut receipts: Vec<audit::Receipt> = Vec::new();
    let mut after = 0;
    loop {
        let page = body(
            http.get(b.url(&format!("/api/v1/audit/receipts?after={after}&limit=250")))
                .bearer_auth(&key),
        )
        .await;
        receipts.extend(
            serde_json::from_value::<Vec<audit::Receipt>>(page["receipts"].clone()).unwrap(),
        );
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(
        receipts.len(),
        total,
        "a decision without its receipt, or a duplicate"
    );
    let hashes: HashSet<&str> = receipts.iter().map(|r| r.receipt_hash.as_str()).collect();
    assert_eq!(hashes, proofs.iter().map(String::as_str).collect());
    use base64::Engine;
    let k = &keys["keys"][0];
    let public: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(k["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let published = std::collections::HashMap::from([(
        k["kid"].as_str().unwrap().to_string(),
        ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap(),
    )]);
    assert_eq!(audit::verify_chain(&receipts, &published), Ok(total));

    let mut conn = db.connect().await;
    let (count, max_seq): (i64, i64) =
        sqlx::query_as("SELECT count(*), max(seq) FROM receipts WHERE tenant_id = 'org.conc'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        (count, max_seq),
        (total as i64, total as i64),
        "a gap in the chain"
    );
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
