//! A crash under load (issue 15): `kill -9` while decisions are in flight,
//! then a restart on the same database. Every decision that was answered
//! has its receipt stored, the chain has no gap and no fork and verifies
//! offline, and the restarted writer (which remembers no head) appends
//! onto it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{data_root, Proc};
use serde_json::{json, Value};

const OPERATOR_KEY: &str = "phk_durabilitydurabilitydurabilitydurability";
const TENANT: &str = "org.crash";

fn spawn(db: &testkit::TestDb, data: &std::path::Path) -> Proc {
    Proc::spawn(&[
        ("DATABASE_URL", db.url()),
        ("HALL_DATA_DIR", data.to_str().unwrap()),
        ("HALL_BOOTSTRAP_API_KEY", OPERATOR_KEY),
        ("HALL_RATE_LIMIT_PER_MINUTE", "0"),
        ("HALL_LOG_LEVEL", "warn"),
    ])
}

async fn post(http: &reqwest::Client, url: String, key: &str, body: Value) -> Value {
    let resp = http
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// A tenant with a worker that may decide; its key.
async fn tenant_with_worker(p: &Proc, http: &reqwest::Client) -> String {
    post(
        http,
        p.url("/api/v1/tenants"),
        OPERATOR_KEY,
        json!({"id": TENANT, "display_name": "crash test"}),
    )
    .await;
    let key = post(
        http,
        p.url("/api/v1/api-keys"),
        OPERATOR_KEY,
        json!({"name": "load", "scopes": ["workers:write", "decisions:write"], "tenant_id": TENANT}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    post(
        http,
        p.url("/api/v1/workers"),
        &key,
        json!({"name": "worker", "namespace": "x.crash", "worker_species_id": "wrk.crash.worker",
            "capabilities": ["cap.crash.read"], "policy_tier": 2}),
    )
    .await;
    key
}

/// Decides in `lanes` loops until `stop`; the receipt ids answered with a 200.
async fn load(p: &Proc, key: &str, lanes: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let answered = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let (url, key, stop, answered) = (
            p.url("/api/v1/decisions"),
            key.to_string(),
            stop.clone(),
            answered.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut n = lane;
            while !stop.load(Ordering::Relaxed) {
                // One in ten denied: a capability the worker does not declare.
                let cap = if n % 10 == 0 {
                    "cap.crash.other"
                } else {
                    "cap.crash.read"
                };
                n += 1;
                let sent = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"worker_id": "x.crash.worker", "capability": cap,
                        "env": "dev", "data_label": "PUBLIC"}))
                    .send()
                    .await;
                let Ok(resp) = sent else { break };
                if resp.status() != 200 {
                    // The server answers until it is killed: an error
                    // answer is a failure, not the crash.
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    panic!("answered {status} under load: {body}");
                }
                let Ok(body) = resp.json::<Value>().await else {
                    break;
                };
                let id = body["receipt"]["receipt_id"].as_str().unwrap().to_string();
                answered.lock().unwrap().push(id);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(answered).unwrap().into_inner().unwrap()
}

/// The tenant's stored receipts, in chain order, with their positions.
async fn stored(db: &testkit::TestDb) -> Vec<(i64, audit::Receipt)> {
    let mut conn = db.connect().await;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, body::text FROM receipts WHERE tenant_id = $1 ORDER BY seq")
            .bind(TENANT)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(seq, body)| (seq, serde_json::from_str(&body).unwrap()))
        .collect()
}

async fn published_keys(p: &Proc) -> HashMap<String, ed25519_dalek::VerifyingKey> {
    use base64::Engine;
    let keys: Value = reqwest::get(p.url("/api/v1/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(k["public_key"].as_str().unwrap())
                .unwrap();
            (
                k["kid"].as_str().unwrap().to_string(),
                ed25519_dalek::VerifyingKey::from_bytes(&bytes.try_into().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Asserts the stored chain is whole (positions 1..n, verifying offline,
/// the chain row's head its last receipt) and holds every answered id.
async fn assert_whole(db: &testkit::TestDb, p: &Proc, answered: &[String]) -> usize {
    let rows = stored(db).await;
    let seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=rows.len() as i64).collect::<Vec<_>>(), "a gap");
    let chain: Vec<audit::Receipt> = rows.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        audit::verify_chain(&chain, &published_keys(p).await),
        Ok(chain.len()),
        "the chain does not verify"
    );
    let ids: HashSet<&str> = chain
        .iter()
        .map(|r| r.content.receipt_id.as_str())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !ids.contains(id.as_str()))
        .collect();
    assert!(lost.is_empty(), "answered but not stored: {lost:?}");
    let mut conn = db.connect().await;
    let (length, head): (i64, Option<String>) =
        sqlx::query_as("SELECT length, head_hash FROM receipt_chains WHERE tenant_id = $1")
            .bind(TENANT)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(length as usize, chain.len());
    assert_eq!(head, chain.last().map(|r| r.receipt_hash.clone()));
    chain.len()
}

#[tokio::test]
async fn a_kill_under_load_loses_no_answered_decision_and_leaves_no_gap_or_fork() {
    let db = testkit::TestDb::create().await;
    let data = data_root();
    let http = reqwest::Client::new();

    let mut first = spawn(&db, data.path());
    first.wait_healthy(Duration::from_secs(30)).await;
    let key = tenant_with_worker(&first, &http).await;

    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (pid, stop) = (first.child.id() as i32, stop.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            unsafe { libc::kill(pid, libc::SIGKILL) };
            stop.store(true, Ordering::Relaxed);
        })
    };
    let before = load(&first, &key, 32, stop).await;
    killer.await.unwrap();
    let _ = first.child.wait();
    assert!(
        before.len() > 100,
        "only {} decisions before the kill: not under load",
        before.len()
    );

    let mut second = spawn(&db, data.path());
    second.wait_healthy(Duration::from_secs(30)).await;
    let at_restart = assert_whole(&db, &second, &before).await;
    assert!(at_restart >= before.len());

    // The restarted writer reads the heads it does not know and goes on.
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let after = load(&second, &key, 8, stop).await;
    stopper.await.unwrap();
    assert!(!after.is_empty());
    let total = assert_whole(&db, &second, &[before, after.clone()].concat()).await;
    assert_eq!(total, at_restart + after.len());
    assert!(second.terminate().success());
}
