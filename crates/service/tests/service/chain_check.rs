//! The chain that checks itself: the background verifier re-checks each
//! tenant's new receipts once, finds receipts changed or removed in
//! PostgreSQL behind the registry's back (the append-only guard disabled,
//! as someone with database access could), records the break and announces
//! it once, however many verifiers find it.

use serde_json::{json, Value};
use service::chain_check::CheckReport;
use service::webhooks::CreateWebhook;
use wcp::TenantId;

use crate::fixture::Fixture;

/// Runs `change` on the receipts table with its append-only guard off, as
/// an intruder with database access would, and turns the guard back on.
async fn tamper(f: &Fixture, change: &str) {
    let mut conn = testkit_connect(f).await;
    for sql in [
        "ALTER TABLE receipts DISABLE TRIGGER receipts_append_only",
        change,
        "ALTER TABLE receipts ENABLE TRIGGER receipts_append_only",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

async fn testkit_connect(f: &Fixture) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(f.db_url()).await.unwrap()
}

/// Sets org.acme's recorded chain head to its second receipt, as someone
/// with database access could.
async fn wind_head_back_to_second(f: &Fixture) {
    f.sql(
        "UPDATE receipt_chains SET length = 2,
             head_hash = (SELECT receipt_hash FROM receipts WHERE tenant_id = 'org.acme' AND seq = 2)
         WHERE tenant_id = 'org.acme'",
    )
    .await;
}

/// The `chain.integrity_failure` events written, oldest first.
async fn failures(f: &Fixture) -> Vec<Value> {
    let mut conn = testkit_connect(f).await;
    sqlx::query_scalar(
        "SELECT data FROM webhook_events WHERE type = 'chain.integrity_failure' ORDER BY occurred_at",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// A registry whose org.acme has `n` receipts and an endpoint that wants
/// every event.
async fn acme_with_receipts(n: usize) -> (Fixture, TenantId, TenantId) {
    let (f, acme, other) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    f.register(&other, "x.other.w", 1, json!({})).await;
    for _ in 0..n {
        f.decide_once(&acme, "x.acme.w").await;
    }
    f.decide_once(&other, "x.other.w").await;
    f.hall
        .create_webhook(CreateWebhook {
            tenant: acme.clone(),
            url: "https://hooks.example.com/sev1".into(),
            event_types: vec!["*".into()],
            description: None,
            enabled: true,
        })
        .await
        .unwrap();
    (f, acme, other)
}

#[tokio::test]
async fn each_receipt_is_verified_once_as_the_chain_grows() {
    let (f, acme, _) = acme_with_receipts(3).await;
    let first = f.hall.check_chains().await.unwrap();
    assert_eq!(
        first,
        CheckReport {
            verified: 4,
            breaks: 0
        },
        "3 of acme, 1 of other"
    );
    for _ in 0..2 {
        f.decide_once(&acme, "x.acme.w").await;
    }
    let second = f.hall.check_chains().await.unwrap();
    assert_eq!(
        second.verified, 2,
        "only the new receipts are checked again"
    );
    let nothing_new = f.hall.check_chains().await.unwrap();
    assert_eq!(nothing_new, CheckReport::default());

    let look = f.hall.chain_checks.last_look().expect("a look finished");
    assert_eq!(look.summary.receipts, 6);
    assert_eq!(look.summary.verified, 6);
    assert_eq!(look.summary.broken, 0);
    assert_eq!(f.hall.chain_checks.verified_total(), 6);
    assert!(failures(&f).await.is_empty());
}

#[tokio::test]
async fn a_receipt_changed_in_the_database_is_announced_once_as_sev1() {
    let (f, acme, other) = acme_with_receipts(3).await;
    f.hall.check_chains().await.unwrap();
    // After the first look: a denial rewritten as an allow, in place.
    f.decide_once(&acme, "x.acme.w").await;
    tamper(
        &f,
        "UPDATE receipts SET body = jsonb_set(body::jsonb, '{tier}', '0')::json
         WHERE tenant_id = 'org.acme' AND seq = 4",
    )
    .await;
    let found = f.hall.check_chains().await.unwrap();
    assert_eq!(found.breaks, 1);

    let events = failures(&f).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["tenant_id"], "org.acme");
    assert_eq!(e["position"], 4);
    assert_eq!(e["kind"], "hash_mismatch");
    assert_eq!(e["severity"], "sev1");
    assert_eq!(e["verified_through"], 3);
    assert!(e["receipt_id"].is_string());
    assert!(e["reason"].as_str().unwrap().contains("receipt_hash"));

    let (at, why) = f.hall.store.chain_break(&acme).await.unwrap().unwrap();
    assert_eq!(at, 4);
    assert!(why.contains("does not match its content"), "{why}");
    assert_eq!(f.hall.store.chain_break(&other).await.unwrap(), None);

    // Looked at again (and the chain grown): no second announcement.
    f.decide_once(&acme, "x.acme.w").await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 0);
    assert_eq!(failures(&f).await.len(), 1);
    let look = f.hall.chain_checks.last_look().unwrap();
    assert_eq!(look.summary.broken, 1);
    assert!(look.summary.verified < look.summary.receipts);
}

#[tokio::test]
async fn the_newest_receipt_deleted_is_found_missing() {
    let (f, acme, _) = acme_with_receipts(3).await;
    tamper(
        &f,
        "DELETE FROM receipts WHERE tenant_id = 'org.acme' AND seq = 3",
    )
    .await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 1);
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "missing");
    assert_eq!(events[0]["position"], 3);
    assert_eq!(events[0]["verified_through"], 2);
    assert_eq!(f.hall.store.chain_break(&acme).await.unwrap().unwrap().0, 3);
}

