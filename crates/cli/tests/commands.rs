//! The seed's command line against the real server: `auth`, `namespace`,
//! `worker`, `decision`, `ban`, `tenant` and `key`, their `--json` output
//! and their exit codes (0 done or allowed, 1 error, 2 usage, 3 denied).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{credentials_file, Cli, Server};
use serde_json::json;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn auth_login_stores_a_0600_file_never_prints_the_key_and_later_commands_use_it() {
    let srv = Server::start().await;
    let key = srv.tenant("org.seed").await;
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new().config_home(home.path());
    let file = credentials_file(home.path());

    // A wrong key is refused by whoami and nothing is stored.
    let out = cli
        .run(&[
            "auth",
            "login",
            "--registry",
            &srv.url,
            "--api-key",
            "phk_wrong_key_0123456789",
        ])
        .await;
    assert!(out.failed(1).contains("401 invalid_credentials"), "{out:?}");
    assert!(!file.exists());
    // No key and no terminal to ask on: a usage error.
    let out = cli.run(&["auth", "login", "--registry", &srv.url]).await;
    assert!(out.failed(2).contains("no API key"), "{out:?}");

    let out = cli
        .run(&[
            "auth",
            "login",
            "--registry",
            &format!("{}/", srv.url),
            "--api-key",
            &key,
        ])
        .await;
    assert!(out.ok().contains("Logged in to"), "{out:?}");
    assert!(out.stdout.contains("tenant org.seed"), "{out:?}");
    assert!(out.hides(&key), "login printed the key: {out:?}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["api_key"], key.as_str());
    assert_eq!(
        stored["registry"],
        srv.url.as_str(),
        "stored without the trailing slash"
    );

    // Later commands, with no flag and no variable, use the stored login.
    let out = cli.run(&["where"]).await;
    assert_eq!(
        out.ok().trim(),
        format!("{} (from login in {})", srv.url, file.display())
    );
    let out = cli.run(&["auth", "status"]).await;
    let status = out.ok();
    assert!(status.contains("Tenant:     org.seed"), "{status}");
    assert!(
        status.contains(&format!("(from login in {})", file.display())),
        "{status}"
    );
    assert!(
        status.contains(&format!("Credential: {}…", &key[..8])),
        "{status}"
    );
    assert!(out.hides(&key), "status printed the key: {out:?}");
    let out = cli.run(&["auth", "status", "--json"]).await;
    let v = out.json();
    assert_eq!(v["whoami"]["tenant_id"], "org.seed");
    assert_eq!(v["logged_in"], true);
    assert!(out.hides(&key));
    assert!(cli
        .run(&["namespace", "check", "x.yourname"])
        .await
        .ok()
        .contains("x.yourname: available"));

    // A flag or variable wins over the login; the stored key is never sent
    // to another registry.
    let elsewhere = cli.clone().env("PYHALL_REGISTRY", "http://127.0.0.1:9");
    let out = elsewhere.run(&["auth", "status"]).await;
    assert!(
        out.failed(1).contains("never sent to http://127.0.0.1:9"),
        "{out:?}"
    );
    let out = cli
        .clone()
        .env("PYHALL_API_KEY", &srv.operator)
        .run(&["auth", "status"])
        .await;
    assert!(out.ok().contains("Tenant:     hall.operator"), "{out:?}");
    assert!(out.stdout.contains("(from PYHALL_API_KEY)"), "{out:?}");

    // Logout deletes the file; later commands have no credential.
    let out = cli.run(&["auth", "logout"]).await;
    assert!(out.ok().contains("Logged out"), "{out:?}");
    assert!(!file.exists());
    let out = cli
        .run(&["namespace", "check", "x.yourname", "--registry", &srv.url])
        .await;
    let err = out.failed(1);
    assert!(err.contains("401 unauthenticated"), "{err}");
    assert!(
        err.contains("hallctl auth login"),
        "the hint names the way out: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(cli
        .run(&["auth", "logout"])
        .await
        .ok()
        .contains("Not logged in"));

    // Without XDG_CONFIG_HOME the login goes to ~/.config.
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new()
        .without("XDG_CONFIG_HOME")
        .env("HOME", home.path().to_str().unwrap());
    let out = cli
        .run(&[
            "auth",
            "login",
            "--registry",
            &srv.url,
            "--api-key",
            &key,
            "--json",
        ])
        .await;
    let file = home.path().join(".config/hall-registry/credentials.json");
    assert_eq!(out.json()["credentials_file"], file.to_str().unwrap());
    assert!(out.hides(&key), "--json never shows the key: {out:?}");
    assert_eq!(mode(&file), 0o600);
    assert!(cli
        .run(&["auth", "status"])
        .await
        .ok()
        .contains("Tenant:     org.seed"));
    srv.stop().await;
}

#[tokio::test]
async fn seed_flow_login_check_register_and_decide_allows_with_exit_0_and_a_denied_decision_exits_3(
) {
    let srv = Server::start().await;
    let key = srv.tenant("org.seed").await;
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new().config_home(home.path());

    cli.run(&["auth", "login", "--registry", &srv.url, "--api-key", &key])
        .await
        .ok();
    let out = cli.run(&["namespace", "check", "x.yourname"]).await;
    assert_eq!(out.ok().trim(), "x.yourname: available");
    let out = cli
        .run(&[
            "worker",
            "register",
            "--name",
            "my-agent",
            "--namespace",
            "x.yourname",
            "--capability",
            "cap.data.read.v1",
        ])
        .await;
    let registered = out.ok();
    let id = registered
        .lines()
        .find_map(|l| l.strip_prefix("Registered worker "))
        .expect("the id is printed")
        .trim()
        .to_string();
    assert!(id.starts_with("wrk_"), "{registered}");
    assert!(registered.contains("x.yourname.my-agent"), "{registered}");

    let out = cli
        .run(&[
            "decision",
            "make",
            "--worker",
            &id,
            "--cap",
            "cap.data.read.v1",
        ])
        .await;
    let made = out.ok();
    assert!(made.starts_with("ALLOW"), "{made}");
    let proof = made
        .lines()
        .find_map(|l| l.strip_prefix("proof: "))
        .expect("the proof is printed");
    assert_eq!(proof.len(), 64, "{made}");

    let out = cli
        .run(&[
            "decision",
            "make",
            "--worker",
            &id,
            "--cap",
            "cap.data.write.v1",
        ])
        .await;
    assert_eq!(out.code, 3, "denied decision exits 3: {out:?}");
    assert!(
        out.stdout.starts_with("DENY  DENY_CAPABILITY_NOT_DECLARED"),
        "{out:?}"
    );

    let out = cli
        .run(&[
            "decision",
            "make",
            "--worker",
            &id,
            "--capability",
            "cap.data.write.v1",
            "--data-label",
            "INTERNAL",
            "--json",
        ])
        .await;
    assert_eq!(out.code, 3);
    let d = out.json();
    assert_eq!(
        (d["denied"].as_bool(), d["data_label"].as_str()),
        (Some(true), Some("INTERNAL"))
    );
    srv.stop().await;
}

#[tokio::test]
async fn decision_make_sends_one_idempotency_key_and_query_follows_next_cursor() {
    let srv = Server::start().await;
    let key = srv.tenant("org.dec").await;
    let cli = srv.cli(&key);
    cli.run(&[
        "worker",
        "register",
        "--name",
        "w",
        "--namespace",
        "x.dec",
        "--cap",
        "cap.data.read.v1",
    ])
    .await
    .ok();
    let make = [
        "decision",
        "make",
        "--worker",
        "x.dec.w",
        "--cap",
        "cap.data.read.v1",
        "--json",
    ];
    let mut with_key = make.to_vec();
    with_key.extend(["--idempotency-key", "cli-retry-1"]);
    let first = cli.run(&with_key).await;
    let again = cli.run(&with_key).await;
    assert_eq!(
        first.json()["id"],
        again.json()["id"],
        "a repeat with the same Idempotency-Key answers the original decision"
    );
    let other = cli.run(&make).await.json();
    assert_ne!(
        other["id"],
        first.json()["id"],
        "without a key each call is a new decision"
    );
    for _ in 0..3 {
        cli.run(&make).await.ok();
    }

    let out = cli.run(&["decision", "query", "--limit", "2"]).await;
    assert_eq!(out.ok().lines().count(), 2, "{out:?}");
    assert!(out.stderr.contains("more: --cursor"), "{out:?}");
    let page = cli
        .run(&["decision", "query", "--limit", "2", "--json"])
        .await
        .json();
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let next = cli
        .run(&[
            "decision", "query", "--limit", "2", "--cursor", &cursor, "--json",
        ])
        .await
        .json();
    assert_eq!(next["decisions"].as_array().unwrap().len(), 2);
    assert_ne!(next["decisions"][0]["id"], page["decisions"][0]["id"]);
    let all = cli
        .run(&["decision", "query", "--limit", "2", "--all", "--json"])
        .await
        .json();
    assert_eq!(all["decisions"].as_array().unwrap().len(), 5, "{all}");
    assert!(all["next_cursor"].is_null());
    let out = cli
        .run(&[
            "decision",
            "query",
            "--since",
            "2000-01-01T00:00:00Z",
            "--until",
            "2000-01-02T00:00:00Z",
        ])
        .await;
    assert_eq!(out.ok(), "");
    let out = cli
        .run(&["decision", "query", "--since", "yesterday"])
        .await;
    assert!(
        out.failed(1)
            .starts_with("hallctl: 400 invalid_query: since"),
        "{out:?}"
    );

    let id = first.json()["id"].as_str().unwrap().to_string();
    let shown = cli.run(&["decision", "show", &id, "--json"]).await.json();
    assert_eq!(shown["proof"], first.json()["proof"]);
    srv.stop().await;
}

#[tokio::test]
async fn a_decision_whose_answer_was_lost_is_retried_with_its_key_and_leaves_one_receipt() {
    let srv = Server::start().await;
    let key = srv.tenant("org.retry").await;
    srv.cli(&key)
        .run(&[
            "worker",
            "register",
            "--name",
            "w",
            "--namespace",
            "x.retry",
            "--cap",
            "cap.data.read.v1",
        ])
        .await
        .ok();
    let proxy = common::losing_first_answer(&srv.url);
    let out = Cli::new()
        .env("PYHALL_REGISTRY", &proxy)
        .env("PYHALL_API_KEY", &key)
        .run(&[
            "decision",
            "make",
            "--worker",
            "x.retry.w",
            "--cap",
            "cap.data.read.v1",
        ])
        .await;
    assert!(out.ok().starts_with("ALLOW"), "{out:?}");
    assert!(out.stderr.contains("retrying (Idempotency-Key "), "{out:?}");
    let log = srv
        .cli(&key)
        .run(&["decision", "query", "--all", "--json"])
        .await
        .json();
    assert_eq!(
        log["decisions"].as_array().unwrap().len(),
        1,
        "one receipt: {log}"
    );
    let made_id = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("id:    "))
        .unwrap();
    assert_eq!(log["decisions"][0]["id"], made_id.trim());
    srv.stop().await;
}

