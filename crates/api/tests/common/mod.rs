//! The HTTP test helper: the real server, in this process, on an ephemeral
//! port, with a fresh database (and, when asked, its own Redis key space).
#![allow(dead_code)] // each test file uses a different part of this module

use std::path::PathBuf;
use std::time::Duration;

use api::config::{Config, LogFormat};
use api::runtime::{Registry, RunningRegistry};
use testkit::{TestDb, TestRedis};

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub redis: Option<TestRedis>,
    /// The operator's API key (given as HALL_BOOTSTRAP_API_KEY).
    pub operator_key: String,
    pub data_dir: tempfile::TempDir,
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
            running: Some(running),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
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
