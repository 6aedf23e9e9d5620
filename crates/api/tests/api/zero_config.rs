//! The `hall-registry` binary as a new user runs it: no DATABASE_URL, no
//! REDIS_URL. It starts a private PostgreSQL, serves, stops it on SIGTERM and
//! reuses the data on the next start. Also: two processes starting at once
//! against one database, and start-up errors that explain themselves.

use std::time::Duration;

use crate::support::{
    alive, data_root, free_port, get_with_key_header, healthy, postmaster_pid, Proc,
};

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

    let mut second = healthy(&[("HALL_DATA_DIR", data_s)]).await;
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
    let mut p = healthy(&[
        ("DATABASE_URL", db.url()),
        ("HALL_LOG_FORMAT", "json"),
        ("HALL_LOG_LEVEL", "info"),
    ])
    .await;
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
    let operator_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.is_operator",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        operator_keys, 1,
        "both processes bootstrapped an operator key"
    );
    let printed = [&a, &b].iter().filter(|p| banner_key(p).is_some()).count();
    assert_eq!(printed, 1, "exactly one process prints the generated key");
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

/// Starts a process with `envs` that must refuse to start: it exits with 1.
/// Returns what it printed.
fn refused_start(envs: &[(&str, &str)]) -> String {
    let mut p = Proc::spawn(envs);
    let status = p.child.wait().unwrap();
    // Let the readers collect the last lines.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(status.code(), Some(1), "{}", p.output());
    p.output()
}

#[tokio::test]
async fn missing_postgres_binaries_exit_with_advice_not_a_panic() {
    let root = data_root();
    let out = refused_start(&[
        ("HALL_DATA_DIR", root.path().join("d").to_str().unwrap()),
        ("HALL_POSTGRES_BIN_DIR", "/nonexistent/pg/bin"),
    ]);
    assert!(out.contains("does not contain initdb"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

#[tokio::test]
async fn unreachable_database_url_exits_with_a_clear_error() {
    let port = free_port(); // nothing listens there
    let url = format!("postgres://hall:secret@127.0.0.1:{port}/hall");
    let out = refused_start(&[("DATABASE_URL", url.as_str())]);
    assert!(out.contains("PostgreSQL is unreachable"), "{out}");
    assert!(!out.contains("secret"), "the password was printed: {out}");
    assert!(!out.contains("panicked"), "{out}");
}

fn banner_key(p: &Proc) -> Option<String> {
    p.stdout.lock().unwrap().iter().find_map(|l| {
        l.split("Operator API key (shown this once): ")
            .nth(1)
            .map(str::to_string)
    })
}

/// `GET /api/v1/auth/whoami` on `p`, with `key` as the bearer token.
async fn whoami(p: &Proc, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(p.url("/api/v1/auth/whoami"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn generated_operator_key_is_printed_once_saved_0600_and_never_changed() {
    use std::os::unix::fs::PermissionsExt;
    let db = testkit::TestDb::create().await;
    let root = data_root();
    let data = root.path().join("data");
    let envs = [
        ("DATABASE_URL", db.url()),
        ("HALL_DATA_DIR", data.to_str().unwrap()),
        ("HALL_LOG_FORMAT", "json"),
        ("HALL_LOG_LEVEL", "debug"),
    ];
    let mut first = healthy(&envs).await;
    let key = banner_key(&first).expect("first start prints the operator key");
    assert!(key.starts_with("phk_") && key.len() == 47, "{key}");
    let file = data.join("operator-api-key");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // With DATABASE_URL the data directory holds only these secrets: 0700.
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let me: serde_json::Value = whoami(&first, &key).await.json().await.unwrap();
    assert_eq!(me["operator"], true);
    assert!(first.terminate().success());
    // Even at debug level, no log line carries the credential.
    let logs = first.stderr.lock().unwrap().join("\n");
    assert!(!logs.contains(&key), "the operator key was logged");
    assert!(!logs.contains(&key[4..]));

    // A later start, even with a bootstrap key set, neither prints nor changes it.
    let other = format!("phk_{}", "z".repeat(43));
    let mut second = healthy(&[
        ("DATABASE_URL", db.url()),
        ("HALL_DATA_DIR", data.to_str().unwrap()),
        ("HALL_BOOTSTRAP_API_KEY", other.as_str()),
    ])
    .await;
    assert_eq!(banner_key(&second), None);
    assert!(!second.output().contains(&key));
    assert!(
        second
            .output()
            .contains("HALL_BOOTSTRAP_API_KEY is ignored"),
        "{}",
        second.output()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
    let old = whoami(&second, &key).await;
    assert_eq!(old.status(), 200);
    let new = whoami(&second, &other).await;
    assert_eq!(new.status(), 401);
    assert!(second.terminate().success());
}

#[tokio::test]
async fn supplied_bootstrap_key_is_used_and_not_printed() {
    let db = testkit::TestDb::create().await;
    let root = data_root();
    let supplied = format!("phk_{}", "s".repeat(43));
    let mut p = healthy(&[
        ("DATABASE_URL", db.url()),
        ("HALL_DATA_DIR", root.path().to_str().unwrap()),
        ("HALL_BOOTSTRAP_API_KEY", supplied.as_str()),
    ])
    .await;
    assert_eq!(banner_key(&p), None);
    assert!(!p.output().contains(&supplied));
    assert!(!root.path().join("operator-api-key").exists());
    let resp = get_with_key_header(&p.url("/api/v1/auth/whoami"), &supplied).await;
    assert_eq!(resp.status(), 200);
    assert!(p.terminate().success());
}

#[tokio::test]
async fn a_weak_bootstrap_key_is_refused_at_start() {
    let db = testkit::TestDb::create().await;
    let out = refused_start(&[
        ("DATABASE_URL", db.url()),
        ("HALL_BOOTSTRAP_API_KEY", "hunter2"),
    ]);
    assert!(out.contains("at least 32"), "{out}");
    assert!(!out.contains("hunter2"));
}

#[tokio::test]
async fn a_bootstrap_key_that_could_never_authenticate_is_refused_at_start() {
    let db = testkit::TestDb::create().await;
    // Long and printable, but without `phk_`: requests would never find it.
    let unprefixed = "k".repeat(43);
    let out = refused_start(&[
        ("DATABASE_URL", db.url()),
        ("HALL_BOOTSTRAP_API_KEY", unprefixed.as_str()),
    ]);
    assert!(
        out.contains("HALL_BOOTSTRAP_API_KEY must start with `phk_`"),
        "{out}"
    );
    assert!(!out.contains(&unprefixed), "the key was printed: {out}");
    assert!(!out.contains("panicked"), "{out}");
}
