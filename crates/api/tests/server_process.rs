//! The `hall-registry` process around its data directory: one server per
//! data directory (a lock, released by the kernel when the process dies), a
//! busy port refused before the data directory is touched, a quiet and quick
//! shutdown, logs without colour codes when they go to a pipe, and the modes
//! of everything it creates.
//!
//! The first test makes this test process a child subreaper, so PostgreSQL
//! left behind by a killed server becomes our child: it stays a zombie until
//! we reap it, as under a supervisor that reaps late. It is in its own file
//! so that no other test shares the process.

#[path = "api/support/process.rs"]
mod process;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use process::{alive, data_root, postmaster_pid, Proc};

fn operator_key(p: &Proc) -> String {
    p.stdout
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| {
            l.split("Operator API key (shown this once): ")
                .nth(1)
                .map(|k| k.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no operator key printed\n{}", p.output()))
}

/// Lines at WARN or ERROR level in the process's logs.
fn warnings(p: &Proc) -> Vec<String> {
    p.stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .cloned()
        .collect()
}

async fn whoami(p: &Proc, key: &str) -> u16 {
    reqwest::Client::new()
        .get(p.url("/api/v1/auth/whoami"))
        .bearer_auth(key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Waits for a process to exit by itself.
fn exit_within(p: &mut Proc, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            // Let the output collectors read the last lines.
            std::thread::sleep(Duration::from_millis(200));
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after {within:?}\n{}",
            p.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, and how long the process took to exit.
fn terminate_timed(p: &mut Proc) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    let status = p.terminate();
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    (status, took)
}

/// Reaps `pid` if it is our (zombie) child; true when it is gone afterwards.
fn reap_and_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a specific pid with WNOHANG; no memory is shared.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if !alive(pid) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_exits_naming_the_first_which_keeps_serving() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only changes this process's flag.
    #[cfg(target_os = "linux")]
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    let root = data_root();
    let data = root.path().join("data");
    let data_s = data.to_str().unwrap();

    let mut first = Proc::spawn(&[("HALL_DATA_DIR", data_s)]);
    first.wait_healthy(Duration::from_secs(60)).await;
    let key = operator_key(&first);
    let cluster = data.join("postgres");
    let postmaster = postmaster_pid(&cluster).expect("postmaster.pid while serving");

    // A second start on the same data directory (another port) is refused at once.
    let started = Instant::now();
    let mut second = Proc::spawn(&[("HALL_DATA_DIR", data_s)]);
    let status = exit_within(&mut second, Duration::from_secs(10));
    assert!(!status.success(), "{}", second.output());
    assert!(started.elapsed() < Duration::from_secs(5));
    let out = second.output();
    assert!(
        out.contains(&format!("pid {}", first.child.id())),
        "the message names the holder's pid {}\n{out}",
        first.child.id()
    );
    assert!(
        out.contains(data_s),
        "the message names the directory\n{out}"
    );
    assert!(!out.contains("adopting"), "{out}");
    assert!(!out.contains("panicked"), "{out}");

    // The first one is undisturbed: same PostgreSQL, still answering.
    assert_eq!(postmaster_pid(&cluster), Some(postmaster));
    assert!(alive(postmaster));
    assert_eq!(whoami(&first, &key).await, 200, "{}", first.output());

    // Killed without a chance to clean up: the kernel drops its lock, and the
    // next start adopts the PostgreSQL it left running.
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(first.child.id() as i32, libc::SIGKILL) };
    first.child.wait().unwrap();
    assert!(alive(postmaster), "PostgreSQL outlives a killed server");

    let mut third = Proc::spawn(&[("HALL_DATA_DIR", data_s)]);
    third.wait_healthy(Duration::from_secs(60)).await;
    assert!(third.output().contains("adopting"), "{}", third.output());
    assert_eq!(whoami(&third, &key).await, 200, "{}", third.output());

    // Stopping the adopted PostgreSQL is noticed at once, although it stays a
    // zombie (our child now) until we reap it.
    let (status, took) = terminate_timed(&mut third);
    assert!(status.success(), "{}", third.output());
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}\n{}",
        third.output()
    );
    let out = third.output();
    assert!(!out.contains("did not stop in time"), "{out}");
    assert!(out.contains("private PostgreSQL stopped"), "{out}");
    assert!(
        reap_and_gone(postmaster),
        "PostgreSQL {postmaster} still runs"
    );
    assert_eq!(postmaster_pid(&cluster), None, "postmaster.pid left behind");
}

