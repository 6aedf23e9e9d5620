//! `hall-bench`: a load generator for `POST /api/v1/decisions` (and, with
//! `--target route`, `POST /api/v1/route`; with `--target verify`,
//! `GET /api/v1/verify/{worker_id}`).
//!
//! It creates a tenant, a key and a worker through the operator key, then
//! for each concurrency level keeps that many requests in flight for the
//! given time (closed loop) — or, with `--rate`, sends at a fixed rate
//! whatever the answers' pace (open loop: latency is measured from when
//! each request was due, so queueing is not hidden) — and reports requests
//! per second, p50 / p99 / p99.9 / max latency and errors (each decision's
//! receipt is durably committed before its answer). `scripts/bench` builds
//! and starts a release server and runs this against it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

mod http1;

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
    operator_key: Option<String>,
    /// Print this machine's limits for what a decision is made of —
    /// Ed25519 signatures/s and 8 kB fdatasyncs/s (in the temp directory) —
    /// and exit; no registry needed.
    #[arg(long)]
    limits: bool,
    /// Concurrency levels to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    concurrency: Vec<usize>,
    /// Open loop instead: send at these rates (requests per second,
    /// comma-separated), each request at its due time whatever the answers'
    /// pace; latency counts from the due time.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rate: Vec<u32>,
    /// Open loop: most requests in flight; one due beyond it is not sent
    /// and counts as an error (the server is not keeping up).
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
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
    /// `health` (GET /health, anonymous): the server's HTTP ceiling, for
    /// scale.
    #[arg(long, default_value = "decisions", value_parser = ["decisions", "route", "verify", "health"])]
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

/// The part of a verify answer the load loop checks.
#[derive(serde::Deserialize)]
struct Verified {
    status: String,
}

/// What one request of the load is, made once: the request heads and the
/// decision bodies encoded ahead, so that the load generator — which shares
/// the machine with the server — spends on each request only what sending
/// it and checking its answer cost ([`http1`]).
struct Load {
    pool: http1::Pool,
    target: String,
    /// The request head: method, path, host, authorization, content type.
    head: Vec<u8>,
    /// `decisions`: a request the worker may make, and one it may not.
    allowed: bytes::Bytes,
    denied: bytes::Bytes,
}

impl Load {
    fn new(base: &str, key: &str, target: &str) -> Result<Self, String> {
        let pool = http1::Pool::new(base)?;
        let (method, path) = match target {
            "verify" => ("GET", "/api/v1/verify/x.bench.worker"),
            "health" => ("GET", "/health"),
            "route" => ("POST", "/api/v1/route"),
            _ => ("POST", "/api/v1/decisions"),
        };
        let headers = match method {
            // Anonymous, as the SDKs call them.
            "GET" => vec![],
            _ => vec![
                format!("Authorization: Bearer {key}"),
                "Content-Type: application/json".to_string(),
            ],
        };
        let decision = |cap: &str| {
            bytes::Bytes::from(
                json!({"worker_id": "x.bench.worker", "capability": cap, "env": "dev", "data_label": "PUBLIC"})
                    .to_string(),
            )
        };
        Ok(Self {
            head: pool.head(method, path, &headers),
            pool,
            target: target.to_string(),
            allowed: decision("cap.bench.read"),
            denied: decision("cap.bench.undeclared"),
        })
    }

    /// Request `n` of the load; Ok when it was answered as it should be.
    async fn one(&self, n: u64) -> Result<(), String> {
        match self.target.as_str() {
            "verify" => {
                let resp = self.get().await?;
                match serde_json::from_slice::<Verified>(&resp) {
                    Ok(v) if v.status == "active" => Ok(()),
                    _ => Err(String::from_utf8_lossy(&resp).into_owned()),
                }
            }
            "health" => self.get().await.map(|_| ()),
            target => {
                // One in ten is denied (a capability no worker declares and
                // no rule routes), as in real traffic.
                let denied = n.is_multiple_of(10);
                let body = if target == "route" {
                    let cap = if denied {
                        "cap.bench.undeclared"
                    } else {
                        "cap.bench.read"
                    };
                    bytes::Bytes::from(format!(
                        r#"{{"capability_id":"{cap}","env":"dev","data_label":"PUBLIC","tenant_risk":"low","qos_class":"P2","correlation_id":"{}"}}"#,
                        uuid::Uuid::new_v4()
                    ))
                } else if denied {
                    self.denied.clone()
                } else {
                    self.allowed.clone()
                };
                self.decided(&body).await
            }
        }
    }