#[tokio::test]
async fn a_chain_cut_back_after_it_was_verified_is_found() {
    let (f, acme, _) = acme_with_receipts(3).await;
    f.hall.check_chains().await.unwrap();
    // Someone removes the last receipt and winds the head back to match.
    tamper(
        &f,
        "DELETE FROM receipts WHERE tenant_id = 'org.acme' AND seq = 3",
    )
    .await;
    wind_head_back_to_second(&f).await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 1);
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "head_mismatch", "{events:?}");
    assert_eq!(events[0]["position"], 3);
    assert!(f.hall.store.chain_break(&acme).await.unwrap().is_some());
}

#[tokio::test]
async fn a_receipt_resealed_with_another_key_fails_its_signature() {
    let (f, _, _) = acme_with_receipts(2).await;
    // A forger recomputes the hash of a changed receipt (the chain still
    // links) but cannot sign it with the registry's key.
    let mut conn = testkit_connect(&f).await;
    let body: Value =
        sqlx::query_scalar("SELECT body FROM receipts WHERE tenant_id = 'org.acme' AND seq = 2")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let mut forged: audit::Receipt = serde_json::from_value(body).unwrap();
    forged.content.tier = 0;
    let resealed = audit::seal(
        forged.content.clone(),
        &ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
    );
    let change = format!(
        "UPDATE receipts SET body = '{}'::jsonb WHERE tenant_id = 'org.acme' AND seq = 2",
        serde_json::to_string(&resealed)
            .unwrap()
            .replace('\'', "''")
    );
    tamper(&f, &change).await;
    f.hall.check_chains().await.unwrap();
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "bad_signature", "{events:?}");
    assert_eq!(events[0]["position"], 2);
}

#[tokio::test]
async fn two_verifiers_at_once_announce_a_break_once() {
    let (f, _, _) = acme_with_receipts(40).await;
    tamper(
        &f,
        "UPDATE receipts SET body = jsonb_set(body::jsonb, '{env}', '\"prod\"')::json
         WHERE tenant_id = 'org.acme' AND seq = 30",
    )
    .await;
    let other_replica = f.hall.clone();
    let (a, b) = tokio::join!(f.hall.check_chains(), other_replica.check_chains());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.breaks + b.breaks, 1);
    assert_eq!(failures(&f).await.len(), 1);
    // Each receipt before the break was verified by one of them.
    assert_eq!(
        a.verified + b.verified,
        29 + 1,
        "29 of acme and other's one"
    );
}

#[tokio::test]
async fn a_chain_wiped_to_nothing_stays_reported_broken() {
    let (f, acme, _) = acme_with_receipts(2).await;
    f.hall.check_chains().await.unwrap();
    tamper(&f, "DELETE FROM receipts WHERE tenant_id = 'org.acme'").await;
    f.sql("UPDATE receipt_chains SET length = 0, head_hash = NULL WHERE tenant_id = 'org.acme'")
        .await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 1);
    assert_eq!(failures(&f).await[0]["kind"], "head_mismatch");
    assert!(f.hall.store.chain_break(&acme).await.unwrap().is_some());
    let look = f.hall.chain_checks.last_look().unwrap();
    assert_eq!(look.summary.broken, 1, "{:?}", look.summary);
}

#[tokio::test]
async fn a_receipt_left_past_a_wound_back_head_is_found() {
    let (f, acme, _) = acme_with_receipts(3).await;
    // The head wound back over receipt 3, which stays stored: the next
    // decision could not be written at position 3.
    wind_head_back_to_second(&f).await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 1);
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "beyond_head", "{events:?}");
    assert_eq!(events[0]["position"], 3);
    assert_eq!(events[0]["verified_through"], 2);
    assert_eq!(f.hall.store.chain_break(&acme).await.unwrap().unwrap().0, 3);
}

