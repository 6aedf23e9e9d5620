//! Changes across processes: the ban set between two `hall-registry`
//! processes on one database (with Redis pub/sub, and with PostgreSQL
//! LISTEN/NOTIFY), one whose Redis dies mid-test, and revocations of workers
//! and keys that the other process holds in memory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, healthy, request, Proc};
use serde_json::{json, Value};

const SHA: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

struct Cluster {
    operator: String,
    client: reqwest::Client,
}

impl Cluster {
    fn new(operator: String) -> Self {
        Self {
            operator,
            client: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        p: &Proc,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        request(&self.client, method, &p.url(path), key, body).await
    }

    /// An anonymous GET.
    async fn get(&self, p: &Proc, path: &str) -> (u16, Value) {
        self.call(p, reqwest::Method::GET, path, None, None).await
    }

    /// What `p` says of worker `x.prop.worker` (`GET /verify`, anonymous).
    async fn verify(&self, p: &Proc) -> (u16, Value) {
        self.get(p, "/api/v1/verify/x.prop.worker").await
    }

    /// A request without a body, made with the operator key.
    async fn as_operator(&self, p: &Proc, method: reqwest::Method, path: &str) -> (u16, Value) {
        self.call(p, method, path, Some(&self.operator), None).await
    }

    /// Confirms ban report `report` through `p`, as the operator.
    async fn confirm(&self, p: &Proc, report: &str) -> (u16, Value) {
        self.as_operator(
            p,
            reqwest::Method::POST,
            &format!("/api/v1/ban-list/reports/{report}/confirm"),
        )
        .await
    }

    /// A request that must answer `expected`; returns the answer's body.
    async fn expect(
        &self,
        p: &Proc,
        (method, path): (reqwest::Method, &str),
        key: &str,
        body: Value,
        expected: u16,
    ) -> Value {
        let (status, answer) = self.call(p, method, path, Some(key), Some(body)).await;
        assert_eq!(status, expected, "{path}: {answer}");
        answer
    }

    /// A tenant whose worker `x.prop.worker` is attested with SHA; returns a report id for SHA.
    async fn worker_with_reported_hash(&self, p: &Proc) -> String {
        use reqwest::Method;
        let op = &self.operator;
        let tenant = json!({"id": "org.prop", "display_name": "P"});
        self.expect(p, (Method::POST, "/api/v1/tenants"), op, tenant, 201)
            .await;
        let key = json!({"name": "k", "scopes": ["admin"], "tenant_id": "org.prop"});
        let k = self
            .expect(p, (Method::POST, "/api/v1/api-keys"), op, key, 201)
            .await;
        let key = k["key"].as_str().unwrap();
        let worker = json!({"name": "worker", "namespace": "x.prop", "capabilities": ["cap.a.b"]});
        self.expect(p, (Method::POST, "/api/v1/workers"), key, worker, 201)
            .await;
        let attest = json!({"sha256": SHA, "ai_generated": false});
        let path = "/api/v1/workers/x.prop.worker/attest";
        self.expect(p, (Method::PUT, path), key, attest, 200).await;
        let report = json!({"sha256": SHA, "reason": "malware"});
        let r = self
            .expect(
                p,
                (Method::POST, "/api/v1/ban-list/report"),
                key,
                report,
                201,
            )
            .await;
        r["id"].as_str().unwrap().to_string()
    }

    async fn wait_subscribed(&self, p: &Proc) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, ready) = self.get(p, "/readyz").await;
            if ready["bans"] == "subscribed" && ready["facts"] == "subscribed" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ban or facts cache never subscribed: {ready}\n{}",
                p.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Confirms through `a`, then measures how long until `b` reports the worker banned.
    async fn ban_seen_within(&self, a: &Proc, b: &Proc, report: &str) -> Duration {
        let (s, _) = self.verify(b).await;
        assert_eq!(s, 200);
        let (s, c) = self.confirm(a, report).await;
        assert_eq!(s, 200, "{c}");
        let confirmed = Instant::now();
        loop {
            let (_, v) = self.verify(b).await;
            if v["status"] == "banned" {
                assert_eq!(v["banned"], true);
                return confirmed.elapsed();
            }
            assert!(
                confirmed.elapsed() < Duration::from_secs(5),
                "never banned in B: {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A fresh bootstrap operator key.
fn operator_key() -> String {
    format!("phk_prop_{}", uuid::Uuid::new_v4().simple())
}

fn envs<'a>(
    db: &'a str,
    operator: &'a str,
    redis: Option<(&'a str, &'a str)>,
) -> Vec<(&'a str, &'a str)> {
    let mut e = vec![
        ("DATABASE_URL", db),
        ("HALL_BOOTSTRAP_API_KEY", operator),
        ("HALL_LOG_LEVEL", "warn"),
    ];
    if let Some((url, prefix)) = redis {
        e.push(("REDIS_URL", url));
        e.push(("HALL_REDIS_PREFIX", prefix));
    }
    e
}

/// Two processes on one database (and, with Redis, one key space), both
/// subscribed, with worker `x.prop.worker` attested with SHA and SHA reported.
struct Pair {
    a: Proc,
    b: Proc,
    cluster: Cluster,
    report: String,
    db: testkit::TestDb,
    _space: testkit::TestRedis,
}

impl Pair {
    async fn start(with_redis: bool) -> Self {
        let db = testkit::TestDb::create().await;
        let space = testkit::TestRedis::new();
        let operator = operator_key();
        let redis = with_redis.then(|| (space.url(), space.prefix()));
        let a = healthy(&envs(db.url(), &operator, redis)).await;
        let b = healthy(&envs(db.url(), &operator, redis)).await;
        let cluster = Cluster::new(operator);
        let report = cluster.worker_with_reported_hash(&a).await;
        cluster.wait_subscribed(&a).await;
        cluster.wait_subscribed(&b).await;
        Self {
            a,
            b,
            cluster,
            report,
            db,
            _space: space,
        }
    }

    fn stop(mut self) {
        assert!(self.a.terminate().success());
        assert!(self.b.terminate().success());
    }
}

async fn two_processes(with_redis: bool) {
    let pair = Pair::start(with_redis).await;
    let (cluster, b) = (&pair.cluster, &pair.b);
    let took = cluster.ban_seen_within(&pair.a, b, &pair.report).await;
    assert!(
        took < Duration::from_secs(1),
        "process B saw the ban after {took:?}"
    );
    // B's copy came from the announcement, not a fallback read.
    let (_, ready) = cluster.get(b, "/readyz").await;
    assert_eq!(ready["bans"], "subscribed");
    pair.stop();
}

/// A ban written by plain SQL (an operator in psql, a restore), which no
/// process announces: both processes enforce it within a second.
async fn a_ban_written_in_sql_is_enforced_by(with_redis: bool) {
    let pair = Pair::start(with_redis).await;
    let cluster = &pair.cluster;
    for p in [&pair.a, &pair.b] {
        assert_eq!(cluster.verify(p).await.1["banned"], false);
    }

    let pool = sqlx::PgPool::connect(pair.db.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO bans (sha256, reason, source, reported_at) VALUES ($1, 'psql', 'operator', now())",
    )
    .bind(SHA)
    .execute(&pool)
    .await
    .unwrap();
    let written = Instant::now();

    for p in [&pair.a, &pair.b] {
        loop {
            let (_, v) = cluster.verify(p).await;
            if v["banned"] == true {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "a ban written in SQL was not enforced within a second: {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    pair.stop();
}

#[tokio::test]
async fn a_ban_written_in_sql_is_enforced_everywhere_with_redis() {
    a_ban_written_in_sql_is_enforced_by(true).await;
}

#[tokio::test]
async fn a_ban_written_in_sql_is_enforced_everywhere_without_redis() {
    a_ban_written_in_sql_is_enforced_by(false).await;
}

#[tokio::test]
async fn a_ban_confirmed_in_one_process_is_enforced_by_another_within_a_second_through_redis() {
    two_processes(true).await;
}

#[tokio::test]
async fn without_redis_the_ban_travels_by_postgres_notify_within_a_second() {
    two_processes(false).await;
}

/// A Redis of this test's own, so it can be stopped.
struct OwnRedis {
    child: Child,
    url: String,
}

impl OwnRedis {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (.ci/run installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, url }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn when_redis_stops_verify_and_the_ban_list_keep_answering_from_postgres_announcements() {
    let db = testkit::TestDb::create().await;
    let mut redis = OwnRedis::start();
    let operator = operator_key();
    let redis_url = redis.url.clone();
    let mut p = healthy(&envs(db.url(), &operator, Some((&redis_url, "hall:")))).await;
    let cluster = Cluster::new(operator);
    let report = cluster.worker_with_reported_hash(&p).await;
    cluster.wait_subscribed(&p).await;

    redis.stop();
    let started = Instant::now();
    let (s, v) = cluster.verify(&p).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("active")), "{v}");
    let (s, list) = cluster.get(&p, "/api/v1/ban-list").await;
    assert_eq!((s, list), (200, json!([])));
    // A ban confirmed while Redis is down is still enforced.
    let (s, _) = cluster.confirm(&p, &report).await;
    assert_eq!(s, 200);
    let (s, v) = cluster.verify(&p).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("banned")), "{v}");
    let (s, list) = cluster.get(&p, "/api/v1/ban-list").await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)));
    let (s, ready) = cluster.get(&p, "/readyz").await;
    assert_eq!(s, 200, "PostgreSQL is up, so the server is ready: {ready}");
    assert!(
        ready["cache"].as_str().unwrap().starts_with("degraded"),
        "{ready}"
    );
    // Redis was only the fast path: PostgreSQL still announces ban changes,
    // so the copy stays trusted.
    assert_eq!(ready["bans"], "subscribed");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers slowed to a crawl: {:?}",
        started.elapsed()
    );
    assert!(p.terminate().success());
}

