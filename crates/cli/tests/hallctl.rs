//! `hallctl` against the real server.

use std::process::Command;

use api::config::{Config, LogFormat};
use api::runtime::Registry;

const HALLCTL: &str = env!("CARGO_BIN_EXE_hallctl");
const CATALOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/taxonomy-catalog.json"
);

async fn server(
    db: &testkit::TestDb,
    data: &std::path::Path,
    operator_key: &str,
) -> api::runtime::RunningRegistry {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(data.to_path_buf()),
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
        bootstrap_api_key: Some(operator_key.to_string()),
        session_ttl_secs: 3600,
        rate_limit_per_minute: 0,
        org_claims_need_approval: false,
        anon_rate_limit_per_minute: 0,
    };
    Registry::start(&config).await.unwrap().spawn()
}

fn hallctl(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(HALLCTL);
    cmd.env_remove("PYHALL_REGISTRY")
        .env_remove("PYHALL_REGISTRY_URL")
        .env_remove("PYHALL_API_KEY")
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn registry_url_prefers_pyhall_registry_over_pyhall_registry_url() {
    let (_, out, _) = hallctl(
        &["where"],
        &[
            ("PYHALL_REGISTRY", "http://a:1"),
            ("PYHALL_REGISTRY_URL", "http://b:2"),
        ],
    );
    assert_eq!(out.trim(), "http://a:1 (from PYHALL_REGISTRY)");
    let (_, out, _) = hallctl(&["where"], &[("PYHALL_REGISTRY_URL", "http://b:2/")]);
    assert_eq!(out.trim(), "http://b:2 (from PYHALL_REGISTRY_URL)");
    let (_, out, _) = hallctl(
        &["where", "--registry", "http://c:3"],
        &[("PYHALL_REGISTRY", "http://a:1")],
    );
    assert_eq!(out.trim(), "http://c:3 (from --registry)");
}

#[tokio::test]
async fn catalog_import_loads_the_public_catalog_and_status_reports_ok() {
    let db = testkit::TestDb::create().await;
    let data = tempfile::tempdir().unwrap();
    let key = format!("phk_cli_operator_{}", uuid::Uuid::new_v4().simple());
    let running = server(&db, data.path(), &key).await;
    let url = format!("http://{}", running.addr);

    let (ok, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || hallctl(&["status"], &[("PYHALL_REGISTRY", &url)])
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("Status:   ok"), "{out}");

    let (ok, _, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            hallctl(
                &["catalog", "import", CATALOG],
                &[("PYHALL_REGISTRY_URL", &url)],
            )
        }
    })
    .await
    .unwrap();
    assert!(!ok, "import without a key must fail");
    assert!(err.contains("401 unauthenticated"), "{err}");

    let (ok, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        let key = key.clone();
        move || {
            hallctl(
                &["catalog", "import", CATALOG],
                &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("245 new, 0 updated"), "{out}");

    let caps: serde_json::Value = reqwest::get(format!("{url}/wcp/capabilities"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(caps["capabilities"].as_array().unwrap().len(), 127);
    running.stop().await;
}