#[tokio::test]
async fn worker_verbs_register_list_show_attestation_and_revoke() {
    let srv = Server::start().await;
    let key = srv.tenant("org.wrk").await;
    let cli = srv.cli(&key);

    // Without a terminal, what is missing is a usage error, named, and nothing is sent.
    let out = cli.run(&["worker", "register", "--name", "a"]).await;
    let err = out.failed(2);
    assert!(
        err.contains("missing --namespace (or PYHALL_NAMESPACE), --capability"),
        "{err}"
    );

    // PYHALL_NAMESPACE is the default namespace; capabilities may be comma-separated.
    let out = cli
        .clone()
        .env("PYHALL_NAMESPACE", "x.wrk")
        .run(&[
            "worker",
            "register",
            "--name",
            "a",
            "--capability",
            "cap.a.b,cap.c.d",
            "--policy-tier",
            "L2",
            "--json",
        ])
        .await;
    let a = out.json();
    assert_eq!(a["worker_id"], "x.wrk.a");
    assert_eq!(a["capabilities"], json!(["cap.a.b", "cap.c.d"]));
    assert_eq!(a["policy_tier"], 2);

    // A whole record from a file; flags override its fields.
    let record = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        record.path(),
        json!({"worker_id": "x.wrk.b", "capabilities": ["cap.a.b"], "max_data_label": "RESTRICTED"}).to_string(),
    )
    .unwrap();
    let out = cli
        .run(&[
            "worker",
            "register",
            "--record",
            record.path().to_str().unwrap(),
            "--policy-tier",
            "1",
            "--json",
        ])
        .await;
    let b = out.json();
    assert_eq!(
        (b["worker_id"].as_str(), b["policy_tier"].as_u64()),
        (Some("x.wrk.b"), Some(1))
    );
    assert_eq!(b["max_data_label"], "RESTRICTED");

    let out = cli.run(&["worker", "list"]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines[0].contains("x.wrk.a") && lines[0].contains("L2"),
        "{lines:?}"
    );
    let out = cli.run(&["worker", "list", "--limit", "1"]).await;
    assert_eq!(out.ok().lines().count(), 1);
    assert!(out.stderr.contains("more: --cursor"), "{out:?}");
    let all = cli
        .run(&["worker", "list", "--limit", "1", "--all", "--json"])
        .await
        .json();
    assert_eq!(all["workers"].as_array().unwrap().len(), 2);
    let capable = cli
        .run(&["worker", "list", "--cap", "cap.c.d", "--json"])
        .await
        .json();
    assert_eq!(capable["workers"].as_array().unwrap().len(), 1);

    let id = a["id"].as_str().unwrap();
    let out = cli.run(&["worker", "show", id]).await;
    assert!(out.ok().contains("worker_id:      x.wrk.a"), "{out:?}");
    assert_eq!(
        cli.run(&["worker", "show", "x.wrk.a", "--json"])
            .await
            .json()["id"],
        id
    );
    let out = cli.run(&["worker", "attestation", "x.wrk.a"]).await;
    assert!(out.ok().starts_with("x.wrk.a: none"), "{out:?}");
    assert_eq!(
        cli.run(&["worker", "attestation", id, "--json"])
            .await
            .json()["status"],
        "none"
    );

    // A server error is one line: status, code, message.
    let out = cli.run(&["worker", "show", "x.wrk.nope"]).await;
    let err = out.failed(1);
    assert!(
        err.starts_with("hallctl: 404 not_found: worker x.wrk.nope not found"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);

    let out = cli.run(&["worker", "revoke", "x.wrk.a"]).await;
    assert!(
        out.ok().starts_with(&format!("Revoked {id} (x.wrk.a)")),
        "{out:?}"
    );
    let out = cli
        .run(&["decision", "make", "--worker", id, "--cap", "cap.a.b"])
        .await;
    assert_eq!(out.code, 3, "a revoked worker is denied: {out:?}");
    assert_eq!(
        cli.run(&["worker", "show", id, "--json"]).await.json()["status"],
        "revoked"
    );
    srv.stop().await;
}

