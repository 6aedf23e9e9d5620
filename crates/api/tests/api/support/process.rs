//! The `hall-registry` binary as a process: started with only the
//! environment a test gives it, its output collected, stopped with SIGTERM.
//! Also compiled into `tests/server_process.rs`, which runs alone.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `hall-registry` binary, for tests that run it as a user would.
const BIN: &str = env!("CARGO_BIN_EXE_hall-registry");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `hall-registry` process with its stdout and stderr collected.
pub struct Proc {
    /// The data directory when the test gave none (never the user's real one).
    _data_dir: Option<tempfile::TempDir>,
    pub child: Child,
    pub port: u16,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
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
    pub fn spawn(envs: &[(&str, &str)]) -> Self {
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
        let data_dir = (!envs.iter().any(|(k, _)| *k == "HALL_DATA_DIR")).then(data_root);
        if let Some(d) = &data_dir {
            cmd.env("HALL_DATA_DIR", d.path());
        }
        let mut child = cmd.spawn().expect("hall-registry starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Self {
            _data_dir: data_dir,
            child,
            port,
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    pub async fn wait_healthy(&mut self, within: Duration) -> Duration {
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

    pub fn terminate(&mut self) -> std::process::ExitStatus {
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
pub fn data_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("hall-zc")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

pub fn postmaster_pid(cluster: &Path) -> Option<i32> {
    std::fs::read_to_string(cluster.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

pub fn alive(pid: i32) -> bool {
    unsafe { libc::kill(pid, 0) == 0 }
}