#[tokio::test]
async fn a_column_read_by_lookups_that_disagrees_with_its_receipt_is_found() {
    let (f, _, _) = acme_with_receipts(3).await;
    // The decision log would show the denial at position 2 as allowed.
    tamper(
        &f,
        "UPDATE receipts SET denied = NOT denied WHERE tenant_id = 'org.acme' AND seq = 2",
    )
    .await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 1);
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "column_mismatch", "{events:?}");
    assert_eq!(events[0]["position"], 2);
    assert!(events[0]["reason"].as_str().unwrap().contains("denied"));
}

#[tokio::test]
async fn a_stored_tree_node_changed_in_the_database_is_found_as_a_tree_mismatch() {
    let (f, acme, _) = acme_with_receipts(300).await;
    let first: String = {
        let mut conn = testkit_connect(&f).await;
        sqlx::query_scalar(
            "SELECT receipt_id::text FROM receipts WHERE tenant_id = 'org.acme' AND seq = 1",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    };
    // The node over receipts 1–256, rewritten with its guard off.
    let mut conn = testkit_connect(&f).await;
    for sql in [
        "ALTER TABLE receipt_tree_nodes DISABLE TRIGGER receipt_tree_nodes_append_only",
        "UPDATE receipt_tree_nodes SET hash = sha256(hash)
         WHERE tenant_id = 'org.acme' AND level = 8 AND index = 0",
        "ALTER TABLE receipt_tree_nodes ENABLE TRIGGER receipt_tree_nodes_append_only",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    let found = f.hall.check_chains().await.unwrap();
    assert_eq!(found.breaks, 1, "{found:?}");
    let events = failures(&f).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "tree_mismatch", "{events:?}");
    assert_eq!(events[0]["position"], 1, "{events:?}");
    assert_eq!(events[0]["receipt_id"], first.as_str(), "{events:?}");
    assert!(
        events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("level 8 index 0 (receipts 1 to 256)"),
        "{events:?}"
    );
    assert_eq!(events[0]["tenant_id"], acme.as_str());
}

#[tokio::test]
async fn a_checkpoint_over_a_tree_changed_beside_the_chain_is_found() {
    let (f, acme, _) = acme_with_receipts(3).await;
    assert!(f.hall.issue_checkpoints().await.unwrap() >= 1);
    assert_eq!(
        f.hall.check_chains().await.unwrap().breaks,
        0,
        "the tree of 3 is sound"
    );
    // The tree's right edge rewritten: the chain and its links are intact.
    f.sql(
        "UPDATE receipt_chains SET tree_edge = overlay(tree_edge placing '\\xff'::bytea from 1 for 1)
         WHERE tenant_id = 'org.acme'",
    )
    .await;
    let fourth = f.decide_once(&acme, "x.acme.w").await;
    f.decide_once(&acme, "x.acme.w").await;
    f.hall.issue_checkpoints().await.unwrap();
    let found = f.hall.check_chains().await.unwrap();
    assert_eq!(found.breaks, 1, "{found:?}");
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "tree_mismatch", "{events:?}");
    assert_eq!(events[0]["position"], 4, "{events:?}");
    assert_eq!(
        events[0]["receipt_id"],
        fourth.content.receipt_id.as_str(),
        "the first receipt after the last sound checkpoint: {events:?}"
    );
}

#[tokio::test]
async fn a_checkpoint_issued_after_its_receipts_were_verified_is_checked_too() {
    let (f, _, _) = acme_with_receipts(3).await;
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 0);
    // The chain is quiet and verified; then its tree edge is rewritten and
    // a checkpoint issued over it.
    f.sql(
        "UPDATE receipt_chains SET tree_edge = overlay(tree_edge placing '\\xff'::bytea from 1 for 1)
         WHERE tenant_id = 'org.acme'",
    )
    .await;
    assert!(f.hall.issue_checkpoints().await.unwrap() >= 1);
    let found = f.hall.check_chains().await.unwrap();
    assert_eq!(found.breaks, 1, "{found:?}");
    let events = failures(&f).await;
    assert_eq!(events[0]["kind"], "tree_mismatch", "{events:?}");
    assert!(
        events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the signed checkpoint of 3 receipts"),
        "{events:?}"
    );
    // Found once: the next look has nothing more to say.
    assert_eq!(f.hall.check_chains().await.unwrap().breaks, 0);
}