#[tokio::test]
async fn namespace_verbs_claim_check_list_keys_and_release() {
    let srv = Server::start().await;
    let key = srv.tenant("org.ns").await;
    let other = srv.tenant("org.other").await;
    let cli = srv.cli(&key);
    let op = srv.cli(&srv.operator);

    let out = cli.run(&["namespace", "claim", "x.keys"]).await;
    assert_eq!(out.ok().trim(), "x.keys: claimed by org.ns");
    assert_eq!(
        cli.run(&["namespace", "check", "x.keys"]).await.ok().trim(),
        "x.keys: yours"
    );
    let out = srv.cli(&other).run(&["namespace", "check", "x.keys"]).await;
    assert!(out.ok().starts_with("x.keys: taken"), "{out:?}");
    let out = srv.cli(&other).run(&["namespace", "claim", "x.keys"]).await;
    assert!(out.failed(1).starts_with("hallctl: 409 "), "{out:?}");
    let out = cli.run(&["namespace", "check", "cap.nope", "--json"]).await;
    assert_eq!(out.json()["status"], "invalid");
    cli.run(&["namespace", "claim", "x.spare"]).await.ok();
    let listed = cli.run(&["namespace", "list", "--json"]).await.json();
    let names: Vec<&str> = listed["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&"x.keys") && names.contains(&"x.spare"));
    let out = op.run(&["namespace", "list", "--tenant", "org.ns"]).await;
    assert_eq!(out.ok().lines().count(), 2, "{out:?}");

    // Keys: from a keygen file (only the public half is sent) or given directly.
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2) = (dir.path().join("k1"), dir.path().join("k2"));
    let gen1 = Cli::new()
        .run(&["keygen", "--out", k1.to_str().unwrap(), "--json"])
        .await
        .json();
    let gen2 = Cli::new()
        .run(&["keygen", "--out", k2.to_str().unwrap(), "--json"])
        .await
        .json();
    let out = cli
        .run(&[
            "namespace",
            "key",
            "add",
            "x.keys",
            "--key-file",
            k1.to_str().unwrap(),
            "--label",
            "release",
        ])
        .await;
    assert!(
        out.ok().starts_with(&format!(
            "Registered {} on x.keys",
            gen1["kid"].as_str().unwrap()
        )),
        "{out:?}"
    );
    let seed = std::fs::read_to_string(&k1).unwrap();
    assert!(out.hides(seed.trim()), "the private key is never shown");
    // A public key alone is not enough: the registry wants a proof of
    // possession, which hallctl makes from --key-file, or takes as --proof.
    let public2 = gen2["public_key"].as_str().unwrap();
    let out = cli
        .run(&["namespace", "key", "add", "x.keys", "--public-key", public2])
        .await;
    out.failed(2);
    let seed2 = audit::parse_seed(&std::fs::read_to_string(&k2).unwrap()).unwrap();
    let proof_for = |tenant: &str| {
        attestation::keys::sign_key_proof(
            &seed2,
            &wcp::TenantId::parse(tenant).unwrap(),
            &wcp::Namespace::parse("x.keys").unwrap(),
        )
    };
    let out = cli
        .run(&[
            "namespace",
            "key",
            "add",
            "x.keys",
            "--public-key",
            public2,
            "--proof",
            &proof_for("org.other"),
        ])
        .await;
    let err = out.failed(1);
    assert!(
        err.starts_with("hallctl: 400 ") && err.contains("proof does not verify"),
        "{out:?}"
    );
    let added = cli
        .run(&[
            "namespace",
            "key",
            "add",
            "x.keys",
            "--public-key",
            public2,
            "--proof",
            &proof_for("org.ns"),
            "--json",
        ])
        .await
        .json();
    assert_eq!(added["kid"], gen2["kid"]);
    let out = cli.run(&["namespace", "key", "add", "x.keys"]).await;
    out.failed(2);
    let out = cli.run(&["namespace", "key", "list", "x.keys"]).await;
    let lines = out.ok();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains("release") && lines.contains("added with hallctl"),
        "{lines}"
    );
    let kid = gen1["kid"].as_str().unwrap();
    let out = cli
        .run(&["namespace", "key", "revoke", "x.keys", kid])
        .await;
    assert_eq!(out.ok().trim(), format!("Revoked {kid} on x.keys"));
    let keys = cli
        .run(&["namespace", "key", "list", "x.keys", "--json"])
        .await
        .json();
    let revoked = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap();
    assert!(revoked["revoked_at"].is_string());

    // Release is the operator's, and refused while a namespace has keys.
    let out = cli.run(&["namespace", "release", "x.spare"]).await;
    assert!(out.failed(1).starts_with("hallctl: 403 "), "{out:?}");
    let out = op.run(&["namespace", "release", "x.keys"]).await;
    assert!(out.failed(1).starts_with("hallctl: 409 "), "{out:?}");
    let out = op.run(&["namespace", "release", "x.spare"]).await;
    assert_eq!(out.ok().trim(), "x.spare: released (available)");
    assert_eq!(
        cli.run(&["namespace", "check", "x.spare"])
            .await
            .ok()
            .trim(),
        "x.spare: available"
    );

    // x.keys still has an active key (k2): the operator forces it over to
    // the other tenant, then releases it, and both are in its history.
    let out = op
        .run(&["namespace", "transfer", "x.keys", "--to", "org.other"])
        .await;
    assert!(out.failed(1).starts_with("hallctl: 409 "), "{out:?}");
    let out = op
        .run(&[
            "namespace",
            "transfer",
            "x.keys",
            "--to",
            "org.other",
            "--force",
        ])
        .await;
    out.failed(2);
    let out = op
        .run(&[
            "namespace",
            "transfer",
            "x.keys",
            "--to",
            "org.other",
            "--force",
            "--reason",
            "squatted",
        ])
        .await;
    let said = out.ok();
    assert!(
        said.starts_with("x.keys: transferred to org.other (forced)")
            && said.contains("Revoked 0 worker(s) and 1 signing key(s) of org.ns"),
        "{said}"
    );
    assert_eq!(
        srv.cli(&other)
            .run(&["namespace", "check", "x.keys"])
            .await
            .ok()
            .trim(),
        "x.keys: yours"
    );
    let out = op
        .run(&[
            "namespace",
            "release",
            "x.keys",
            "--force",
            "--reason",
            "gone",
        ])
        .await;
    assert!(out.ok().starts_with("x.keys: released (forced)"), "{out:?}");
    let out = cli.run(&["namespace", "history", "x.keys"]).await;
    assert!(out.failed(1).starts_with("hallctl: 403 "), "{out:?}");
    let history = op
        .run(&["namespace", "history", "x.keys", "--json"])
        .await
        .json();
    let changes = history["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{history}");
    assert_eq!(changes[0]["action"], "transfer");
    assert_eq!(changes[0]["reason"], "squatted");
    assert_eq!(changes[1]["action"], "release");
    assert_eq!(changes[1]["from_tenant"], "org.other");
    let out = op.run(&["namespace", "history", "x.keys"]).await;
    let lines = out.ok();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains("transfer (forced)  from org.ns  to org.other"),
        "{lines}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn ban_list_reports_pages_by_cursor_or_all_and_filters_by_hash_reporter_and_status() {
    let srv = Server::start().await;
    let a = srv.cli(&srv.tenant("org.bana").await);
    let b = srv.cli(&srv.tenant("org.banb").await);
    let op = srv.cli(&srv.operator);
    let hashes: Vec<String> = ["a1", "b2", "c3"].iter().map(|h| h.repeat(32)).collect();
    for h in &hashes {
        a.run(&["ban", "report", h, "--reason", "r"]).await.ok();
    }
    b.run(&["ban", "report", &hashes[0], "--reason", "again"])
        .await
        .ok();

    let first = op
        .run(&["ban", "list", "--reports", "--limit", "2", "--json"])
        .await
        .json();
    assert_eq!(first["reports"].as_array().unwrap().len(), 2, "{first}");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    let out = op.run(&["ban", "list", "--reports", "--limit", "2"]).await;
    assert!(
        out.stderr
            .contains(&format!("(more: --cursor {cursor}, or --all)")),
        "{out:?}"
    );
    let second = op
        .run(&[
            "ban",
            "list",
            "--reports",
            "--limit",
            "2",
            "--cursor",
            &cursor,
            "--json",
        ])
        .await
        .json();
    assert_eq!(second["reports"].as_array().unwrap().len(), 2, "{second}");
    assert!(second["next_cursor"].is_null(), "last page: {second}");
    let all = op
        .run(&[
            "ban",
            "list",
            "--reports",
            "--limit",
            "1",
            "--all",
            "--json",
        ])
        .await
        .json();
    let ids: Vec<&str> = all["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "--all follows every cursor: {all}");
    assert_eq!(
        ids,
        first["reports"]
            .as_array()
            .unwrap()
            .iter()
            .chain(second["reports"].as_array().unwrap())
            .map(|r| r["id"].as_str().unwrap())
            .collect::<Vec<_>>()
    );

    let of_hash = op
        .run(&["ban", "list", "--reports", "--sha256", &hashes[0], "--json"])
        .await
        .json();
    assert_eq!(of_hash["reports"].as_array().unwrap().len(), 2, "{of_hash}");
    let by_b = op
        .run(&[
            "ban",
            "list",
            "--reports",
            "--reporter-tenant",
            "org.banb",
            "--json",
        ])
        .await
        .json();
    let by_b = by_b["reports"].as_array().unwrap();
    assert_eq!(by_b.len(), 1);
    assert_eq!(by_b[0]["reason"], "again");
    let confirmed = op
        .run(&[
            "ban",
            "list",
            "--reports",
            "--status",
            "confirmed",
            "--json",
        ])
        .await
        .json();
    assert_eq!(confirmed["reports"].as_array().unwrap().len(), 0);
    let out = op
        .run(&["ban", "list", "--reports", "--cursor", "nonsense"])
        .await;
    assert!(
        out.failed(1).starts_with("hallctl: 400 invalid_query"),
        "{out:?}"
    );
    let out = op.run(&["ban", "list", "--cursor", &cursor]).await;
    assert_eq!(out.code, 2, "--cursor is for --reports: {out:?}");
    srv.stop().await;
}

