//! Every policy tier L0–L8 over HTTP, each with a decision it allows and one
//! it denies for the check that tier adds, and every deny code the chain
//! can return — each in a receipt that verifies.

use std::time::{Duration, Instant};

use crate::support::{card, decision, sha, TestServer, Worker};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

const CAP: &str = "cap.tier.run";
const CONTROL: &str = "ctrl.tier.audit";
const SPECIES: &str = "wrk.tier.runner";

struct Tenant {
    key: String,
    other: String,
    signing: SigningKey,
    kid: String,
}

async fn setup(s: &TestServer) -> Tenant {
    let (_, key) = s.tenant_with_key("org.tiers", &["admin"]).await;
    let (_, other) = s
        .tenant_with_key("org.stranger", &["decisions:write"])
        .await;
    // The namespace is claimed by the first registration.
    s.register(&key, &worker("x.tiers.seed", 0)).await;
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let kid = s.add_namespace_key(&key, "x.tiers", &signing).await;
    Tenant {
        key,
        other,
        signing,
        kid,
    }
}

/// `worker_id` at `tier`: declares CAP, runs in dev and prod, clears
/// INTERNAL data, implements its one required control, blast score 5.
fn worker(worker_id: &str, tier: u8) -> Worker {
    Worker::id(worker_id)
        .species(SPECIES)
        .capabilities(&[CAP])
        .tier(tier)
        .environments(&["dev", "prod"])
        .max_data_label("INTERNAL")
        .set("required_controls", json!([CONTROL]))
        .set("currently_implements", json!([CONTROL]))
        .set(
            "blast_radius",
            json!({"data": 1, "network": 1, "financial": 1, "time": 1, "reversibility": 1}),
        )
}

/// A capability card of `worker_id`, signed with the namespace key.
async fn attest_card(s: &TestServer, t: &Tenant, worker_id: &str, sha: &str) {
    let card = card(worker_id, SPECIES, &[CAP], sha, &t.kid);
    s.attest_signed(&t.key, &card, &t.signing).await;
}

