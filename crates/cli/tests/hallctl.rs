//! `hallctl` against the real server.

mod common;

use common::Cli;

const CATALOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/taxonomy-catalog.json"
);

/// The exit code, stdout, stderr.
fn hallctl(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cli = Cli::new();
    for (k, v) in envs {
        cli = cli.env(k, v);
    }
    let out = cli.run_blocking(args);
    (out.code, out.stdout, out.stderr)
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
    let srv = common::Server::start().await;
    let (url, key) = (srv.url.clone(), srv.operator.clone());

    let (code, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || hallctl(&["status"], &[("PYHALL_REGISTRY", &url)])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Status:   ok"), "{out}");

    let (code, _, err) = tokio::task::spawn_blocking({
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
    assert_ne!(code, 0, "import without a key must fail");
    assert!(err.contains("401 unauthenticated"), "{err}");

    let (code, out, err) = tokio::task::spawn_blocking({
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
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("245 new, 0 updated"), "{out}");

    let caps: serde_json::Value = reqwest::get(format!("{url}/wcp/capabilities"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(caps["capabilities"].as_array().unwrap().len(), 127);
    srv.stop().await;
}

#[tokio::test]
async fn keygen_and_attest_sign_a_card_the_registry_accepts() {
    let srv = common::Server::start().await;
    let (data, url, operator) = (&srv.data, srv.url.clone(), srv.operator.clone());
    let http = reqwest::Client::new();
    let post = |path: &str, key: &str, body: serde_json::Value| {
        http.post(format!("{url}{path}"))
            .bearer_auth(key.to_string())
            .json(&body)
            .send()
    };
    post(
        "/api/v1/tenants",
        &operator,
        serde_json::json!({"id": "org.cli", "display_name": "CLI"}),
    )
    .await
    .unwrap();
    let key: serde_json::Value = post(
        "/api/v1/api-keys",
        &operator,
        serde_json::json!({"name": "cli", "scopes": ["admin"], "tenant_id": "org.cli"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let w = post(
        "/api/v1/workers",
        &key,
        serde_json::json!({"name": "pkg", "namespace": "x.cli",
        "capabilities": ["cap.doc.summarize"], "worker_species_id": "wrk.doc.summarizer"}),
    )
    .await
    .unwrap();
    assert_eq!(w.status(), 201);

    let keyfile = data.path().join("signing.key");
    let (code, out, err) = hallctl(&["keygen", "--out", keyfile.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&keyfile).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("Public key:"))
        .unwrap()
        .trim()
        .to_string();
    let kid = out
        .lines()
        .find_map(|l| l.strip_prefix("Key id:"))
        .unwrap()
        .trim()
        .to_string();
    // keygen never overwrites a key.
    assert_ne!(
        hallctl(&["keygen", "--out", keyfile.to_str().unwrap()], &[]).0,
        0
    );
    let proof = attestation::keys::sign_key_proof(
        &audit::parse_seed(&std::fs::read_to_string(&keyfile).unwrap()).unwrap(),
        &wcp::TenantId::parse("org.cli").unwrap(),
        &wcp::Namespace::parse("x.cli").unwrap(),
    );
    let registered: serde_json::Value = post(
        "/api/v1/namespaces/x.cli/keys",
        &key,
        serde_json::json!({"public_key": public, "label": "cli", "proof": proof}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(registered["kid"], kid.as_str());

    let pkg = data.path().join("pkg");
    std::fs::create_dir_all(pkg.join("code/__pycache__")).unwrap();
    std::fs::write(pkg.join("code/worker.py"), "def run():\n    return 1\n").unwrap();
    std::fs::write(
        pkg.join("code/__pycache__/worker.cpython-311.pyc"),
        b"\x00junk",
    )
    .unwrap();
    std::fs::write(pkg.join("manifest.json"), "{}").unwrap();
    std::fs::write(pkg.join("requirements.lock"), "").unwrap();

    let (code, hash, err) = hallctl(&["hash", pkg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let hash = hash.trim().to_string();
    assert_eq!(hash.len(), 64);

    let args = [
        "attest",
        pkg.to_str().unwrap(),
        "--worker",
        "x.cli.pkg",
        "--key",
        keyfile.to_str().unwrap(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        let key = key.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            hallctl(
                &args,
                &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(" attested"), "{out}");

    let v: serde_json::Value = http
        .get(format!("{url}/api/v1/verify/x.cli.pkg"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["current_hash"], hash.as_str());
    let status: serde_json::Value = http
        .get(format!("{url}/api/v1/workers/x.cli.pkg/attestation"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (status["status"].as_str(), status["signed_by"].as_str()),
        (Some("attested"), Some(kid.as_str()))
    );

    // Changing the package changes the hash; an unregistered key is refused.
    std::fs::write(pkg.join("code/worker.py"), "def run():\n    return 2\n").unwrap();
    let other = data.path().join("other.key");
    assert_eq!(
        hallctl(&["keygen", "--out", other.to_str().unwrap()], &[]).0,
        0
    );
    let (code, out, _) = tokio::task::spawn_blocking({
        let (url, key, pkg, other) = (url.clone(), key.clone(), pkg.clone(), other.clone());
        move || {
            hallctl(
                &[
                    "attest",
                    pkg.to_str().unwrap(),
                    "--worker",
                    "x.cli.pkg",
                    "--key",
                    other.to_str().unwrap(),
                ],
                &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 3, "a denied attestation exits 3");
    assert!(out.contains("denied"), "{out}");

    // At L8 in prod a human must approve: the whole loop from the command line.
    let status = http
        .put(format!("{url}/api/v1/policy"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"decisions": {"tier_floors": {"prod": 8}}}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let cli = |args: Vec<String>| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            hallctl(
                &args,
                &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
            )
        })
    };
    let make: Vec<String> = [
        "decision",
        "make",
        "--worker",
        "x.cli.pkg",
        "--cap",
        "cap.doc.summarize",
        "--env",
        "prod",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (code, out, err) = cli(make.clone()).await.unwrap();
    assert_eq!(code, 3, "a decision waiting for a human is denied: {err}");
    assert!(
        out.starts_with("DENY  DENY_REQUIRES_HUMAN_APPROVAL"),
        "{out}"
    );
    let approval = out
        .lines()
        .find_map(|l| l.strip_prefix("approval: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the pending approval is printed")
        .to_string();
    let (code, list, _) = cli(vec!["approvals".into(), "list".into()]).await.unwrap();
    assert!(code == 0 && list.starts_with(&approval), "{list}");
    let (code, out, err) = cli(vec![
        "approvals".into(),
        "approve".into(),
        approval.clone(),
        "--note".into(),
        "ok".into(),
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": approved"), "{out}");
    let mut with = make.clone();
    with.extend(["--approval".to_string(), approval.clone()]);
    let (code, out, err) = cli(with.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ALLOW"), "{out}");
    let (_, out, _) = cli(with).await.unwrap();
    assert!(out.contains("already used"), "{out}");
    srv.stop().await;
}

#[tokio::test]
async fn decision_make_query_and_audit_verify_name_the_first_tampered_receipt() {
    let srv = common::Server::start().await;
    let (db, url, operator) = (&srv.db, srv.url.clone(), srv.operator.clone());
    let http = reqwest::Client::new();
    http.post(format!("{url}/api/v1/tenants"))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"id": "org.cli", "display_name": "CLI"}))
        .send()
        .await
        .unwrap();
    let key: serde_json::Value = http
        .post(format!("{url}/api/v1/api-keys"))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"name": "cli", "scopes": ["admin"], "tenant_id": "org.cli"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    http.post(format!("{url}/api/v1/workers")).bearer_auth(&key)
        .json(&serde_json::json!({"name": "w", "namespace": "x.cli", "capabilities": ["cap.data.read.v1"]}))
        .send().await.unwrap();

    let run = |args: Vec<&'static str>| {
        let (url, key) = (url.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            hallctl(
                &args,
                &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
            )
        })
    };
    let (code, out, err) = run(vec![
        "decision",
        "make",
        "--worker",
        "x.cli.w",
        "--cap",
        "cap.data.read.v1",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ALLOW"), "{out}");
    let (code, out, _) = run(vec![
        "decision",
        "make",
        "--worker",
        "x.cli.w",
        "--cap",
        "cap.data.write.v1",
    ])
    .await
    .unwrap();
    assert_eq!(code, 3, "denied decision exits 3");
    assert!(
        out.starts_with("DENY  DENY_CAPABILITY_NOT_DECLARED"),
        "{out}"
    );
    for _ in 0..3 {
        run(vec![
            "decision",
            "make",
            "--worker",
            "x.cli.w",
            "--cap",
            "cap.data.read.v1",
        ])
        .await
        .unwrap();
    }
    let (code, out, _) = run(vec!["decision", "query", "--denied", "true"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("cap.data.write.v1 DENY"), "{out}");

    let (code, out, err) = run(vec!["audit", "verify"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("OK: 5 receipts"), "{out}");

    // Behind the guard, rewrite the second receipt's outcome.
    let mut conn = db.connect().await;
    use sqlx::Executor;
    conn.execute("ALTER TABLE receipts DISABLE TRIGGER receipts_append_only")
        .await
        .unwrap();
    let tampered: String = sqlx::query_scalar(
        "UPDATE receipts SET body = jsonb_set(jsonb_set(body::jsonb, '{outcome}', '\"ALLOW\"'), '{deny_code}', 'null')::json
         WHERE seq = 2 RETURNING receipt_id::text",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let (code, _, err) = run(vec!["audit", "verify"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("BROKEN: receipt 1"), "{err}");
    assert!(
        err.contains(&tampered),
        "the tampered receipt is not named: {err}"
    );
    assert!(err.contains("receipt_hash does not match"), "{err}");

    // Deleting a receipt instead is named at the next one, by its broken link.
    let next: String = sqlx::query_scalar("SELECT receipt_id::text FROM receipts WHERE seq = 4")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.execute("DELETE FROM receipts WHERE seq IN (2, 3)")
        .await
        .unwrap();
    let (code, _, err) = run(vec!["audit", "verify"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(
        err.contains(&next) && err.contains("does not link"),
        "{err}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn route_prints_the_routed_decision_and_exits_3_on_a_deny() {
    let srv = common::Server::start().await;
    let (url, operator) = (srv.url.clone(), srv.operator.clone());
    let http = reqwest::Client::new();
    http.post(format!("{url}/api/v1/tenants"))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"id": "org.cli", "display_name": "CLI"}))
        .send()
        .await
        .unwrap();
    let key: serde_json::Value = http
        .post(format!("{url}/api/v1/api-keys"))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"name": "cli", "scopes": ["admin"], "tenant_id": "org.cli"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        hallctl(
            &["route", "--cap", "cap.data.read.v1", "--label", "PUBLIC"],
            &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 3, "{out} {err}");
    assert!(out.starts_with("DENY  DENY_NO_MATCHING_RULE"), "{out}");
    assert!(out.contains("rule:   NO_MATCH"), "{out}");
    assert!(out.contains("proof:  "), "{out}");
}

#[tokio::test]
async fn keys_rotate_starts_a_new_kid_and_audit_verify_still_passes_across_both() {
    let srv = common::Server::start().await;
    let (url, operator) = (srv.url.clone(), srv.operator.clone());
    // Decisions are a tenant's (the operator's key must name one).
    let tenant = srv.tenant("org.rotate").await;
    let run = |args: Vec<&'static str>, key: String| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            hallctl(
                &args,
                &[("PYHALL_REGISTRY", &url), ("PYHALL_API_KEY", &key)],
            )
        })
    };
    let decide = || {
        run(
            vec![
                "decision",
                "make",
                "--worker",
                "x.nobody.w",
                "--cap",
                "cap.a.b",
            ],
            tenant.clone(),
        )
    };
    assert_eq!(decide().await.unwrap().0, 3, "an unknown worker is denied");
    let (code, before, err) = run(vec!["keys", "list"], operator.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(before.lines().count(), 1, "{before}");
    assert!(before.contains("active"), "{before}");

    let (code, out, err) = run(vec!["keys", "rotate"], operator.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Receipts are now signed with rk_"), "{out}");
    assert_eq!(out.matches("retired").count(), 2, "{out}");
    assert_eq!(out.matches("active").count(), 1, "{out}");
    assert_eq!(decide().await.unwrap().0, 3);

    let (code, out, err) = run(vec!["audit", "verify"], tenant.clone()).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("OK: 2 receipts"), "{out}");
    srv.stop().await;
}

/// Saves a chain and the keys from a real registry, stops it, then checks
/// the saved material with no registry at all: the whole chain, pages as
/// the API gave them, one receipt and one decision answer — and names what
/// was changed in each.
#[tokio::test]
async fn audit_export_and_keys_export_verify_offline_with_no_registry_running() {
    use serde_json::{json, Value};
    let srv = common::Server::start().await;
    let key = srv.tenant("org.offline").await;
    srv.post(
        "/api/v1/workers",
        &key,
        json!({"name": "w", "namespace": "x.offline", "capabilities": ["cap.data.read.v1"]}),
    )
    .await;
    let cli = srv.cli(&key);
    let decide = |cap: &'static str| {
        let cli = cli.clone();
        async move {
            cli.run(&[
                "decision",
                "make",
                "--worker",
                "x.offline.w",
                "--cap",
                cap,
                "--json",
            ])
            .await
        }
    };
    let allowed = decide("cap.data.read.v1").await;
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert_eq!(decide("cap.data.write.v1").await.code, 3);
    for _ in 0..3 {
        assert_eq!(decide("cap.data.read.v1").await.code, 0);
    }

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (chain, keys, listed, pages, decision, receipt, array) = (
        path("chain.json"),
        path("keys.json"),
        path("keys-list.json"),
        path("pages.json"),
        path("decision.json"),
        path("receipt.json"),
        path("array.json"),
    );
    let out = cli.run(&["audit", "export", "--out", &chain]).await;
    assert!(
        out.ok().contains("Exported 5 receipts of org.offline"),
        "{out:?}"
    );
    let out = cli.run(&["keys", "export", "--out", &keys]).await;
    assert!(out.ok().contains("Saved 1 receipt keys"), "{out:?}");
    let out = cli.run(&["keys", "list", "--json"]).await;
    std::fs::write(&listed, out.ok()).unwrap();
    // The API's own pages, two receipts each, one after another in one file.
    let mut text = String::new();
    let mut after = 0;
    loop {
        let page: Value = srv
            .http
            .get(format!(
                "{}/api/v1/audit/receipts?after={after}&limit=2",
                srv.url
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        text.push_str(&page.to_string());
        text.push('\n');
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    std::fs::write(&pages, &text).unwrap();
    std::fs::write(&decision, &allowed.stdout).unwrap();
    let answer: Value = serde_json::from_str(&allowed.stdout).unwrap();
    std::fs::write(&receipt, answer["receipt"].to_string()).unwrap();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&chain).unwrap()).unwrap();
    std::fs::write(&array, saved["receipts"].to_string()).unwrap();
    let url = srv.url.clone();
    srv.stop().await;

    // No registry: still pointed at the stopped one, and nothing is needed from it.
    let offline = Cli::new()
        .env("PYHALL_REGISTRY", &url)
        .env("PYHALL_API_KEY", &key);
    let verify = |what: &str, file: &str, keys: &str| {
        offline.run_blocking(&["audit", "verify", what, file, "--keys", keys])
    };
    for (file, keys) in [(&chain, &keys), (&pages, &listed), (&array, &keys)] {
        let out = verify("--export", file, keys);
        assert!(
            out.ok()
                .starts_with("OK: 5 receipts of org.offline, every hash, link and signature"),
            "{file}: {out:?}"
        );
    }
    let out = offline.run_blocking(&[
        "audit", "verify", "--export", &chain, "--keys", &keys, "--json",
    ]);
    assert_eq!(out.json()["ok"], true, "{out:?}");
    assert_eq!(out.json()["receipts"], 5, "{out:?}");
    let id = answer["id"].as_str().unwrap();
    let acting = answer["receipt"]["acting_key_id"].as_str().unwrap();
    for file in [&decision, &receipt] {
        let out = verify("--receipt", file, &keys);
        assert!(
            out.ok()
                .starts_with(&format!("OK: receipt {id}, hash and signature verified")),
            "{out:?}"
        );
        assert!(
            out.ok()
                .contains(&format!("acting key {acting} (receipt format 2)")),
            "{out:?}"
        );
    }
    let out = offline.run_blocking(&[
        "audit",
        "verify",
        "--receipt",
        &receipt,
        "--keys",
        &keys,
        "--json",
    ]);
    assert_eq!(out.json()["receipt_version"], 2, "{out:?}");
    assert_eq!(out.json()["acting_key_id"], acting, "{out:?}");

    // One changed field in the chain: the receipt is named, exit 1.
    let mut changed = saved.clone();
    let third = changed["receipts"][2]["receipt_id"]
        .as_str()
        .unwrap()
        .to_string();
    changed["receipts"][2]["capability_id"] = json!("cap.data.delete.v1");
    std::fs::write(&chain, changed.to_string()).unwrap();
    let out = verify("--export", &chain, &keys);
    let err = out.failed(1);
    assert!(
        err.starts_with(&format!("hallctl: BROKEN: receipt 2 ({third})")),
        "{err}"
    );
    assert!(err.contains("receipt_hash does not match"), "{err}");
    let out = offline.run_blocking(&[
        "audit", "verify", "--export", &chain, "--keys", &keys, "--json",
    ]);
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["ok"], false, "{out:?}");
    // A field of the wrong type is named too.
    let mut changed = saved.clone();
    changed["receipts"][1]["tier"] = json!("8");
    std::fs::write(&chain, changed.to_string()).unwrap();
    let out = verify("--export", &chain, &keys);
    assert!(out.failed(1).contains("BROKEN: receipt 1 ("), "{out:?}");
    // A receipt taken out: the next one's link is named.
    let mut removed = saved.clone();
    let fourth = removed["receipts"][3]["receipt_id"]
        .as_str()
        .unwrap()
        .to_string();
    removed["receipts"].as_array_mut().unwrap().remove(2);
    std::fs::write(&chain, removed.to_string()).unwrap();
    let err = verify("--export", &chain, &keys).failed(1).to_string();
    assert!(
        err.contains(&format!("receipt 2 ({fourth})")) && err.contains("does not link"),
        "{err}"
    );
    // Keys of another registry name the unknown kid.
    std::fs::write(&chain, saved.to_string()).unwrap();
    let other = path("other-keys.json");
    std::fs::write(
        &other,
        json!({"keys": [{"kid": "rk_0000000000000000", "public_key": "A".repeat(43) + "="}]})
            .to_string(),
    )
    .unwrap();
    let err = verify("--export", &chain, &other).failed(1).to_string();
    assert!(err.contains("unknown key rk_"), "{err}");
    // One receipt is not a chain.
    let err = verify("--export", &receipt, &keys).failed(1).to_string();
    assert!(err.contains("--receipt"), "{err}");

    // One receipt, changed: named, exit 1.
    let mut forged = answer["receipt"].clone();
    forged["env"] = json!("prod");
    std::fs::write(&receipt, forged.to_string()).unwrap();
    let err = verify("--receipt", &receipt, &keys).failed(1).to_string();
    assert!(
        err.contains(&format!(
            "BROKEN: receipt {id}: receipt_hash does not match"
        )),
        "{err}"
    );
    // A decision whose own summary was changed names the field.
    let mut lied = answer.clone();
    lied["denied"] = json!(true);
    std::fs::write(&decision, lied.to_string()).unwrap();
    let err = verify("--receipt", &decision, &keys).failed(1).to_string();
    assert!(err.contains("the decision's denied (true)"), "{err}");
    // Standard input works for the receipt.
    let mut child = std::process::Command::new(common::HALLCTL)
        .args(["audit", "verify", "--receipt", "-", "--keys", &keys])
        .env("PYHALL_REGISTRY", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(allowed.stdout.as_bytes()).unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{done:?}");
}

/// A receipt as the registry exported it before receipts recorded the
/// acting key (format 1), and the same decision in format 2 (the `audit`
/// crate's pinned vectors), signed by the key of seed `[5; 32]`.
const V1_RECEIPT: &str = r#"{"receipt_id": "0193a1b2-0000-7000-8000-000000000001",
    "spec_version": "0.1.0", "tenant_id": "org.acme", "correlation_id": "corr-1",
    "decided_at": "2026-11-24T12:00:00.000Z", "worker_id": "x.acme.w",
    "capability_id": "cap.data.read.v1", "env": "dev", "data_label": "PUBLIC",
    "outcome": "DENY", "deny_code": "DENY_ENV_NOT_ALLOWED", "tier": 2,
    "policy_version": "hall-default-policy/1", "controls_verified": ["sbom"],
    "request_hash": null, "dry_run": false,
    "prev_receipt_hash": "abababababababababababababababababababababababababababababababab",
    "signing_key_id": "rk_7599776c3085e3f9",
    "receipt_hash": "10c73152c8800c8d11c489d6c346630cde3e9a852abaac770a3ec19775ee22af",
    "signature": "a5Ai6inLvQTM8QXKv2dWHkLVovzPyDF+o4weqmQFjvwIFiNHk2cOFbyHP8D3j3A9zQbNB2SbXfMSG6vsx8liCg=="}"#;

#[test]
fn audit_verify_reads_receipts_of_both_formats_and_names_an_unknown_one() {
    use serde_json::{json, Value};
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let keys = path("keys.json");
    std::fs::write(
        &keys,
        json!({"keys": [{"kid": "rk_7599776c3085e3f9",
            "public_key": "bnoc3Smwt4/ROvTFWY/v9O8qlxZuPKby5Pv8zYBQW/E=", "status": "active"}]})
        .to_string(),
    )
    .unwrap();
    let v1: Value = serde_json::from_str(V1_RECEIPT).unwrap();
    let mut v2 = v1.clone();
    v2["receipt_version"] = json!(2);
    v2["acting_key_id"] = json!("0193a1b2-5555-7000-8000-00000000000a");
    v2["receipt_hash"] = json!("b34fa6c48fcdf181c7386f435a6f177b96b227f94309ff71851ddb43747e9dd6");
    v2["signature"] = json!(
        "dWY7C8B9wY13wmNNK5q1cWYfexPyP/Dglt2GqY7FVtAK5NOGnPTYHRhOT8R7pIf/7p9SfgHXJLOI0IMOju0QAg=="
    );
    // A route decision's receipt (crates/audit's pinned `v3_content`).
    let mut v3 = v2.clone();
    v3["receipt_version"] = json!(3);
    v3["matched_rule_id"] = json!("rr_doc");
    v3["rules_version"] = json!("4");
    v3["rules_sha256"] = json!("cd".repeat(32));
    v3["selected_worker_species_id"] = json!("wrk.doc.summarizer");
    v3["receipt_hash"] = json!("b25b4248bdf40c1d797e03ba86933fc6c2cc6dabdc9e2ba1db18b5e665d77675");
    v3["signature"] = json!(
        "//Tksj3AD8nGPnGHUTkMlAU1h+su/FeudRHqJwSiUGbEtBH157gq18iiukYTXAAKb7UFXG8wWQdfoLvquHEfCQ=="
    );
    let mut v4 = v2.clone();
    v4["receipt_version"] = json!(4);
    let cli = common::Cli::new();
    let verify = |name: &str, receipt: &Value| {
        let file = path(name);
        std::fs::write(&file, receipt.to_string()).unwrap();
        cli.run_blocking(&["audit", "verify", "--receipt", &file, "--keys", &keys])
    };

    let out = verify("v1.json", &v1);
    assert!(
        out.ok().starts_with(
            "OK: receipt 0193a1b2-0000-7000-8000-000000000001, hash and signature verified"
        ),
        "{out:?}"
    );
    assert!(
        out.ok()
            .contains("receipt format 1: the acting key is not recorded"),
        "{out:?}"
    );
    let out = verify("v2.json", &v2);
    assert!(
        out.ok()
            .contains("acting key 0193a1b2-5555-7000-8000-00000000000a (receipt format 2)"),
        "{out:?}"
    );
    let mut changed = v2.clone();
    changed["acting_key_id"] = json!("0193a1b2-6666-7000-8000-00000000000b");
    assert!(
        verify("changed.json", &changed)
            .failed(1)
            .contains("receipt_hash does not match"),
        "changed acting key"
    );
    let out = verify("v3.json", &v3);
    assert!(
        out.ok().contains("hash and signature verified") && out.ok().contains("(receipt format 3)"),
        "{out:?}"
    );
    let mut changed = v3.clone();
    changed["rules_version"] = json!("5");
    assert!(
        verify("changed3.json", &changed)
            .failed(1)
            .contains("receipt_hash does not match"),
        "changed rules version"
    );
    let out = verify("v4.json", &v4);
    assert!(
        out.failed(1)
            .contains("receipt_version 4 is not one this verifier knows"),
        "{out:?}"
    );
}

#[tokio::test]
async fn audit_prove_and_verify_against_a_checkpoint_find_a_truncated_history() {
    use serde_json::{json, Value};
    let srv = common::Server::start().await;
    let key = srv.tenant("org.tlog").await;
    srv.post(
        "/api/v1/workers",
        &key,
        json!({"name": "w", "namespace": "x.tlog", "capabilities": ["cap.data.read.v1"]}),
    )
    .await;
    let cli = srv.cli(&key);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let out = cli
            .run(&[
                "decision",
                "make",
                "--worker",
                "x.tlog.w",
                "--cap",
                "cap.data.read.v1",
                "--json",
            ])
            .await;
        let answer: Value = serde_json::from_str(out.ok()).unwrap();
        ids.push(answer["id"].as_str().unwrap().to_string());
    }
    // The checkpoint of all four (the test server issues one every 200 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let checkpoint: Value = loop {
        let c: Value = srv
            .http
            .get(format!("{}/api/v1/audit/checkpoint", srv.url))
            .bearer_auth(&key)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        if c["tree_size"] == 4 {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint of 4");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    let out = cli.run(&["audit", "prove", &ids[2]]).await;
    assert!(
        out.ok().starts_with(&format!(
            "OK: receipt {} is leaf 2 of org.tlog's tree of 4 receipts",
            ids[2]
        )),
        "{out:?}"
    );
    let out = cli.run(&["audit", "prove", &ids[0], "--json"]).await;
    assert_eq!(out.json()["leaf_index"], 0, "{out:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (chain, keys, note, as_json) = (
        path("chain.json"),
        path("keys.json"),
        path("checkpoint.txt"),
        path("checkpoint.json"),
    );
    cli.run(&["audit", "export", "--out", &chain]).await.ok();
    cli.run(&["keys", "export", "--out", &keys]).await.ok();
    std::fs::write(&note, checkpoint["checkpoint"].as_str().unwrap()).unwrap();
    std::fs::write(&as_json, checkpoint.to_string()).unwrap();
    // Online and offline, as text and as JSON: the chain holds the tree.
    let out = cli.run(&["audit", "verify", "--checkpoint", &note]).await;
    assert!(
        out.ok()
            .contains("they hold the signed checkpoint's tree of 4"),
        "{out:?}"
    );
    for file in [&note, &as_json] {
        let out = cli
            .run(&[
                "audit",
                "verify",
                "--export",
                &chain,
                "--keys",
                &keys,
                "--checkpoint",
                file,
            ])
            .await;
        assert!(out.ok().contains("tree of 4"), "{file}: {out:?}");
    }
    // The newest receipt dropped from the export: every link still holds,
    // the checkpoint finds it.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&chain).unwrap()).unwrap();
    let mut truncated = saved.clone();
    truncated["receipts"].as_array_mut().unwrap().pop();
    std::fs::write(&chain, truncated.to_string()).unwrap();
    let plain = cli
        .run(&["audit", "verify", "--export", &chain, "--keys", &keys])
        .await;
    assert_eq!(
        plain.code, 0,
        "without the checkpoint it looks whole: {plain:?}"
    );
    let out = cli
        .run(&[
            "audit",
            "verify",
            "--export",
            &chain,
            "--keys",
            &keys,
            "--checkpoint",
            &note,
        ])
        .await;
    assert!(out.failed(1).contains("truncated history"), "{out:?}");
    // A checkpoint whose signature was tampered with is refused.
    let forged = checkpoint["checkpoint"]
        .as_str()
        .unwrap()
        .replacen("\n4\n", "\n3\n", 1);
    std::fs::write(&note, forged).unwrap();
    std::fs::write(&chain, saved.to_string()).unwrap();
    let out = cli
        .run(&[
            "audit",
            "verify",
            "--export",
            &chain,
            "--keys",
            &keys,
            "--checkpoint",
            &note,
        ])
        .await;
    assert!(out.failed(1).contains("does not verify"), "{out:?}");
}

/// Waits for the tenant's latest checkpoint to cover `size` receipts.
async fn checkpoint_of(srv: &common::Server, key: &str, size: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let c: serde_json::Value = srv
            .http
            .get(format!("{}/api/v1/audit/checkpoint", srv.url))
            .bearer_auth(key)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(serde_json::Value::Null);
        if c["tree_size"].as_u64().is_some_and(|s| s >= size) {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {size}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_witness_cosigns_what_extends_its_history_and_alarms_on_a_rewritten_one() {
    use serde_json::{json, Value};
    let srv = common::Server::start().await;
    let key = srv.tenant("org.witness").await;
    srv.post(
        "/api/v1/workers",
        &key,
        json!({"name": "w", "namespace": "x.witness", "capabilities": ["cap.data.read.v1"]}),
    )
    .await;
    let cli = srv.cli(&key);
    let decide = || async {
        let out = cli
            .run(&[
                "decision",
                "make",
                "--worker",
                "x.witness.w",
                "--cap",
                "cap.data.read.v1",
                "--json",
            ])
            .await;
        serde_json::from_str::<Value>(out.ok()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (key_file, state) = (path("witness.key"), path("witness.state"));

    // Nothing to witness before the first receipt.
    let out = cli.run(&["audit", "witness", "--state", &state]).await;
    assert!(out.ok().contains("Nothing to witness yet"), "{out:?}");

    let out = cli
        .run(&[
            "audit",
            "witness-key",
            "--name",
            "witness.test/w1",
            "--out",
            &key_file,
        ])
        .await;
    let vkey = out.ok().trim().to_string();
    assert!(vkey.starts_with("witness.test/w1+"), "{vkey}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = cli.run(&["audit", "witnesses", "add", &vkey]).await;
    assert!(
        out.ok().contains("Witness witness.test/w1 added"),
        "{out:?}"
    );
    let out = cli.run(&["audit", "witnesses", "list"]).await;
    assert!(out.ok().contains("witness.test/w1  tenant"), "{out:?}");

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(decide().await);
    }
    checkpoint_of(&srv, &key, 3).await;
    let out = cli
        .run(&["audit", "witness", "--state", &state, "--key", &key_file])
        .await;
    assert!(
        out.ok().contains("has 3 receipts") && out.ok().contains("the first seen"),
        "{out:?}"
    );
    assert!(out.ok().contains("cosigned as witness.test/w1"), "{out:?}");
    // An auditor who requires the witness proves against what it cosigned.
    let out = cli
        .run(&["audit", "prove", &ids[1], "--witness", &vkey])
        .await;
    assert!(
        out.ok().contains("is leaf 1 of org.witness's tree of 3"),
        "{out:?}"
    );

    ids.push(decide().await);
    ids.push(decide().await);
    checkpoint_of(&srv, &key, 5).await;
    let out = cli
        .run(&[
            "audit", "witness", "--state", &state, "--key", &key_file, "--json",
        ])
        .await;
    let report = out.json();
    assert_eq!(report["tree_size"], 5, "{out:?}");
    assert_eq!(report["consistent_with"], 3, "{out:?}");
    let witnessed = checkpoint_of(&srv, &key, 5).await;
    let out = cli
        .run(&["audit", "prove", &ids[4], "--witness", &vkey])
        .await;
    assert!(out.ok().contains("tree of 5"), "{out:?}");

    // Someone with the database rewrites the tree's history (its right
    // edge): the next checkpoints are signed over a tree that does not
    // extend the one the witness saw.
    let mut conn = srv.db.connect().await;
    sqlx::query(
        "UPDATE receipt_chains SET tree_edge = overlay(tree_edge placing '\\xff'::bytea from 1 for 1)
         WHERE tenant_id = 'org.witness'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let after = decide().await;
    let rewritten = checkpoint_of(&srv, &key, 6).await;
    let before = std::fs::read_to_string(&state).unwrap();
    let out = cli
        .run(&["audit", "witness", "--state", &state, "--key", &key_file])
        .await;
    let err = out.failed(1);
    assert!(err.contains("ALARM: "), "{err}");
    assert!(err.contains("does not extend the tree of 5"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        before,
        "an alarm keeps the state: the next run alarms again"
    );
    assert!(cli
        .run(&["audit", "witness", "--state", &state])
        .await
        .failed(1)
        .contains("ALARM: "));
    // The rewritten checkpoint was never cosigned: an auditor who requires
    // the witness refuses it, and still proves against the witnessed one.
    let note = path("rewritten.txt");
    std::fs::write(&note, rewritten["checkpoint"].as_str().unwrap()).unwrap();
    let out = cli
        .run(&["audit", "verify", "--checkpoint", &note, "--witness", &vkey])
        .await;
    assert!(
        out.failed(1)
            .contains("not cosigned by witness witness.test/w1"),
        "{out:?}"
    );
    let out = cli
        .run(&["audit", "prove", &after, "--witness", &vkey])
        .await;
    assert_ne!(
        out.code, 0,
        "the new receipt is in no witnessed tree: {out:?}"
    );
    let cosigned = path("witnessed.json");
    std::fs::write(&cosigned, witnessed.to_string()).unwrap();
    let out = cli
        .run(&[
            "audit",
            "verify",
            "--checkpoint",
            &cosigned,
            "--witness",
            &vkey,
        ])
        .await;
    assert!(out.ok().contains("tree of 5"), "{out:?}");
    // The tree and the chain disagree: `audit verify` names the receipt
    // where they part, with the rewritten checkpoint or with none.
    for args in [
        vec!["audit", "verify", "--checkpoint", note.as_str()],
        vec!["audit", "verify"],
    ] {
        let out = cli.run(&args).await;
        let err = out.failed(1);
        assert!(err.contains("BROKEN"), "{args:?}: {err}");
        assert!(
            err.contains(&format!("part at receipt 6 ({after})")),
            "{args:?}: the receipt is not named: {err}"
        );
    }
    srv.stop().await;
}