    async fn get(&self) -> Result<Vec<u8>, String> {
        let answer = self.pool.send(&self.head, b"").await?;
        if (200..300).contains(&answer.status) {
            Ok(answer.body)
        } else {
            Err(format!(
                "{}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ))
        }
    }

    /// One decision (or route) call; Ok when it was answered with a proof.
    async fn decided(&self, body: &[u8]) -> Result<(), String> {
        let answer = self.pool.send(&self.head, body).await?;
        match serde_json::from_slice::<Proof>(&answer.body) {
            Ok(Proof { proof: Some(_) }) if answer.status == 200 => Ok(()),
            _ => Err(format!(
                "{}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            )),
        }
    }
}

/// How many times `op` runs in about `for_how_long`, per second.
fn per_second(
    for_how_long: Duration,
    mut op: impl FnMut() -> Result<(), String>,
) -> Result<f64, String> {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < for_how_long {
        op()?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// This machine's limits for a decision's parts: Ed25519 signatures (the
/// receipt's; the same crate the registry signs with) and 8 kB
/// fdatasyncs (a commit's WAL flush) per second, on one core.
fn print_limits() -> Result<(), String> {
    use ed25519_dalek::Signer;
    use std::io::{Seek, Write};
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let digest = [0x5a_u8; 32];
    let signs = per_second(Duration::from_secs(1), || {
        std::hint::black_box(key.sign(std::hint::black_box(&digest)));
        Ok(())
    })?;
    let mut file = tempfile::tempfile().map_err(|e| format!("a temp file: {e}"))?;
    let page = [0u8; 8192];
    let syncs = per_second(Duration::from_secs(1), || {
        file.rewind().map_err(|e| e.to_string())?;
        file.write_all(&page).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())
    })?;
    println!("| limit | per second |");
    println!("|---|---:|");
    println!("| Ed25519 signatures (one core) | {signs:.0} |");
    println!(
        "| 8 kB write + fdatasync ({}) | {syncs:.0} |",
        std::env::temp_dir().display()
    );
    Ok(())
}

/// Latencies in microseconds, 1 µs to 10 min, three significant digits.
fn histogram() -> Histogram<u64> {
    // Constant bounds, valid by construction.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("1 µs to 10 min at 3 digits is valid")
}

/// Runs `concurrency` loops for `duration` (closed loop); the latencies
/// (µs) and the error count.
async fn load(work: &Arc<Load>, concurrency: usize, duration: Duration) -> (Histogram<u64>, u64) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for lane in 0..concurrency {
        let work = work.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let mut errors = 0u64;
            let mut n = lane as u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                match work.one(n).await {
                    Ok(()) => {
                        let _ = latencies.record(started.elapsed().as_micros() as u64);
                    }
                    Err(_) => errors += 1,
                }
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let mut all = histogram();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            let _ = all.add(&l);
            errors += e;
        }
    }
    (all, errors)
}

/// The due time of request `n` at `rate` per second from `start`.
fn due(start: Instant, rate: u32, n: u64) -> Instant {
    start + Duration::from_nanos(n.saturating_mul(1_000_000_000) / u64::from(rate))
}

/// Sends at `rate` per second for `duration` (open loop): each request at
/// its due time, however many are unanswered (up to `max_in_flight`; one
/// due beyond it is an error). Latency counts from the due time. The
/// latencies (µs), the error count and how many answers came within
/// `duration` (the achieved rate's numerator).
async fn open_load(
    work: &Arc<Load>,
    rate: u32,
    duration: Duration,
    max_in_flight: usize,
) -> (Histogram<u64>, u64, u64) {
    let latencies = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let in_window = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + duration;
    let total = (u128::from(rate) * duration.as_nanos() / 1_000_000_000) as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let at = due(start, rate, n);
        tokio::time::sleep_until(at.into()).await;
        if in_flight.fetch_add(1, Ordering::Relaxed) >= max_in_flight {
            in_flight.fetch_sub(1, Ordering::Relaxed);
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let work = work.clone();
        let (latencies, errors, in_flight, in_window) = (
            latencies.clone(),
            errors.clone(),
            in_flight.clone(),
            in_window.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let result = work.one(n).await;
            let took = at.elapsed().as_micros() as u64;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            match result {
                Ok(()) => {
                    if Instant::now() <= end {
                        in_window.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(took);
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let latencies = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (
        latencies,
        errors.load(Ordering::Relaxed) as u64,
        in_window.load(Ordering::Relaxed) as u64,
    )
}

/// A latency percentile in milliseconds.
fn ms(h: &Histogram<u64>, p: f64) -> f64 {
    h.value_at_quantile(p / 100.0) as f64 / 1000.0
}

// One thread: the load loop needs a fraction of a core (15 µs a decision),
// and a second thread of its own would only contend with the server's for
// the machine's two cores.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.limits {
        return print_limits();
    }
    let operator_key = args
        .operator_key
        .clone()
        .ok_or("--operator-key (or HALL_BENCH_OPERATOR_KEY) is needed to drive a registry")?;
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
        &operator_key,
        json!({"id": tenant, "display_name": "benchmark"}),
    )
    .await?;
    let key = post(&http, format!("{base}/api/v1/api-keys"), &operator_key,
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

    let work = Arc::new(Load::new(&base, &key, &args.target)?);
    let unit = if args.target == "verify" {
        "verifies/s"
    } else {
        "decisions/s"
    };
    if !args.rate.is_empty() {
        println!("| rate /s | {unit} | p50 ms | p99 ms | p99.9 ms | max ms | errors |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for rate in args.rate {
            let warmup = Duration::from_secs(args.warmup);
            open_load(&work, rate, warmup, args.max_in_flight).await;
            let (latencies, errors, answered) = open_load(
                &work,
                rate,
                Duration::from_secs(args.seconds),
                args.max_in_flight,
            )
            .await;
            println!(
                "| {rate} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} |",
                answered as f64 / args.seconds as f64,
                ms(&latencies, 50.0),
                ms(&latencies, 99.0),
                ms(&latencies, 99.9),
                latencies.max() as f64 / 1000.0,
            );
        }
        return Ok(());
    }
    println!("| concurrency | {unit} | p50 ms | p99 ms | p99.9 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for c in args.concurrency {
        load(&work, c, Duration::from_secs(args.warmup)).await;
        let started = Instant::now();
        let (latencies, errors) = load(&work, c, Duration::from_secs(args.seconds)).await;
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "| {c} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} |",
            latencies.len() as f64 / elapsed,
            ms(&latencies, 50.0),
            ms(&latencies, 99.0),
            ms(&latencies, 99.9),
            latencies.max() as f64 / 1000.0,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_evenly_at_the_rate() {
        let start = Instant::now();
        assert_eq!(due(start, 1000, 0), start);
        assert_eq!(due(start, 1000, 1) - start, Duration::from_millis(1));
        assert_eq!(due(start, 3, 3) - start, Duration::from_secs(1));
        assert_eq!(
            due(start, 7, 10) - start,
            Duration::from_nanos(1_428_571_428)
        );
    }

    #[test]
    fn percentiles_read_in_milliseconds_to_three_digits() {
        let mut h = histogram();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap();
        }
        assert!((ms(&h, 50.0) - 5.0).abs() < 0.01, "{}", ms(&h, 50.0));
        assert!((ms(&h, 99.0) - 9.9).abs() < 0.01, "{}", ms(&h, 99.0));
        // To three significant digits: the top of 10 ms's bucket.
        assert!((10_000..=10_010).contains(&h.max()), "{}", h.max());
    }
}