#[tokio::test]
async fn a_port_in_use_is_refused_before_the_data_dir_is_touched() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let root = data_root();
    let data = root.path().join("data");
    let mut p = Proc::spawn(&[
        ("HALL_DATA_DIR", data.to_str().unwrap()),
        ("HALL_LISTEN", addr.as_str()),
    ]);
    let status = exit_within(&mut p, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", p.output());
    let out = p.output();
    assert!(out.contains(&addr), "{out}");
    assert!(out.contains("already in use"), "{out}");
    assert!(
        out.contains("HALL_LISTEN"),
        "says how to choose another\n{out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    // Nothing was created: no cluster, no receipt key, no operator key.
    let left: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "the data directory was touched: {left:?}");
    drop(busy);
}

#[tokio::test]
async fn sigterm_stops_quickly_and_quietly_and_logs_to_a_pipe_carry_no_colour() {
    let root = data_root();
    let data = root.path().join("data");
    let mut p = Proc::spawn(&[("HALL_DATA_DIR", data.to_str().unwrap())]);
    p.wait_healthy(Duration::from_secs(60)).await;
    let key = operator_key(&p);
    assert_eq!(whoami(&p, &key).await, 200);
    let postmaster = postmaster_pid(&data.join("postgres")).expect("postmaster.pid");

    let (status, took) = terminate_timed(&mut p);
    assert!(status.success(), "{}", p.output());
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}\n{}",
        p.output()
    );
    assert!(!alive(postmaster), "PostgreSQL {postmaster} survived");
    let out = p.output();
    assert!(out.contains("private PostgreSQL stopped"), "{out}");
    assert_eq!(warnings(&p), Vec::<String>::new(), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "colour codes in piped output:\n{out}"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test]
async fn the_data_dir_and_what_it_holds_get_the_tightest_modes_that_work() {
    let root = data_root();
    let data = root.path().join("data");
    let mut p = Proc::spawn(&[("HALL_DATA_DIR", data.to_str().unwrap())]);
    p.wait_healthy(Duration::from_secs(60)).await;

    // SAFETY: geteuid cannot fail.
    let root_user = unsafe { libc::geteuid() } == 0;
    let meta = std::fs::metadata(&data).unwrap();
    if root_user {
        // PostgreSQL runs as `postgres`, which must pass through to its
        // directories: its group may traverse, nobody else may enter.
        let postgres_gid = std::fs::metadata(data.join("postgres")).unwrap().gid();
        assert_eq!(mode(&data), 0o710);
        assert_eq!(meta.uid(), 0);
        assert_eq!(meta.gid(), postgres_gid);
    } else {
        assert_eq!(mode(&data), 0o700);
    }
    for dir in ["postgres", "postgres-run"] {
        assert_eq!(mode(&data.join(dir)), 0o700, "{dir}");
    }
    for file in [
        "operator-api-key",
        "receipt-signing.key",
        "session-secret",
        "postgres.log",
        "hall-registry.lock",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let lock = std::fs::read_to_string(data.join("hall-registry.lock")).unwrap();
    assert_eq!(lock.trim(), p.child.id().to_string());
    assert!(p.terminate().success());

    // A restart keeps them so.
    let mut again = Proc::spawn(&[("HALL_DATA_DIR", data.to_str().unwrap())]);
    again.wait_healthy(Duration::from_secs(60)).await;
    assert_eq!(mode(&data), if root_user { 0o710 } else { 0o700 });
    assert!(again.terminate().success());
}