#[tokio::test]
async fn ban_report_over_the_daily_quota_prints_the_servers_message_and_exits_1() {
    let srv = Server::start_with(|c| c.ban_reports_per_day = 1).await;
    let cli = srv.cli(&srv.tenant("org.quota").await);
    cli.run(&["ban", "report", &"ee".repeat(32), "--reason", "r"])
        .await
        .ok();
    let out = cli
        .run(&["ban", "report", &"ff".repeat(32), "--reason", "r"])
        .await;
    let err = out.failed(1);
    assert!(
        err.starts_with("hallctl: 429 quota_exceeded"),
        "the server's code and message: {out:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn ban_verbs_report_review_and_a_banned_hash_check_exits_3() {
    let srv = Server::start().await;
    let key = srv.tenant("org.ban").await;
    let cli = srv.cli(&key);
    let op = srv.cli(&srv.operator);
    let (bad, meh) = ("ab".repeat(32), "cd".repeat(32));

    let out = Cli::new()
        .env("PYHALL_REGISTRY", &srv.url)
        .run(&["ban", "check", &bad])
        .await;
    assert_eq!(
        out.ok().trim(),
        format!("{bad}: not banned"),
        "anyone may check"
    );
    let report = cli
        .run(&[
            "ban",
            "report",
            &bad,
            "--reason",
            "exfiltrates data",
            "--evidence-url",
            "https://example.org/x",
            "--json",
        ])
        .await
        .json();
    assert_eq!(report["status"], "pending");
    let out = cli
        .run(&["ban", "report", &meh, "--reason", "suspicious"])
        .await;
    assert!(out.ok().contains("(pending)"), "{out:?}");
    let meh_id = cli.run(&["ban", "list", "--reports"]).await;
    assert!(
        meh_id.failed(1).starts_with("hallctl: 403 "),
        "reports are the operator's"
    );
    let pending = op
        .run(&["ban", "list", "--reports", "--status", "pending", "--json"])
        .await
        .json();
    assert_eq!(pending["reports"].as_array().unwrap().len(), 2, "{pending}");
    let meh_report = pending["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sha256"] == meh.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let out = op
        .run(&[
            "ban",
            "confirm",
            report["id"].as_str().unwrap(),
            "--note",
            "seen it",
        ])
        .await;
    assert!(out.ok().contains(&format!("{bad} is banned")), "{out:?}");
    let out = cli.run(&["ban", "check", &bad]).await;
    assert_eq!(out.code, 3, "a banned hash exits 3: {out:?}");
    assert!(out.stdout.starts_with(&format!("{bad}: BANNED")), "{out:?}");
    assert!(out.stdout.contains("exfiltrates data"), "{out:?}");
    let listed = cli.run(&["ban", "list", "--json"]).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(cli.run(&["ban", "list"]).await.ok().starts_with(&bad));

    let out = op.run(&["ban", "reject", &meh_report, "--json"]).await;
    assert_eq!(out.json()["status"], "rejected");
    assert_eq!(cli.run(&["ban", "check", &meh]).await.code, 0);

    let out = op
        .run(&["ban", "lift", &bad, "--note", "fixed upstream"])
        .await;
    assert!(
        out.ok().starts_with(&format!("Lifted the ban on {bad}")),
        "{out:?}"
    );
    let out = cli.run(&["ban", "check", &bad, "--json"]).await;
    assert_eq!(out.code, 0);
    let history = out.json();
    assert_eq!(history["banned"], false);
    assert_eq!(history["history"][0]["lift_reason"], "fixed upstream");
    let out = cli.run(&["ban", "check", "not-a-hash"]).await;
    assert!(
        out.failed(1).starts_with("hallctl: 400 invalid_sha256"),
        "{out:?}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn tenant_and_api_key_verbs_create_once_shown_keys_suspend_and_revoke() {
    let srv = Server::start().await;
    let op = srv.cli(&srv.operator);

    let out = op
        .run(&[
            "tenant",
            "create",
            "org.acme",
            "--display-name",
            "Acme Corp",
        ])
        .await;
    assert!(out.ok().starts_with("Created tenant org.acme"), "{out:?}");
    let out = op
        .run(&["tenant", "create", "org.acme", "--name", "Again"])
        .await;
    assert!(out.failed(1).starts_with("hallctl: 409 "), "{out:?}");
    let tenants = op.run(&["tenant", "list", "--json"]).await.json();
    let ids: Vec<&str> = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"org.acme") && ids.contains(&"hall.operator"),
        "{ids:?}"
    );
    assert!(op
        .run(&["tenant", "list"])
        .await
        .ok()
        .contains("hall.operator  active (operator)"));
    let out = op.run(&["tenant", "create", "org.nameless"]).await;
    out.failed(2);

    // The operator makes Acme's admin key; it is printed once.
    let out = op
        .run(&[
            "key",
            "create",
            "--tenant",
            "org.acme",
            "--name",
            "acme-admin",
            "--scope",
            "admin",
        ])
        .await;
    let created = out.ok();
    let admin = created
        .lines()
        .find_map(|l| l.strip_prefix("API key: "))
        .expect("the key is printed")
        .trim()
        .to_string();
    assert!(admin.starts_with("phk_"), "{created}");
    let acme = srv.cli(&admin);
    let out = acme
        .run(&[
            "key",
            "create",
            "--name",
            "ci",
            "--scope",
            "read,decisions:write",
            "--expires-in-days",
            "30",
            "--json",
        ])
        .await;
    let ci = out.json();
    assert_eq!(ci["scopes"], json!(["decisions:write", "read"]));
    assert!(ci["expires_at"].is_string());
    let ci_key = ci["key"].as_str().unwrap().to_string();

    let out = acme.run(&["key", "list"]).await;
    let listed = out.ok();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        out.hides(&ci_key) && out.hides(&admin),
        "list never shows a key: {listed}"
    );
    assert!(listed.contains(&format!("{}…", &ci_key[..12])), "{listed}");
    assert_eq!(
        op.run(&["key", "list", "--tenant", "org.acme", "--json"])
            .await
            .json()["api_keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let out = srv.cli(&ci_key).run(&["key", "list"]).await;
    assert!(
        out.failed(1).starts_with("hallctl: 403 "),
        "a read key cannot list keys: {out:?}"
    );

    // Suspension stops Acme's keys; reactivation brings them back.
    let out = op.run(&["tenant", "suspend", "org.acme"]).await;
    assert!(out.ok().contains("org.acme  suspended"), "{out:?}");
    let out = srv.cli(&ci_key).run(&["auth", "status"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let out = op
        .run(&["tenant", "reactivate", "org.acme", "--json"])
        .await;
    assert_eq!(out.json()["status"], "active");
    let out = srv.cli(&ci_key).run(&["auth", "status"]).await;
    assert!(out.ok().contains("Tenant:     org.acme"), "{out:?}");

    let out = acme
        .run(&["key", "revoke", ci["id"].as_str().unwrap()])
        .await;
    assert_eq!(
        out.ok().trim(),
        format!("Revoked API key {} (ci)", ci["id"].as_str().unwrap())
    );
    let out = srv.cli(&ci_key).run(&["auth", "status"]).await;
    assert!(
        out.failed(1).contains("401 "),
        "a revoked key is refused: {out:?}"
    );
    srv.stop().await;
}

#[test]
fn usage_errors_exit_2_and_help_lists_the_exit_codes() {
    let cli = Cli::new();
    let out = cli.run_blocking(&["--help"]);
    let help = out.ok();
    for line in ["0  success", "1  error", "2  usage", "3  denied"] {
        assert!(help.contains(line), "{help}");
    }
    assert!(help.contains("key ") && help.contains("keys "), "{help}");
    assert_eq!(
        cli.run_blocking(&["decision", "make", "--worker", "w"])
            .code,
        2
    );
    assert_eq!(cli.run_blocking(&["nope"]).code, 2);
    assert_eq!(
        cli.run_blocking(&["worker", "register", "--policy-tier", "9", "--name", "a"])
            .code,
        2
    );
    let out = cli.run_blocking(&["worker", "show", "..", "--registry", "http://127.0.0.1:9"]);
    assert!(out.failed(2).contains("is not an id"), "{out:?}");
    let out = cli.run_blocking(&["status", "--registry", "not a url"]);
    assert!(out.failed(2).contains("is not a registry URL"), "{out:?}");
    let out = cli.run_blocking(&["where", "--json"]);
    assert_eq!(out.json()["source"], "default");
}

#[test]
fn an_unreachable_registry_is_one_line_and_exit_1() {
    let out = Cli::new().run_blocking(&["status", "--registry", "http://127.0.0.1:9"]);
    let err = out.failed(1);
    assert!(
        err.starts_with("hallctl: cannot reach http://127.0.0.1:9"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[tokio::test]
async fn auth_login_operator_reads_the_key_file_the_server_wrote_and_never_prints_it() {
    let srv = Server::start_generating_the_operator_key().await;
    let data = srv.data.path().to_str().unwrap().to_string();
    let key_file = srv.data.path().join("operator-api-key");
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new()
        .config_home(home.path())
        .env("PYHALL_REGISTRY", &srv.url);
    let file = credentials_file(home.path());

    let out = cli
        .run(&["auth", "login", "--operator", "--data-dir", &data])
        .await;
    assert!(out.ok().contains("Logged in to"), "{out:?}");
    assert!(out.stdout.contains("tenant hall.operator"), "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("operator key in {}", key_file.display())),
        "{out:?}"
    );
    assert!(out.hides(&srv.operator), "login printed the key: {out:?}");
    assert_eq!(mode(&file), 0o600);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["api_key"], srv.operator.as_str());
    // Later commands are the operator's.
    let out = cli
        .run(&["tenant", "create", "org.op", "--name", "Op"])
        .await;
    assert!(out.ok().contains("org.op"), "{out:?}");
    let out = cli.run(&["auth", "status", "--json"]).await;
    assert_eq!(out.json()["whoami"]["operator"], true, "{out:?}");
    assert!(out.hides(&srv.operator), "{out:?}");

    // HALL_DATA_DIR, as the server reads it; --json names the file, never the key.
    std::fs::remove_file(&file).unwrap();
    let out = cli
        .clone()
        .env("HALL_DATA_DIR", &data)
        .run(&["auth", "login", "--operator", "--json"])
        .await;
    assert_eq!(
        out.json()["operator_key_file"],
        key_file.display().to_string(),
        "{out:?}"
    );
    assert!(out.hides(&srv.operator), "{out:?}");
    assert_eq!(mode(&file), 0o600);

    // No file: where it looked, and why there may be none.
    let empty = tempfile::tempdir().unwrap();
    let out = cli
        .run(&[
            "auth",
            "login",
            "--operator",
            "--data-dir",
            empty.path().to_str().unwrap(),
        ])
        .await;
    let err = out.failed(1);
    assert!(
        err.contains(&format!(
            "no operator key file at {}",
            empty.path().join("operator-api-key").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("only on the first start") && err.contains("HALL_BOOTSTRAP_API_KEY"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // A file from another registry: refused, named, nothing stored.
    std::fs::remove_file(&file).unwrap();
    std::fs::write(
        empty.path().join("operator-api-key"),
        "phk_not_this_registrys_operator_key_0123456789\n",
    )
    .unwrap();
    let out = cli
        .run(&[
            "auth",
            "login",
            "--operator",
            "--data-dir",
            empty.path().to_str().unwrap(),
        ])
        .await;
    let err = out.failed(1);
    assert!(
        err.contains("401") && err.contains("is not a key of the registry at"),
        "{err}"
    );
    assert!(!file.exists());
    // A tenant's key in the file is not the operator's.
    let tenant_key = srv.tenant("org.notop").await;
    std::fs::write(empty.path().join("operator-api-key"), &tenant_key).unwrap();
    let out = cli
        .run(&[
            "auth",
            "login",
            "--operator",
            "--data-dir",
            empty.path().to_str().unwrap(),
        ])
        .await;
    assert!(out.failed(1).contains("not the operator's"), "{out:?}");
    assert!(out.hides(&tenant_key), "{out:?}");
    assert!(!file.exists());

    // --operator with --api-key is a contradiction; --data-dir needs --operator.
    let out = cli
        .run(&["auth", "login", "--operator", "--api-key", "phk_x"])
        .await;
    assert!(out.failed(2).contains("--operator"), "{out:?}");
    let out = cli.run(&["auth", "login", "--data-dir", &data]).await;
    out.failed(2);

    // Unreadable: hallctl run by another user than the server's. As root
    // (who reads any file) that is `nobody`, through setpriv.
    let err = if is_root() {
        let bin = tempfile::tempdir().unwrap();
        std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let copy = bin.path().join("hallctl");
        std::fs::copy(common::HALLCTL, &copy).unwrap();
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .args(["auth", "login", "--operator", "--data-dir", &data])
            .env("PYHALL_REGISTRY", &srv.url)
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .output()
            .expect("setpriv runs");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    } else {
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = cli
            .run(&["auth", "login", "--operator", "--data-dir", &data])
            .await;
        out.failed(1).to_string()
    };
    assert!(
        err.contains(&format!("cannot read {}", key_file.display()))
            && err.contains("permission denied")
            && err.contains("the user who started the server"),
        "{err}"
    );
    assert!(!err.contains(&srv.operator), "{err}");
    srv.stop().await;
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// `hallctl` resolves the data directory as the server does: the server's
/// own `resolved_data_dir`, in this process's environment, names the file
/// `hallctl auth login --operator` looks for under the same environment.
#[test]
fn the_operator_key_file_is_found_where_the_server_puts_it() {
    use clap::Parser;
    let server_dir = |args: &[&str]| {
        let mut argv = vec!["hall-registry"];
        argv.extend(args);
        api::config::Cli::try_parse_from(argv)
            .expect("the server's defaults parse")
            .config
            .resolved_data_dir()
    };
    // Nothing listens on port 9: if a key file is found, the login fails
    // harmlessly after naming it.
    let mut cli = Cli::new().env("PYHALL_REGISTRY", "http://127.0.0.1:9");
    cli = match std::env::var("HOME") {
        Ok(home) => cli.env("HOME", &home),
        Err(_) => cli.without("HOME"),
    };
    let expected = server_dir(&[]).join("operator-api-key");
    let out = cli.run_blocking(&["auth", "login", "--operator"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&expected.display().to_string()),
        "the server's file is {}: {out:?}",
        expected.display()
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let out = cli
        .env("HALL_DATA_DIR", dir)
        .run_blocking(&["auth", "login", "--operator"]);
    let expected = server_dir(&["--data-dir", dir]).join("operator-api-key");
    assert!(
        out.failed(1).contains(&expected.display().to_string()),
        "{out:?}"
    );
}

/// Every command that needs a key, run without one, says how to give one
/// the hallctl way — not the registry's HTTP header advice.
#[tokio::test]
async fn without_a_key_every_command_says_to_log_in_pass_api_key_or_set_pyhall_api_key() {
    let srv = Server::start().await;
    let cli = Cli::new().env("PYHALL_REGISTRY", &srv.url);
    let catalog = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/taxonomy-catalog.json"
    );
    let sha = "a".repeat(64);
    let expected = "hallctl: 401 unauthenticated: no API key: run `hallctl auth login`, \
                    pass --api-key or set PYHALL_API_KEY\n";
    let commands: Vec<Vec<&str>> = vec![
        vec!["namespace", "check", "x.nokey"],
        vec!["namespace", "claim", "x.nokey"],
        vec!["namespace", "list"],
        vec!["namespace", "key", "list", "x.nokey"],
        vec![
            "worker",
            "register",
            "--name",
            "w",
            "--namespace",
            "x.nokey",
            "--cap",
            "cap.data.read.v1",
        ],
        vec!["worker", "list"],
        vec!["worker", "show", "x.nokey.w"],
        vec![
            "decision",
            "make",
            "--worker",
            "x.nokey.w",
            "--cap",
            "cap.a.b",
        ],
        vec!["decision", "query"],
        vec!["ban", "report", &sha, "--reason", "r"],
        vec!["ban", "list", "--reports"],
        vec!["tenant", "list"],
        vec!["key", "list"],
        vec!["keys", "rotate"],
        vec!["approvals", "list"],
        vec!["audit", "verify"],
        vec!["audit", "export"],
        vec!["catalog", "import", catalog],
    ];
    for args in commands {
        let out = cli.run(&args).await;
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stderr, expected, "{args:?}");
        assert!(!out.stderr.contains("Bearer"), "{args:?}: {out:?}");
    }
    // A stored login for another registry is never sent; the line says so.
    let home = tempfile::tempdir().unwrap();
    let key = srv.tenant("org.nokey").await;
    let logged_in = Cli::new().config_home(home.path());
    logged_in
        .run(&["auth", "login", "--registry", &srv.url, "--api-key", &key])
        .await
        .ok();
    let out = logged_in
        .env(
            "PYHALL_REGISTRY",
            &srv.url.replace("127.0.0.1", "localhost"),
        )
        .run(&["worker", "list"])
        .await;
    let err = out.failed(1);
    assert!(
        err.contains("the stored login is for") && err.contains("run `hallctl auth login`"),
        "{err}"
    );
    srv.stop().await;
}

fn rules_doc(rule_id: &str, env: &str) -> serde_json::Value {
    json!({"rules": [{
        "rule_id": rule_id,
        "match": {"capability_id": "cap.doc.summarize", "env": env},
        "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.summarizer"}]}
    }]})
}

fn rules_case(name: &str, env: &str, rule: Option<&str>) -> serde_json::Value {
    json!({"name": name,
           "input": {"capability_id": "cap.doc.summarize", "env": env, "data_label": "INTERNAL",
                     "tenant_risk": "low", "qos_class": "P2",
                     "correlation_id": "4b9a3c1e-0000-4000-8000-000000000001"},
           "expect": {"matched_rule_id": rule}})
}

#[tokio::test]
async fn rules_verbs_put_get_versions_activate_and_snapshots() {
    let srv = Server::start().await;
    let key = srv.tenant("org.acme").await;
    let cli = srv.cli(&key);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, v.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let dev = write("dev.json", &rules_doc("rr_dev", "dev"));
    let prod = write("prod.json", &rules_doc("rr_prod", "prod"));

    let out = cli.run(&["rules", "put", &dev, "--comment", "first"]).await;
    assert!(out.ok().contains("as version 1"), "{out:?}");
    let out = cli.run(&["rules", "put", &prod, "--no-activate"]).await;
    assert!(out.ok().contains("as version 2"), "{out:?}");
    assert!(out.stdout.contains("not in force"), "{out:?}");

    let got: serde_json::Value =
        serde_json::from_str(cli.run(&["rules", "get"]).await.ok()).unwrap();
    assert_eq!(got, rules_doc("rr_dev", "dev"));
    let got: serde_json::Value =
        serde_json::from_str(cli.run(&["rules", "get", "--version", "2"]).await.ok()).unwrap();
    assert_eq!(got, rules_doc("rr_prod", "prod"));
    let listed = cli.run(&["rules", "versions"]).await;
    let lines: Vec<&str> = listed.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{listed:?}");
    assert!(
        lines[0].starts_with("    2") && lines[1].starts_with("*   1"),
        "{listed:?}"
    );
    assert!(lines[1].ends_with("first"), "{listed:?}");

    let out = cli.run(&["rules", "activate", "2"]).await;
    assert!(out.ok().contains("Version 2 is now in force"), "{out:?}");
    let active = cli.run(&["rules", "get", "--json"]).await.json();
    assert_eq!(active["version"], 2);
    let out = cli.run(&["rules", "activate", "9"]).await;
    assert!(out.failed(1).starts_with("hallctl: 404 "), "{out:?}");

    // Snapshots: stored, read back, and a PUT that breaks them is refused.
    let cases = write(
        "cases.json",
        &json!([rules_case("prod routes", "prod", Some("rr_prod"))]),
    );
    cli.run(&["rules", "snapshots", "put", &cases]).await.ok();
    let stored: serde_json::Value =
        serde_json::from_str(cli.run(&["rules", "snapshots", "get"]).await.ok()).unwrap();
    assert_eq!(
        stored,
        json!([rules_case("prod routes", "prod", Some("rr_prod"))])
    );
    let out = cli.run(&["rules", "put", &dev]).await;
    assert!(out.failed(1).contains("snapshots_failed"), "{out:?}");
    assert!(
        out.stdout.contains("case \"prod routes\": matched_rule_id"),
        "{out:?}"
    );
    let out = cli.run(&["rules", "put", &dev, "--skip-snapshots"]).await;
    assert!(out.ok().contains("as version 3"), "{out:?}");
    srv.stop().await;
}

#[tokio::test]
async fn rules_test_exits_non_zero_on_a_difference_and_prints_it() {
    let srv = Server::start().await;
    let key = srv.tenant("org.acme").await;
    let cli = srv.cli(&key);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, rules_doc("rr_dev", "dev").to_string()).unwrap();
    let cases = dir.path().join("cases.json");
    std::fs::write(
        &cases,
        json!({"cases": [rules_case("dev", "dev", Some("rr_dev")),
                         rules_case("prod", "prod", Some("rr_dev"))]})
        .to_string(),
    )
    .unwrap();
    let (rules, cases) = (rules.to_str().unwrap(), cases.to_str().unwrap());

    let out = cli.run(&["rules", "test", rules, "--cases", cases]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stdout.contains("case \"prod\": matched_rule_id\n  expected \"rr_dev\"\n  actual   null (no rule matches: denied)"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("FAILED: 1 difference(s) in 2 case(s)"),
        "{out:?}"
    );

    std::fs::write(
        dir.path().join("good.json"),
        json!([rules_case("dev", "dev", Some("rr_dev"))]).to_string(),
    )
    .unwrap();
    let good = dir.path().join("good.json");
    let out = cli
        .run(&["rules", "test", rules, "--cases", good.to_str().unwrap()])
        .await;
    assert!(out.ok().contains("passed: 1 case(s)"), "{out:?}");
    srv.stop().await;
}

#[tokio::test]
async fn webhook_commands_create_list_update_rotate_and_read_the_delivery_log() {
    let srv = Server::start().await;
    let key = srv.tenant("org.hooks").await;
    let cli = srv.cli(&key);

    // Without the operator's permission a private URL is refused.
    let out = cli
        .run(&["webhook", "create", "http://127.0.0.1:9/x", "--event", "*"])
        .await;
    assert!(out.failed(1).contains("invalid_url"), "{out:?}");

    let out = cli
        .run(&[
            "--json",
            "webhook",
            "create",
            "https://hooks.example.com/hall",
            "--event",
            "approval.pending",
            "--event",
            "ban.confirmed",
            "--description",
            "pager",
        ])
        .await;
    let created = out.json();
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(
        created["event_types"],
        json!(["approval.pending", "ban.confirmed"])
    );

    let out = cli.run(&["webhook", "list"]).await;
    assert!(out.ok().contains(&id), "{out:?}");
    assert!(out.hides(&secret), "list printed the secret: {out:?}");

    let out = cli
        .run(&[
            "--json",
            "webhook",
            "update",
            &id,
            "--disable",
            "--no-description",
        ])
        .await;
    let updated = out.json();
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["description"], serde_json::Value::Null);

    let out = cli.run(&["webhook", "rotate-secret", &id]).await;
    let text = out.ok();
    assert!(
        text.contains("Signing secret (shown this once): whsec_"),
        "{out:?}"
    );
    assert!(
        !text.contains(&secret),
        "the old secret was printed: {out:?}"
    );

    let out = cli.run(&["webhook", "deliveries", &id]).await;
    assert!(out.ok().contains("no deliveries"), "{out:?}");
    let out = cli
        .run(&[
            "webhook",
            "redeliver",
            &id,
            "whdl_00000000000000000000000000000000",
        ])
        .await;
    assert!(out.failed(1).contains("404"), "{out:?}");

    let out = cli.run(&["webhook", "delete", &id]).await;
    assert!(out.ok().contains("Removed"), "{out:?}");
    let out = cli.run(&["webhook", "get", &id]).await;
    assert!(out.failed(1).contains("404"), "{out:?}");
}

#[tokio::test]
async fn policy_approval_ttl_sets_it_keeps_the_rest_and_refuses_out_of_range() {
    let srv = Server::start().await;
    let key = srv.tenant("org.ttl").await;
    let cli = srv.cli(&key);

    let out = cli.run(&["policy", "show"]).await;
    assert!(out.ok().contains("approval TTL: 3600 s"), "{out:?}");
    let set = srv
        .cli(&key)
        .run(&["--json", "policy", "approval-ttl", "900"])
        .await;
    assert_eq!(set.json()["decisions"]["approval_ttl_seconds"], 900);
    // The rest of the decision policy is sent back as it was.
    assert_eq!(set.json()["decisions"]["default_data_label"], "RESTRICTED");
    let out = cli.run(&["policy", "approval-ttl", "59"]).await;
    assert!(out.failed(1).contains("approval_ttl_seconds"), "{out:?}");
    let out = cli.run(&["--json", "policy", "show"]).await;
    assert_eq!(out.json()["decisions"]["approval_ttl_seconds"], 900);
}
