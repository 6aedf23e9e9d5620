//! `hall-bench`: a load generator for `POST /api/v1/decisions` (and, with
//! `--target route`, `POST /api/v1/route`; with `--target verify`,
//! `GET /api/v1/verify/{worker_id}`).
//!
//! It creates a tenant, a key and a worker through the operator key, then
//! for each concurrency level keeps that many requests in flight for the
//! given time and reports decisions per second and p50 / p99 / p99.9
//! latency (each decision's receipt is durably committed before its answer).
//! `scripts/bench` builds and starts a release server and runs this against it.

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

#[derive(Debug, Parser)]
#[command(
    name = "hall-bench",
    about = "Load generator for Hall Registry decisions"
)]
struct Args {
    /// Registry base URL.
    #[arg(long, default_value = "http://127.0.0.1:8765")]
    registry: String,
    /// The operator's API key (to create the benchmark tenant).
    #[arg(long, env = "HALL_BENCH_OPERATOR_KEY", hide_env_values = true)]
    operator_key: String,
    /// Concurrency levels to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    concurrency: Vec<usize>,
    /// Seconds measured at each level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before each level (not measured).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// What to drive: `decisions` (POST /api/v1/decisions), `route`
    /// (POST /api/v1/route: the same worker chosen by a routing rule,
    /// receipted alike) or `verify` (GET /api/v1/verify/{worker_id},
    /// anonymous, as the SDKs call it).
    #[arg(long, default_value = "decisions", value_parser = ["decisions", "route", "verify"])]
    target: String,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    key: &str,
    body: Value,
) -> Result<Value, String> {
    send(http.post(url), key, body).await
}

async fn put(http: &reqwest::Client, url: String, key: &str, body: Value) -> Result<Value, String> {
    send(http.put(url), key, body).await
}

/// Sends `body` with the key; the answer's JSON when it is a success.
async fn send(request: reqwest::RequestBuilder, key: &str, body: Value) -> Result<Value, String> {
    let resp = request
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// The part of a decision's answer the load loop checks. Reading only this
/// (serde skips the rest without building it) keeps the load generator's
/// cost, which shares the machine, the same for a short or a long answer.
#[derive(serde::Deserialize)]
struct Proof {
    proof: Option<String>,
}

/// One decision (or route) call; Ok when it was answered with a proof.
async fn decided(
    http: &reqwest::Client,
    url: String,
    key: &str,
    body: &Value,
) -> Result<(), String> {
    let resp = http
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    match serde_json::from_slice::<Proof>(&bytes) {
        Ok(Proof { proof: Some(_) }) if status.is_success() => Ok(()),
        _ => Err(format!("{status}: {}", String::from_utf8_lossy(&bytes))),
    }
}

/// One verify call; Ok when the registry answered with the worker's status.
async fn verify(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let resp = http
        .get(format!("{url}/api/v1/verify/x.bench.worker"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if body["status"] == "active" {
        Ok(())
    } else {
        Err(body.to_string())
    }
}

/// Runs `concurrency` loops for `duration`; returns every latency (µs) and the error count.
async fn load(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    target: &str,
    concurrency: usize,
    duration: Duration,
) -> (Vec<u64>, u64) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for lane in 0..concurrency {
        let (http, url, key) = (http.clone(), url.to_string(), key.to_string());
        let verify_only = target == "verify";
        let route = target == "route";
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(16_384);
            let mut errors = 0u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                if verify_only {
                    let started = Instant::now();
                    match verify(&http, &url).await {
                        Ok(()) => latencies.push(started.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    }
                    continue;
                }
                // One in ten is denied (a capability no worker declares and
                // no rule routes), as in real traffic.
                let cap = if (i + lane as u64).is_multiple_of(10) { "cap.bench.undeclared" } else { "cap.bench.read" };
                let (path, body) = if route {
                    ("route", json!({"capability_id": cap, "env": "dev", "data_label": "PUBLIC",
                        "tenant_risk": "low", "qos_class": "P2",
                        "correlation_id": uuid::Uuid::new_v4().to_string()}))
                } else {
                    ("decisions", json!({"worker_id": "x.bench.worker", "capability": cap, "env": "dev", "data_label": "PUBLIC"}))
                };
                let started = Instant::now();
                match decided(&http, format!("{url}/api/v1/{path}"), &key, &body).await {
                    Ok(()) => latencies.push(started.elapsed().as_micros() as u64),
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap_or_default();
        all.extend(l);
        errors += e;
    }
    (all, errors)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let base = args.registry.trim_end_matches('/').to_string();
    let tenant = format!(
        "org.bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    post(
        &http,
        format!("{base}/api/v1/tenants"),
        &args.operator_key,
        json!({"id": tenant, "display_name": "benchmark"}),
    )
    .await?;
    let key = post(&http, format!("{base}/api/v1/api-keys"), &args.operator_key,
        json!({"name": "bench", "scopes": ["workers:write", "decisions:write", "admin"], "tenant_id": tenant})).await?;
    let key = key["key"]
        .as_str()
        .ok_or("no key in the answer")?
        .to_string();
    // The worker may exist from an earlier run against the same database.
    let _ = post(
        &http,
        format!("{base}/api/v1/workers"),
        &key,
        json!({"name": "worker", "namespace": "x.bench", "worker_species_id": "wrk.bench.worker",
            "capabilities": ["cap.bench.read"], "policy_tier": 2}),
    )
    .await;
    if args.target == "route" {
        put(&http, format!("{base}/api/v1/routing/rules"), &key, json!({"rules": [{
            "rule_id": "rr_bench_read",
            "match": {"capability_id": "cap.bench.read", "env": {"any": true}},
            "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.bench.worker"}]}
        }]})).await?;
    }

    let unit = if args.target == "verify" {
        "verifies/s"
    } else {
        "decisions/s"
    };
    println!("| concurrency | {unit} | p50 ms | p99 ms | p99.9 ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for c in args.concurrency {
        load(
            &http,
            &base,
            &key,
            &args.target,
            c,
            Duration::from_secs(args.warmup),
        )
        .await;
        let started = Instant::now();
        let (mut latencies, errors) = load(
            &http,
            &base,
            &key,
            &args.target,
            c,
            Duration::from_secs(args.seconds),
        )
        .await;
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        println!(
            "| {c} | {:.0} | {:.2} | {:.2} | {:.2} | {errors} |",
            latencies.len() as f64 / elapsed,
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            percentile(&latencies, 99.9),
        );
    }
    Ok(())
}