/// Polls a decision through `p` until `done` holds for its status and body;
/// returns how long that took.
async fn decision_until(
    cluster: &Cluster,
    p: &Proc,
    key: &str,
    done: impl Fn(u16, &Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let (s, d) = cluster
            .call(
                p,
                reqwest::Method::POST,
                "/api/v1/decisions",
                Some(key),
                Some(
                    json!({"worker_id": "x.prop.worker", "capability": "cap.a.b",
                    "env": "dev", "data_label": "PUBLIC"}),
                ),
            )
            .await;
        if done(s, &d) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never happened: {s} {d}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn worker_and_key_revoked_through_one_process_are_refused_by_the_other_within_a_second() {
    use reqwest::Method;
    let db = testkit::TestDb::create().await;
    let operator = operator_key();
    let mut a = healthy(&envs(db.url(), &operator, None)).await;
    let mut b = healthy(&envs(db.url(), &operator, None)).await;
    let cluster = Cluster::new(operator);
    cluster.worker_with_reported_hash(&a).await;
    let key = json!({"name": "decider", "scopes": ["decisions:write"], "tenant_id": "org.prop"});
    let k = cluster
        .expect(
            &a,
            (Method::POST, "/api/v1/api-keys"),
            &cluster.operator,
            key,
            201,
        )
        .await;
    let decider = k["key"].as_str().unwrap().to_string();
    let decider_id = k["id"].as_str().unwrap().to_string();
    cluster.wait_subscribed(&a).await;
    cluster.wait_subscribed(&b).await;

    // B decides (and keeps the key and worker in memory).
    for _ in 0..3 {
        decision_until(&cluster, &b, &decider, |s, d| {
            s == 200 && d["denied"] == false
        })
        .await;
    }
    let (s, r) = cluster
        .as_operator(
            &a,
            Method::POST,
            "/api/v1/workers/x.prop.worker/revoke?tenant_id=org.prop",
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let took = decision_until(&cluster, &b, &decider, |s, d| {
        s == 200 && d["deny_code"] == "DENY_WORKER_REVOKED"
    })
    .await;
    assert!(
        took < Duration::from_secs(1),
        "B allowed a revoked worker for {took:?}"
    );

    let (s, r) = cluster
        .as_operator(
            &a,
            Method::DELETE,
            &format!("/api/v1/api-keys/{decider_id}?tenant_id=org.prop"),
        )
        .await;
    assert!(s == 200 || s == 204, "{s} {r}");
    let took = decision_until(&cluster, &b, &decider, |s, d| {
        s == 401 && d["error"]["code"] == "credentials_revoked"
    })
    .await;
    assert!(
        took < Duration::from_secs(1),
        "B accepted a revoked key for {took:?}"
    );
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
