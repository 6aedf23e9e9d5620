//! Shared by the `hallctl` test binaries: the real server in this process on
//! a fresh database, and `hallctl` run as a user would run it — a child
//! process, no terminal on stdin, none of the caller's `PYHALL_*` variables,
//! and a config directory of the test's own (never the developer's login).
#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::Command;

use api::config::{Config, LogFormat};
use api::runtime::{Registry, RunningRegistry};
use serde_json::{json, Value};

pub const HALLCTL: &str = env!("CARGO_BIN_EXE_hallctl");

/// The server, its operator key and an HTTP client for setting things up.
pub struct Server {
    pub db: testkit::TestDb,
    pub data: tempfile::TempDir,
    pub url: String,
    pub operator: String,
    pub http: reqwest::Client,
    running: Option<RunningRegistry>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A registry that generated its operator key, as with no configuration:
    /// it wrote `<data dir>/operator-api-key`; `operator` is read from there.
    pub async fn start_generating_the_operator_key() -> Self {
        let mut srv = Self::start_with(|c| c.bootstrap_api_key = None).await;
        let file = srv.data.path().join("operator-api-key");
        srv.operator = std::fs::read_to_string(&file)
            .expect("the server wrote its operator key file")
            .trim()
            .to_string();
        srv
    }

    /// The server with its configuration changed by `configure` first.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let db = testkit::TestDb::create().await;
        let data = tempfile::tempdir().expect("tempdir");
        let operator = format!("phk_cli_operator_{}", uuid::Uuid::new_v4().simple());
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: Some(data.path().to_path_buf()),
            database_url: Some(db.url().to_string()),
            redis_url: None,
            redis_prefix: "hall:".into(),
            log_format: LogFormat::Text,
            log_level: "warn".into(),
            max_body_bytes: 1024 * 1024,
            postgres_bin_dir: None,
            db_max_connections: 5,
            workers: Some(1),
            shutdown_timeout_secs: 5,
            bootstrap_api_key: Some(operator.clone()),
            session_ttl_secs: 3600,
            rate_limit_per_minute: 0,
            org_claims_need_approval: false,
            telemetry_ids_per_day: 10_000,
            ban_reports_per_day: 100,
            receipt_signing_key: None,
            receipt_signing_key_file: None,
            session_secret: None,
            session_secret_file: None,
            metrics_token: None,
            anon_rate_limit_per_minute: 0,
            trusted_proxies: Default::default(),
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
        };
        configure(&mut config);
        let running = Registry::start(&config)
            .await
            .expect("server starts")
            .spawn();
        Self {
            url: format!("http://{}", running.addr),
            db,
            data,
            operator,
            http: reqwest::Client::new(),
            running: Some(running),
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// POSTs as `key` and returns the JSON answer (set-up only).
    pub async fn post(&self, path: &str, key: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("JSON")
    }

    /// A tenant and its admin key.
    pub async fn tenant(&self, id: &str) -> String {
        self.post(
            "/api/v1/tenants",
            &self.operator,
            json!({"id": id, "display_name": id}),
        )
        .await;
        let key = self
            .post(
                "/api/v1/api-keys",
                &self.operator,
                json!({"name": "admin", "scopes": ["admin"], "tenant_id": id}),
            )
            .await;
        key["key"].as_str().expect("key").to_string()
    }

    /// `hallctl` pointed at this server (PYHALL_REGISTRY), with `key` (PYHALL_API_KEY).
    pub fn cli(&self, key: &str) -> Cli {
        Cli::new()
            .env("PYHALL_REGISTRY", &self.url)
            .env("PYHALL_API_KEY", key)
    }
}

/// What a `hallctl` run left.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout as JSON; fails the test when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:#?}");
        &self.stdout
    }

    /// Asserts `code` and returns stderr.
    pub fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:#?}");
        &self.stderr
    }

    /// Neither stream mentions `secret`.
    pub fn hides(&self, secret: &str) -> bool {
        !self.stdout.contains(secret) && !self.stderr.contains(secret)
    }
}

/// A `hallctl` invocation's environment.
#[derive(Clone)]
pub struct Cli {
    /// Set (`Some`) or removed (`None`).
    envs: Vec<(String, Option<String>)>,
}

impl Cli {
    /// No PYHALL_* variables, and a config directory that does not exist.
    pub fn new() -> Self {
        Self { envs: Vec::new() }
            .env("XDG_CONFIG_HOME", "/nonexistent/hallctl-test-config")
            .env("HOME", "/nonexistent/hallctl-test-home")
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.retain(|(n, _)| n != name);
        self.envs.push((name.to_string(), Some(value.to_string())));
        self
    }

    /// Runs without this variable.
    pub fn without(mut self, name: &str) -> Self {
        self.envs.retain(|(n, _)| n != name);
        self.envs.push((name.to_string(), None));
        self
    }

    /// Stores logins under `dir` (as `$XDG_CONFIG_HOME`).
    pub fn config_home(self, dir: &Path) -> Self {
        self.env("XDG_CONFIG_HOME", dir.to_str().expect("UTF-8 path"))
    }

    pub fn run_blocking(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(HALLCTL);
        for name in [
            "PYHALL_REGISTRY",
            "PYHALL_REGISTRY_URL",
            "PYHALL_API_KEY",
            "PYHALL_NAMESPACE",
            "PYHALL_ENV",
        ] {
            cmd.env_remove(name);
        }
        cmd.args(args);
        for (name, value) in &self.envs {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let out = cmd.output().expect("hallctl runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// Runs off the async runtime, which serves the registry meanwhile.
    pub async fn run(&self, args: &[&str]) -> Out {
        let (cli, args) = (
            self.clone(),
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run_blocking(&args)
        })
        .await
        .expect("hallctl thread")
    }
}

/// `<config home>/hall-registry/credentials.json`.
pub fn credentials_file(config_home: &Path) -> PathBuf {
    config_home.join("hall-registry").join("credentials.json")
}

/// A proxy to `upstream` that loses the first answer: it forwards the first
/// request, waits for the registry's answer, then closes the client's
/// connection without passing the answer on — what a dropped connection
/// after the request was sent looks like. Later connections pass through.
pub fn losing_first_answer(upstream: &str) -> String {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn read_request(client: &mut TcpStream) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = client.read(&mut chunk).expect("read the request");
            assert!(n > 0, "the client closed before sending its request");
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("content-length"));
            if buf.len() >= end + 4 + length {
                return buf;
            }
        }
    }

    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut first = true;
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                return;
            };
            if std::mem::take(&mut first) {
                let request = read_request(&mut client);
                server.write_all(&request).expect("forward");
                let mut answer = [0u8; 1];
                let _ = server.read(&mut answer); // the registry has answered
                drop(client);
                continue;
            }
            let (mut c2, mut s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("http://{addr}")
}
