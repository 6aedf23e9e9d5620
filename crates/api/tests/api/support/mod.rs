//! The HTTP test helper: the real server, in this process, on an ephemeral
//! port, with a fresh database (and, when asked, its own Redis key space).

use std::path::PathBuf;
use std::time::Duration;

use api::config::{Config, LogFormat};
use api::runtime::{Registry, RunningRegistry};
use testkit::{TestDb, TestRedis};

mod client;
mod process;

pub use client::{card, code, decision, each, key_proof, message, public_key_b64, sha, Worker};
pub use process::{alive, data_root, free_port, postmaster_pid, Proc};

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub redis: Option<TestRedis>,
    /// The operator's API key (given as HALL_BOOTSTRAP_API_KEY).
    pub operator_key: String,
    pub data_dir: tempfile::TempDir,
    pub config: Config,
    running: Option<RunningRegistry>,
}

/// A configuration with nothing taken from the environment.
pub fn test_config(database_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: None,
        database_url: Some(database_url.to_string()),
        redis_url: None,
        redis_prefix: "hall:".into(),
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        max_body_bytes: 256 * 1024,
        postgres_bin_dir: None,
        db_max_connections: 5,
        workers: Some(2),
        shutdown_timeout_secs: 5,
        bootstrap_api_key: None,
        session_ttl_secs: 3600,
        rate_limit_per_minute: 0,
        anon_rate_limit_per_minute: 0,
        trusted_proxies: Default::default(),
        org_claims_need_approval: false,
        telemetry_ids_per_day: wcp::telemetry::DEFAULT_IDS_PER_DAY,
        ban_reports_per_day: policy::ban_review::DEFAULT_REPORTS_PER_DAY,
        receipt_signing_key: None,
        receipt_signing_key_file: None,
        session_secret: None,
        session_secret_file: None,
        metrics_token: None,
        webhook_allow_private: false,
        webhook_retry_schedule: Default::default(),
        webhook_disable_after_days: 5,
        webhook_secret_overlap_secs: 86400,
        webhook_timeout_secs: 10,
        webhook_poll_ms: 1000,
        webhook_retention_days: 30,
        approval_sweep_secs: 15,
        chain_check_secs: 1,
        checkpoint_interval: std::time::Duration::from_millis(200),
        log_origin: None,
        witness_keys: Vec::new(),
    }
}

impl TestServer {
    /// A server on a fresh database, caching in-process.
    pub async fn start() -> Self {
        Self::start_with(|_| {}, false).await
    }

    /// A server on a fresh database and its own Redis key space.
    pub async fn start_with_redis() -> Self {
        Self::start_with(|_| {}, true).await
    }

    /// A server whose configuration the test adjusts first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config), with_redis: bool) -> Self {
        let db = TestDb::create().await;
        let redis = with_redis.then(TestRedis::new);
        let mut config = test_config(db.url());
        let data_dir = tempfile::tempdir().expect("data dir");
        config.data_dir = Some(data_dir.path().to_path_buf());
        let operator_key = format!("phk_test_operator_{}", uuid::Uuid::new_v4().simple());
        config.bootstrap_api_key = Some(operator_key.clone());
        if let Some(r) = &redis {
            config.redis_url = Some(r.url().to_string());
            config.redis_prefix = r.prefix().to_string();
        }
        adjust(&mut config);
        let registry = Registry::start(&config).await.expect("server starts");
        let config_kept = config.clone();
        let running = registry.spawn();
        let base = format!("http://{}", running.addr);
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            db,
            redis,
            operator_key,
            data_dir,
            config: config_kept,
            running: Some(running),
        }
    }

    /// A second server on the same database and Redis key space, as a replica
    /// behind a load balancer would be. Stop it before `self`.
    pub async fn replica(&self) -> (String, RunningRegistry) {
        let registry = Registry::start(&self.config).await.expect("replica starts");
        let running = registry.spawn();
        (format!("http://{}", running.addr), running)
    }

    /// Sends a request with an optional bearer credential and JSON body;
    /// returns the status and the parsed body (`Null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        request(&self.client, method, &self.url(path), bearer, body).await
    }

    /// Every receipt of `key`'s tenant, verified offline with nothing but
    /// the published `/api/v1/keys`: the number of receipts, or the first break.
    pub async fn verify_receipts(&self, key: &str) -> Result<usize, audit::ChainError> {
        use base64::Engine;
        let (_, keys) = self
            .call(reqwest::Method::GET, "/api/v1/keys", None, None)
            .await;
        let keys: std::collections::HashMap<String, ed25519_dalek::VerifyingKey> = keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(k["public_key"].as_str().unwrap())
                    .unwrap();
                let arr: [u8; 32] = bytes.try_into().unwrap();
                (
                    k["kid"].as_str().unwrap().to_string(),
                    ed25519_dalek::VerifyingKey::from_bytes(&arr).unwrap(),
                )
            })
            .collect();
        let (status, export) = self
            .call(
                reqwest::Method::GET,
                "/api/v1/audit/receipts",
                Some(key),
                None,
            )
            .await;
        assert_eq!(status, 200, "{export}");
        let receipts: Vec<audit::Receipt> =
            serde_json::from_value(export["receipts"].clone()).unwrap();
        audit::verify_chain(&receipts, &keys)
    }

    /// Creates a tenant as the operator.
    pub async fn create_tenant(&self, id: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/tenants",
                Some(&self.operator_key),
                Some(serde_json::json!({"id": id, "display_name": format!("Tenant {id}")})),
            )
            .await;
        assert_eq!(status, 201, "creating tenant {id}: {body}");
    }

    /// Creates an API key for `tenant` as the operator; returns `(id, secret)`.
    pub async fn create_key(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/api-keys",
                Some(&self.operator_key),
                Some(serde_json::json!({
                    "name": format!("key-{}", uuid::Uuid::new_v4().simple()),
                    "scopes": scopes,
                    "tenant_id": tenant,
                })),
            )
            .await;
        assert_eq!(status, 201, "creating a key for {tenant}: {body}");
        (
            body["id"].as_str().unwrap().to_string(),
            body["key"].as_str().unwrap().to_string(),
        )
    }

    /// A tenant with an API key of the given scopes: `(key id, secret)`.
    pub async fn tenant_with_key(&self, tenant: &str, scopes: &[&str]) -> (String, String) {
        self.create_tenant(tenant).await;
        self.create_key(tenant, scopes).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A counter from `/metrics`, by its whole series name (with labels).
    pub async fn counter(&self, series: &str) -> u64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} is not in /metrics"))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Stops gracefully; the database is dropped with the value.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// The workspace root, for reading checked-in files.
/// Sends a request to `url` with an optional bearer credential and JSON body;
/// returns the status and the parsed body (`Null` when empty, a string when
/// it is not JSON).
pub async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = client.request(method, url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, value)
}

/// `GET url` with `key` in the `X-API-Key` header instead of as a bearer token.
pub async fn get_with_key_header(url: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap()
}

/// A `hall-registry` process with `envs`, once it answers as healthy
/// (within 30 s).
pub async fn healthy(envs: &[(&str, &str)]) -> Proc {
    let mut p = Proc::spawn(envs);
    p.wait_healthy(Duration::from_secs(30)).await;
    p
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Asserts the one error shape and returns `(code, message)`.
pub async fn error_of(resp: reqwest::Response) -> (String, String) {
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ct.starts_with("application/json"),
        "error content type {ct:?}"
    );
    let body: serde_json::Value = resp.json().await.expect("JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_string();
    assert!(!message.is_empty());
    (code, message)
}