/// Decides as `key` and returns `(deny_code or "ALLOW", tier)`, checking
/// that the answer is a 200 whose receipt agrees with it.
async fn decide(
    s: &TestServer,
    key: &str,
    worker_id: &str,
    env: &str,
    label: &str,
    cap: &str,
) -> (String, u64) {
    let d = s.decide(key, decision(worker_id, cap, env, label)).await;
    let outcome = if d["denied"] == true {
        assert!(
            d["deny_reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{d}"
        );
        assert_eq!(d["receipt"]["outcome"], "DENY");
        assert_eq!(d["receipt"]["deny_code"], d["deny_code"]);
        d["deny_code"].as_str().unwrap().to_string()
    } else {
        assert_eq!(d["receipt"]["outcome"], "ALLOW");
        assert!(d["deny_code"].is_null(), "{d}");
        "ALLOW".to_string()
    };
    assert_eq!(d["proof"], d["receipt"]["receipt_hash"]);
    (outcome, d["tier"].as_u64().unwrap())
}

/// Asserts that `key` may run CAP on `worker_id` in `env` with `label` data,
/// at `tier`.
async fn allows(s: &TestServer, key: &str, worker_id: &str, env: &str, label: &str, tier: u64) {
    assert_eq!(
        decide(s, key, worker_id, env, label, CAP).await,
        ("ALLOW".into(), tier),
        "{worker_id} in {env} with {label}"
    );
}

/// Asserts that `key` may not run CAP on `worker_id` in `env` with `label`
/// data, for `code`.
async fn denies(s: &TestServer, key: &str, worker_id: &str, env: &str, label: &str, code: &str) {
    assert_eq!(
        decide(s, key, worker_id, env, label, CAP).await.0,
        code,
        "{worker_id} in {env} with {label}"
    );
}

/// Polls `key`'s decision on `worker_id` (CAP, dev, PUBLIC) until it is
/// denied with `code`, failing if that takes longer than `within` or if any
/// answer before it is other than an allow.
async fn allowed_until_denied(
    s: &TestServer,
    key: &str,
    worker_id: &str,
    code: &str,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let (seen, _) = decide(s, key, worker_id, "dev", "PUBLIC", CAP).await;
        if seen == code {
            return;
        }
        assert_eq!(seen, "ALLOW");
        assert!(
            Instant::now() < deadline,
            "{worker_id} never denied with {code} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn every_tier_allows_what_it_should_and_denies_what_it_adds() {
    let s = TestServer::start().await;
    let t = setup(&s).await;
    let k = t.key.as_str();
    for tier in 0..=8u8 {
        s.register(k, &worker(&format!("x.tiers.l{tier}"), tier))
            .await;
    }

    let other = t.other.as_str();
    for (key, worker_id, env, label, expected) in [
        // L0 observe: registered, capability declared. Anyone may use a public L0 worker.
        (k, "x.tiers.l0", "dev", "PUBLIC", Ok(0)),
        (other, "x.tiers.l0", "stage", "RESTRICTED", Ok(0)),
        // L1 scoped: the env must be allowed and the caller the owner or a signatory.
        (k, "x.tiers.l1", "prod", "RESTRICTED", Ok(1)),
        (
            k,
            "x.tiers.l1",
            "stage",
            "PUBLIC",
            Err("DENY_ENV_NOT_ALLOWED"),
        ),
        (
            other,
            "x.tiers.l1",
            "dev",
            "PUBLIC",
            Err("DENY_UNKNOWN_TENANT"),
        ),
        // L2 labeled: the data label within the worker's clearance.
        (k, "x.tiers.l2", "prod", "INTERNAL", Ok(2)),
        (
            k,
            "x.tiers.l2",
            "dev",
            "RESTRICTED",
            Err("DENY_DATA_LABEL_EXCEEDS_CLEARANCE"),
        ),
    ] {
        match expected {
            Ok(tier) => allows(&s, key, worker_id, env, label, tier).await,
            Err(code) => denies(&s, key, worker_id, env, label, code).await,
        }
    }
    assert_eq!(
        decide(&s, k, "x.tiers.l0", "dev", "PUBLIC", "cap.tier.other")
            .await
            .0,
        "DENY_CAPABILITY_NOT_DECLARED"
    );

    // L3 attested-in-prod: dev runs unattested, prod does not.
    allows(&s, k, "x.tiers.l3", "dev", "PUBLIC", 3).await;
    denies(&s, k, "x.tiers.l3", "prod", "PUBLIC", "DENY_NOT_ATTESTED").await;
    s.attest_hash(k, "x.tiers.l3", &sha('3')).await;
    allows(&s, k, "x.tiers.l3", "prod", "PUBLIC", 3).await;

    // L4 attested: every env needs a current attestation.
    denies(&s, k, "x.tiers.l4", "dev", "PUBLIC", "DENY_NOT_ATTESTED").await;
    s.attest_hash(k, "x.tiers.l4", &sha('4')).await;
    allows(&s, k, "x.tiers.l4", "dev", "PUBLIC", 4).await;

    // L5 signed: a hash alone is not enough; a signed capability card is.
    s.attest_hash(k, "x.tiers.l5", &sha('5')).await;
    denies(
        &s,
        k,
        "x.tiers.l5",
        "dev",
        "PUBLIC",
        "DENY_ATTESTATION_UNSIGNED",
    )
    .await;
    attest_card(&s, &t, "x.tiers.l5", &sha('5')).await;
    allows(&s, k, "x.tiers.l5", "prod", "PUBLIC", 5).await;

    // L6 controlled: required controls implemented, blast within the env's threshold.
    attest_card(&s, &t, "x.tiers.l6", &sha('6')).await;
    allows(&s, k, "x.tiers.l6", "prod", "PUBLIC", 6).await;
    s.register(
        k,
        &worker("x.tiers.l6-uncontrolled", 6).set("currently_implements", json!([])),
    )
    .await;
    attest_card(&s, &t, "x.tiers.l6-uncontrolled", &sha('7')).await;
    denies(
        &s,
        k,
        "x.tiers.l6-uncontrolled",
        "dev",
        "PUBLIC",
        "DENY_MISSING_REQUIRED_CONTROLS",
    )
    .await;
    // Score 12: within dev's 25, over prod's 10.
    s.register(
        k,
        &worker("x.tiers.l6-blast", 6).set(
            "blast_radius",
            json!({"data": 3, "network": 3, "financial": 2, "time": 2, "reversibility": 2}),
        ),
    )
    .await;
    attest_card(&s, &t, "x.tiers.l6-blast", &sha('8')).await;
    allows(&s, k, "x.tiers.l6-blast", "dev", "PUBLIC", 6).await;
    denies(
        &s,
        k,
        "x.tiers.l6-blast",
        "prod",
        "PUBLIC",
        "DENY_BLAST_RADIUS_EXCEEDED",
    )
    .await;

    // L7 supervised: RESTRICTED data (or over-threshold blast) in prod needs a human.
    s.register(
        k,
        &worker("x.tiers.l7-cleared", 7).max_data_label("RESTRICTED"),
    )
    .await;
    attest_card(&s, &t, "x.tiers.l7-cleared", &sha('9')).await;
    allows(&s, k, "x.tiers.l7-cleared", "prod", "INTERNAL", 7).await;
    denies(
        &s,
        k,
        "x.tiers.l7-cleared",
        "prod",
        "RESTRICTED",
        "DENY_REQUIRES_HUMAN_APPROVAL",
    )
    .await;

    // L8 gatekeeper: every prod call needs a human; attestations must be fresh.
    attest_card(&s, &t, "x.tiers.l8", &sha('a')).await;
    allows(&s, k, "x.tiers.l8", "dev", "PUBLIC", 8).await;
    denies(
        &s,
        k,
        "x.tiers.l8",
        "prod",
        "PUBLIC",
        "DENY_REQUIRES_HUMAN_APPROVAL",
    )
    .await;
    // Time passes (the default maximum age is 90 days).
    s.sql(
        "UPDATE attestations SET created_at = created_at - interval '91 days',
            approved_at = approved_at - interval '91 days' WHERE worker_id = 'x.tiers.l8'",
    )
    .await;
    // Changed behind the server's back, like another replica would: it hears
    // of it through PostgreSQL's NOTIFY, within milliseconds.
    allowed_until_denied(
        &s,
        k,
        "x.tiers.l8",
        "DENY_ATTESTATION_STALE",
        Duration::from_secs(5),
    )
    .await;

    // A tenant floor raises the effective tier: L0 worker, prod floor L4.
    let (status, _) = s
        .try_set_policy(k, json!({"decisions": {"tier_floors": {"prod": 4}}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        decide(&s, k, "x.tiers.l0", "prod", "PUBLIC", CAP).await,
        ("DENY_NOT_ATTESTED".into(), 4)
    );
    allows(&s, k, "x.tiers.l0", "dev", "PUBLIC", 0).await;
    s.stop().await;
}

#[tokio::test]
async fn registration_and_ban_list_deny_codes() {
    let s = TestServer::start().await;
    let t = setup(&s).await;
    let k = t.key.as_str();
    s.register(k, &worker("x.tiers.gone", 0)).await;
    s.register(k, &worker("x.tiers.banned", 0)).await;
    s.attest_hash(k, "x.tiers.banned", &sha('b')).await;

    denies(
        &s,
        k,
        "x.tiers.nobody",
        "dev",
        "PUBLIC",
        "DENY_UNKNOWN_WORKER",
    )
    .await;
    allows(&s, k, "x.tiers.gone", "dev", "PUBLIC", 0).await;
    let (status, _) = s.post_empty("/api/v1/workers/x.tiers.gone/revoke", k).await;
    assert_eq!(status, 200);
    denies(
        &s,
        k,
        "x.tiers.gone",
        "dev",
        "PUBLIC",
        "DENY_WORKER_REVOKED",
    )
    .await;

    allows(&s, k, "x.tiers.banned", "dev", "PUBLIC", 0).await;
    s.ban(k, &sha('b'), "exfiltrates secrets").await;
    denies(&s, k, "x.tiers.banned", "dev", "PUBLIC", "DENY_HASH_BANNED").await;
    s.stop().await;
}

#[tokio::test]
async fn when_the_ban_list_cannot_be_read_decisions_fail_closed() {
    let s = TestServer::start().await;
    let t = setup(&s).await;
    let k = t.key.as_str();
    s.register(k, &worker("x.tiers.w", 0)).await;
    s.attest_hash(k, "x.tiers.w", &sha('c')).await;
    allows(&s, k, "x.tiers.w", "dev", "PUBLIC", 0).await;

    // The ban list becomes unreadable and the change feeds drop: the copy
    // in memory can no longer be trusted and PostgreSQL cannot answer.
    s.sql("ALTER TABLE bans RENAME TO bans_unreachable").await;
    s.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .await;
    allowed_until_denied(
        &s,
        k,
        "x.tiers.w",
        "DENY_BAN_STATUS_UNKNOWN",
        Duration::from_secs(10),
    )
    .await;

    // Once the ban list is back, so are the answers.
    s.sql("ALTER TABLE bans_unreachable RENAME TO bans").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while decide(&s, k, "x.tiers.w", "dev", "PUBLIC", CAP).await.0 != "ALLOW" {
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

async fn pending_ids(s: &TestServer, key: &str) -> Vec<String> {
    let (status, p) = s.get_json("/wcp/approvals/pending", Some(key)).await;
    assert_eq!(status, 200, "{p}");
    p["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

async fn resolve(s: &TestServer, key: &str, id: &str, resolution: &str) -> (u16, Value) {
    s.post(
        "/wcp/approvals/resolve",
        key,
        json!({"approval_id": id, "resolution": resolution, "note": "checked the change ticket"}),
    )
    .await
}

#[tokio::test]
async fn require_human_opens_an_approval_that_a_human_resolves_and_one_decision_uses() {
    let s = TestServer::start().await;
    let t = setup(&s).await;
    let admin = t.key.as_str();
    let (_, agent) = s
        .create_key("org.tiers", &["decisions:write", "read"])
        .await;
    s.register(admin, &worker("x.tiers.gk", 8)).await;
    attest_card(&s, &t, "x.tiers.gk", &sha('d')).await;
    let prod = decision("x.tiers.gk", CAP, "prod", "PUBLIC");

    // A dry run says a human is needed but opens nothing.
    let mut dry = prod.clone();
    dry["dry_run"] = json!(true);
    let d = s.decide(&agent, dry).await;
    assert_eq!(d["supervisor_required"], true);
    assert!(d.get("pending_approval_id").is_none(), "{d}");
    assert!(pending_ids(&s, &agent).await.is_empty());

    let d = s.decide(&agent, prod.clone()).await;
    assert_eq!(
        (
            &d["denied"],
            &d["deny_code"],
            &d["supervisor_required"],
            &d["supervisor_level"]
        ),
        (
            &json!(true),
            &json!("DENY_REQUIRES_HUMAN_APPROVAL"),
            &json!(true),
            &json!("gatekeeper")
        ),
        "{d}"
    );
    // The integrations read the outcome: not a plain deny.
    assert_eq!(
        (&d["outcome"], &d["allowed"]),
        (&json!("REQUIRE_HUMAN"), &json!(false)),
        "{d}"
    );
    let x = d["pending_approval_id"].as_str().unwrap().to_string();
    assert_eq!(d["receipt"]["approval_id"], x.as_str());
    assert_eq!(d["escalation_context"]["capability_id"], CAP);
    assert_eq!(d["escalation_context"]["tier"], 8);
    assert!(d["approval_expires_at"].is_string());
    assert_eq!(pending_ids(&s, &agent).await, vec![x.clone()]);

    // Asking again with the still-pending approval opens no second one.
    let mut with_x = prod.clone();
    with_x["approval_id"] = json!(x);
    let d = s.decide(&agent, with_x.clone()).await;
    assert_eq!(d["pending_approval_id"], x.as_str());
    assert!(d["deny_reason"].as_str().unwrap().contains("still waiting"));
    assert_eq!(pending_ids(&s, &agent).await.len(), 1);

    // The agent's own key cannot approve; a human's admin key can.
    let (status, _) = resolve(&s, &agent, &x, "approve").await;
    assert_eq!(status, 403);
    let (status, a) = resolve(&s, admin, &x, "approve").await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["status"], "approved");
    assert!(a["resolved_by"].as_str().is_some());
    assert!(pending_ids(&s, &agent).await.is_empty());
    let (status, _) = resolve(&s, admin, &x, "deny").await;
    assert_eq!(status, 409, "a resolved approval stays resolved");

    // The approval is for this exact request: not for other data.
    let mut other = with_x.clone();
    other["data_label"] = json!("INTERNAL");
    let d = s.decide(&agent, other).await;
    assert_eq!(d["deny_code"], "DENY_REQUIRES_HUMAN_APPROVAL");
    assert!(
        d["deny_reason"].as_str().unwrap().contains("different"),
        "{d}"
    );
    let y = d["pending_approval_id"].as_str().unwrap().to_string();
    assert_ne!(y, x);

    let allowed = s.decide(&agent, with_x.clone()).await;
    assert_eq!(allowed["denied"], false, "{allowed}");
    assert_eq!(allowed["supervisor_required"], false);
    assert_eq!(allowed["receipt"]["approval_id"], x.as_str());
    // Used once.
    let d = s.decide(&agent, with_x.clone()).await;
    assert_eq!(d["deny_code"], "DENY_REQUIRES_HUMAN_APPROVAL");
    assert!(
        d["deny_reason"].as_str().unwrap().contains("already used"),
        "{d}"
    );
    let z = d["pending_approval_id"].as_str().unwrap().to_string();
    let (_, a) = s
        .get_json(&format!("/wcp/approvals/{x}"), Some(&agent))
        .await;
    assert_eq!(a["used_by_decision"], allowed["id"]);

    // Escalation raises the level once; a denial closes it.
    let (status, e) = s
        .post(
            "/wcp/approvals/escalate",
            admin,
            json!({"approval_id": z, "note": "prod incident"}),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["supervisor_level"], "incident_commander");
    let (status, _) = s
        .post("/wcp/approvals/escalate", admin, json!({"approval_id": z}))
        .await;
    assert_eq!(status, 409);
    let (status, a) = resolve(&s, admin, &z, "deny").await;
    assert_eq!((status, a["status"].as_str()), (200, Some("denied")));
    let mut with_z = prod.clone();
    with_z["approval_id"] = json!(z);
    let d = s.decide(&agent, with_z).await;
    assert!(
        d["deny_reason"].as_str().unwrap().contains("denied it"),
        "{d}"
    );

    // Approvals are the requesting tenant's: others see none of them.
    let (_, stranger_admin) = s.create_key("org.stranger", &["admin"]).await;
    let (status, _) = s
        .get_json(&format!("/wcp/approvals/{y}"), Some(&stranger_admin))
        .await;
    assert_eq!(status, 404);
    let (status, _) = resolve(&s, &stranger_admin, &y, "approve").await;
    assert_eq!(status, 404);
    let (status, bad) = resolve(&s, admin, &y, "maybe").await;
    assert_eq!(status, 400, "{bad}");

    assert!(s.verify_receipts(admin).await.is_ok());
    s.stop().await;
}

#[tokio::test]
async fn an_owner_may_make_l7_advisory_so_the_call_proceeds_and_a_human_is_told() {
    let s = TestServer::start().await;
    let t = setup(&s).await;
    let admin = t.key.as_str();
    s.register(
        admin,
        &worker("x.tiers.l7-adv", 7).max_data_label("RESTRICTED"),
    )
    .await;
    attest_card(&s, &t, "x.tiers.l7-adv", &sha('e')).await;
    s.register(admin, &worker("x.tiers.l8-adv", 8)).await;
    attest_card(&s, &t, "x.tiers.l8-adv", &sha('f')).await;
    let (status, p) = s
        .try_set_policy(
            admin,
            json!({"decisions": {"l7_supervisor_level": "advisory"}}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["decisions"]["l7_supervisor_level"], "advisory");

    let d = s
        .decide(admin, decision("x.tiers.l7-adv", CAP, "prod", "RESTRICTED"))
        .await;
    assert_eq!(
        (
            &d["denied"],
            &d["supervisor_required"],
            &d["supervisor_level"]
        ),
        (&json!(false), &json!(true), &json!("advisory")),
        "{d}"
    );
    let id = d["pending_approval_id"].as_str().unwrap().to_string();
    assert_eq!(d["receipt"]["approval_id"], id.as_str());
    assert_eq!(d["receipt"]["outcome"], "ALLOW");
    let (_, a) = s
        .get_json(&format!("/wcp/approvals/{id}"), Some(admin))
        .await;
    assert_eq!(a["supervisor_level"], "advisory");
    assert!(a["reason"].as_str().unwrap().contains("advisory"));
    // A human reviews it after the fact; it cannot be escalated to a gate.
    let (status, e) = s
        .post("/wcp/approvals/escalate", admin, json!({"approval_id": id}))
        .await;
    assert_eq!(status, 409, "{e}");
    let (status, _) = resolve(&s, admin, &id, "approve").await;
    assert_eq!(status, 200);

    // L8 stays a gate whatever L7 is.
    let d = s
        .decide(admin, decision("x.tiers.l8-adv", CAP, "prod", "PUBLIC"))
        .await;
    assert_eq!(
        (&d["deny_code"], &d["supervisor_level"]),
        (&json!("DENY_REQUIRES_HUMAN_APPROVAL"), &json!("gatekeeper"))
    );
    // Nothing escalates at PUBLIC: no approval.
    let d = s
        .decide(admin, decision("x.tiers.l7-adv", CAP, "prod", "PUBLIC"))
        .await;
    assert_eq!(d["supervisor_required"], false);
    assert!(d.get("pending_approval_id").is_none());

    let (status, e) = s
        .try_set_policy(
            admin,
            json!({"decisions": {"l7_supervisor_level": "sometimes"}}),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    s.stop().await;
}

#[tokio::test]
async fn a_repeated_require_human_decision_answers_the_same_approval_and_opens_no_other() {
    let s = TestServer::start().await;
    let t = setup(&s).await;
    s.register(&t.key, &worker("x.tiers.gk", 8)).await;
    attest_card(&s, &t, "x.tiers.gk", &sha('e')).await;
    let body = decision("x.tiers.gk", CAP, "prod", "PUBLIC");
    let post = || async {
        let resp = s
            .client
            .post(s.url("/api/v1/decisions"))
            .bearer_auth(&t.key)
            .header("Idempotency-Key", "gk-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json::<Value>().await.unwrap()
    };
    let first = post().await;
    assert_eq!(first["deny_code"], "DENY_REQUIRES_HUMAN_APPROVAL");
    assert!(first["pending_approval_id"].is_string(), "{first}");
    let again = post().await;
    assert_eq!(again, first, "the approval fields come back too");
    assert_eq!(
        pending_ids(&s, &t.key).await,
        vec![first["pending_approval_id"].as_str().unwrap().to_string()]
    );
}
