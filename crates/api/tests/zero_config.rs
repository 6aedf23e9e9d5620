//! The `hall-registry` binary as a new user runs it: no DATABASE_URL, no
//! REDIS_URL. It starts a private PostgreSQL, serves, stops it on SIGTERM and
//! reuses the data on the next start. Also: two processes starting at once
//! against one database, and start-up errors that explain themselves.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hall-registry");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `hall-registry` process with its stdout and stderr collected.
struct Proc {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Proc {
    fn spawn(envs: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        // Zero-config: nothing from the test's environment.
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HALL_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("hall-registry starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Self {
            child,
            port,
            stdout,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    async fn wait_healthy(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        let client = reqwest::Client::new();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hall-registry exited with {status}\n{}", self.output());
            }
            if let Ok(resp) = client.get(self.url("/health")).send().await {
                if resp.status() == 200 {
                    return started.elapsed();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no /health within {within:?}\n{}", self.output());
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit after SIGTERM\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate();
        }
    }
}

/// A data directory the unprivileged `postgres` account can enter when the
/// tests run as root (temp dirs are created 0700).
fn data_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("hall-zc")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

fn postmaster_pid(cluster: &Path) -> Option<i32> {
    std::fs::read_to_string(cluster.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    unsafe { libc::kill(pid, 0) == 0 }
}

fn instance_line(p: &Proc) -> String {
    p.stdout
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("Data:"))
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn zero_config_start_serves_stops_its_postgres_and_reuses_the_data() {
    let root = data_root();
    let data = root.path().join("data");
    let data_s = data.to_str().unwrap();

    let mut first = Proc::spawn(&[("HALL_DATA_DIR", data_s)]);
    let took = first.wait_healthy(Duration::from_secs(30)).await;
    assert!(took < Duration::from_secs(30));

    // It says where it listens, where the Swagger UI is, and which database and cache.
    let banner = first.stdout.lock().unwrap().join("\n");
    assert!(
        banner.contains(&format!("listening on http://127.0.0.1:{}", first.port)),
        "{banner}"
    );
    assert!(banner.contains("/docs/"), "{banner}");
    assert!(banner.contains("private PostgreSQL in"), "{banner}");
    assert!(banner.contains("in-process cache"), "{banner}");
    assert!(instance_line(&first).contains("new registry"), "{banner}");

    let cluster = data.join("postgres");
    let pid = postmaster_pid(&cluster).expect("postmaster.pid while serving");
    assert!(alive(pid));

    let status = first.terminate();
    assert!(status.success(), "exit {status}\n{}", first.output());
    assert!(!alive(pid), "private PostgreSQL {pid} survived SIGTERM");
    assert!(
        postmaster_pid(&cluster).is_none(),
        "postmaster.pid left behind"
    );

    let mut second = Proc::spawn(&[("HALL_DATA_DIR", data_s)]);
    second.wait_healthy(Duration::from_secs(30)).await;
    let reused = instance_line(&second);
    assert!(reused.contains("reusing registry"), "{}", second.output());
    assert!(
        second.output().matches("initialising").count() == 0,
        "second start ran initdb again\n{}",
        second.output()
    );
    let ready = reqwest::get(second.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let second_pid = postmaster_pid(&cluster).unwrap();
    assert!(second.terminate().success());
    assert!(!alive(second_pid));
}

#[tokio::test]
async fn json_logs_carry_the_request_id_of_the_request() {
    let db = testkit::TestDb::create().await;
    let mut p = Proc::spawn(&[
        ("DATABASE_URL", db.url()),
        ("HALL_LOG_FORMAT", "json"),
        ("HALL_LOG_LEVEL", "info"),
    ]);
    p.wait_healthy(Duration::from_secs(30)).await;
    let resp = reqwest::get(p.url("/no-such-route")).await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(p.terminate().success());

    let stderr = p.stderr.lock().unwrap().clone();
    let mut found = false;
    for line in &stderr {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["span"]["request_id"] == id.as_str() {
            found = true;
            assert_eq!(v["status"], 404);
        }
    }
    assert!(
        found,
        "no log line with request_id {id}:\n{}",
        stderr.join("\n")
    );
}

#[tokio::test]
async fn two_processes_starting_at_once_on_one_database_both_serve() {
    let db = testkit::TestDb::create().await;
    let mut a = Proc::spawn(&[("DATABASE_URL", db.url())]);
    let mut b = Proc::spawn(&[("DATABASE_URL", db.url())]);
    a.wait_healthy(Duration::from_secs(30)).await;
    b.wait_healthy(Duration::from_secs(30)).await;
    for p in [&a, &b] {
        assert_eq!(reqwest::get(p.url("/readyz")).await.unwrap().status(), 200);
    }
    // Each migration applied exactly once, and one installation identity.
    let mut conn = db.connect().await;
    let dupes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT version FROM _sqlx_migrations GROUP BY version HAVING count(*) > 1) d",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(dupes, 0);
    let instances: i64 = sqlx::query_scalar("SELECT count(*) FROM registry_instance")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(instances, 1);
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[tokio::test]
async fn missing_postgres_binaries_exit_with_advice_not_a_panic() {
    let root = data_root();
    let mut p = Proc::spawn(&[
        ("HALL_DATA_DIR", root.path().join("d").to_str().unwrap()),
        ("HALL_POSTGRES_BIN_DIR", "/nonexistent/pg/bin"),
    ]);
    let status = p.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status.code(), Some(1));
    let out = p.output();
    assert!(out.contains("does not contain initdb"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[tokio::test]
async fn unreachable_database_url_exits_with_a_clear_error() {
    let port = free_port(); // nothing listens there
    let url = format!("postgres://hall:secret@127.0.0.1:{port}/hall");
    let mut p = Proc::spawn(&[("DATABASE_URL", url.as_str())]);
    let status = p.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status.code(), Some(1));
    let out = p.output();
    assert!(out.contains("PostgreSQL is unreachable"), "{out}");
    assert!(!out.contains("secret"), "the password was printed: {out}");
    assert!(!out.contains("panicked"), "{out}");
}
