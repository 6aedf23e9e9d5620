//! Receipt chains against real PostgreSQL: group commit, concurrent writers
//! in separate pools (as separate processes would be), the append-only guard,
//! and offline verification catching tampering.

use std::collections::{HashMap, HashSet};

use audit::{key_id, verify_chain, ChainError, Receipt, UnsignedReceipt};
use ed25519_dalek::SigningKey;
use registry::receipts::{PendingReceipt, ReceiptKey, ReceiptWriter};
use registry::{Store, StoreError, Unavailable};
use routing::telemetry::{Envelopes, Telemetry};
use testkit::TestDb;
use uuid::Uuid;
use wcp::TenantId;

mod common;
use common::{execute, store};

fn key() -> ReceiptKey {
    let key = SigningKey::from_bytes(&[11u8; 32]);
    ReceiptKey {
        kid: key_id(&key.verifying_key()),
        key,
    }
}

fn public_keys() -> HashMap<String, ed25519_dalek::VerifyingKey> {
    let k = key();
    HashMap::from([(k.kid, k.key.verifying_key())])
}

fn pending(tenant: &str, n: usize) -> PendingReceipt {
    let now = chrono::Utc::now();
    PendingReceipt {
        content: UnsignedReceipt {
            receipt_id: Uuid::now_v7().to_string(),
            spec_version: wcp::SPEC_VERSION.into(),
            tenant_id: tenant.into(),
            correlation_id: format!("c{n}"),
            decided_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            worker_id: "x.acme.w".into(),
            capability_id: "cap.data.read.v1".into(),
            env: "dev".into(),
            data_label: "PUBLIC".into(),
            outcome: audit::Outcome::Allow,
            deny_code: None,
            tier: 0,
            policy_version: "hall-default-policy/1".into(),
            controls_verified: vec![],
            request_hash: None,
            dry_run: false,
            prev_receipt_hash: None,
            signing_key_id: String::new(),
            approval_id: None,
            receipt_version: audit::ReceiptVersion::CURRENT,
            acting_key_id: Some(Uuid::nil().to_string()),
            matched_rule_id: None,
            rules_version: None,
            rules_sha256: None,
            selected_worker_species_id: None,
        },
        decided_at: now,
        denied: false,
        deny_reason: None,
        idempotency: None,
        telemetry: None,
        announce_denied: false,
        opens: None,
    }
}

async fn tenant(s: &Store, id: &str) -> TenantId {
    common::tenant(s, id, id).await
}

/// A store with tenant `org.acme` and a receipt writer on it:
/// `(database, store, tenant, writer)`.
async fn acme() -> (TestDb, Store, TenantId, ReceiptWriter) {
    let db = TestDb::create().await;
    let s = store(&db).await;
    let t = tenant(&s, "org.acme").await;
    let writer = ReceiptWriter::start(s.clone(), key());
    (db, s, t, writer)
}

/// Tenant `t`'s receipts with their sequence numbers, oldest first.
async fn chain_rows(s: &Store, t: &TenantId) -> Vec<(i64, Receipt)> {
    s.tenant(t)
        .receipts(0, wcp::PageLimit::max_of(wcp::PageSize::RECEIPT_EXPORT))
        .await
        .unwrap()
}

async fn chain(s: &Store, t: &TenantId) -> Vec<Receipt> {
    chain_rows(s, t).await.into_iter().map(|(_, r)| r).collect()
}

#[tokio::test]
async fn a_stopped_writer_is_unavailable_not_corrupt() {
    let db = TestDb::create().await;
    let s = store(&db).await;
    // The writer's task lives in a runtime that is then dropped, ending it.
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async { ReceiptWriter::start(s, key()) })
        })
        .join()
        .unwrap()
    };
    let err = writer.append(pending("org.acme", 0)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(Unavailable::WriterStopped)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_receipt_for_a_tenant_that_is_not_there_fails_alone_and_its_batch_commits() {
    let (_db, s, t, writer) = acme().await;
    let other = tenant(&s, "org.other").await;
    let mut tasks = Vec::new();
    for n in 0..30 {
        let w = writer.clone();
        let p = match n % 3 {
            0 if n == 12 => pending("org.nobody", n),
            0 => pending("org.acme", n),
            1 => pending("org.other", n),
            _ => pending("org.acme", n),
        };
        tasks.push(tokio::spawn(async move { (n, w.append(p).await) }));
    }
    for task in tasks {
        let (n, result) = task.await.unwrap();
        match (n, result) {
            (12, Err(StoreError::Unavailable(Unavailable::NotCommitted(_)))) => {}
            (12, other) => panic!("the receipt of a tenant that is not there: {other:?}"),
            (n, Err(e)) => panic!("receipt {n} failed with the bad one: {e}"),
            (_, Ok(_)) => {}
        }
    }
    assert_eq!(verify_chain(&chain(&s, &t).await, &public_keys()), Ok(19));
    assert_eq!(
        verify_chain(&chain(&s, &other).await, &public_keys()),
        Ok(10)
    );
}

/// Tenant org.acme with its (empty) chain row and no writer: for calling
/// `append_receipt_batch` straight.
async fn acme_with_chain() -> (TestDb, Store, TenantId) {
    let db = TestDb::create().await;
    let s = store(&db).await;
    let t = tenant(&s, "org.acme").await;
    execute(
        &db,
        "INSERT INTO receipt_chains (tenant_id) VALUES ('org.acme')",
    )
    .await;
    (db, s, t)
}

/// One receipt of `tenant` at position 1, moving the chain rows of `chains`
/// (from empty to one receipt each), straight through `append_receipt_batch`.
fn batch_of_one(tenant: &str, chains: &[&str]) -> String {
    let list = |v: &[&str]| {
        v.iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let n = chains.len();
    let repeat = |x: &str| vec![x; n].join(",");
    format!(
        "SELECT append_receipt_batch(
            ARRAY[{chains}]::text[], ARRAY[{nulls}]::text[], ARRAY[{zeros}]::bigint[],
            ARRAY[{zeros}]::bigint[], ARRAY[{edges}]::bytea[],
            ARRAY[{hashes}]::text[], ARRAY[{ones}]::bigint[], ARRAY[{zeros}]::bigint[],
            ARRAY[{edges}]::bytea[],
            ARRAY['{tenant}'], ARRAY[1::bigint], ARRAY[gen_random_uuid()], ARRAY['h'],
            ARRAY[NULL::text], ARRAY[now()], ARRAY['x.acme.w'], ARRAY['cap.a'], ARRAY[false],
            ARRAY['{{}}'::json], ARRAY[NULL::text], ARRAY[NULL::json], ARRAY[false], ARRAY[NULL::text],
            ARRAY[]::text[], ARRAY[]::smallint[], ARRAY[]::bigint[], ARRAY[]::bytea[],
            ARRAY[]::text[], ARRAY[]::text[], ARRAY[]::uuid[], ARRAY[]::text[], ARRAY[]::uuid[],
            ARRAY[]::jsonb[])",
        chains = list(chains),
        nulls = repeat("NULL"),
        zeros = repeat("0"),
        ones = repeat("1"),
        hashes = repeat("'h'"),
        edges = repeat("''::bytea"),
    )
}

#[tokio::test]
async fn a_receipt_is_stored_only_with_a_move_of_its_own_tenants_chain() {
    // Migration 39 dropped the receipts' own foreign key to `tenants`: a
    // receipt's tenant is checked through its chain row instead.
    let (db, s, t) = acme_with_chain().await;
    let mut conn = db.connect().await;
    for (tenant, chains) in [
        // No chain moved at all.
        ("org.nobody", &[][..]),
        // Another tenant's chain moved instead.
        ("org.nobody", &["org.acme"][..]),
        ("org.acme", &[][..]),
        // Its own chain named, but there is no such row to move.
        ("org.nobody", &["org.nobody"][..]),
    ] {
        let refused = sqlx::query(&batch_of_one(tenant, chains))
            .execute(&mut conn)
            .await
            .unwrap_err();
        let code = refused.as_database_error().and_then(|e| e.code());
        let expected = if chains.contains(&tenant) {
            "HR001"
        } else {
            "HR003"
        };
        assert_eq!(
            code.as_deref(),
            Some(expected),
            "{tenant} {chains:?}: {refused}"
        );
    }
    // Its own chain moved, but the receipt is not at a position the move
    // covers (the chain goes from 0 to 1, the receipt says 2).
    let misplaced = batch_of_one("org.acme", &["org.acme"]).replacen(
        "ARRAY[1::bigint], ARRAY[gen_random_uuid()]",
        "ARRAY[2::bigint], ARRAY[gen_random_uuid()]",
        1,
    );
    let refused = sqlx::query(&misplaced)
        .execute(&mut conn)
        .await
        .unwrap_err();
    let code = refused.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("HR003"), "{refused}");
    // Nor may one chain move back to pay for another's receipt: org.acme
    // goes 0 -> 2 and org.other 1 -> 0 with one receipt, which the sum alone
    // would let through.
    tenant(&s, "org.other").await;
    execute(
        &db,
        "INSERT INTO receipt_chains (tenant_id, length, head_hash) VALUES ('org.other', 1, 'h')",
    )
    .await;
    let mut rewound = batch_of_one("org.acme", &["org.acme", "org.other"]);
    for (from, to) in [
        (
            "ARRAY[NULL,NULL]::text[], ARRAY[0,0]::bigint[]",
            "ARRAY[NULL,'h']::text[], ARRAY[0,1]::bigint[]",
        ),
        (
            "ARRAY['h','h']::text[], ARRAY[1,1]::bigint[]",
            "ARRAY['h',NULL]::text[], ARRAY[2,0]::bigint[]",
        ),
    ] {
        assert!(rewound.contains(from), "{from}");
        rewound = rewound.replacen(from, to, 1);
    }
    let refused = sqlx::query(&rewound).execute(&mut conn).await.unwrap_err();
    let code = refused.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("HR003"), "{refused}");
    // The chain row of a tenant that does not exist cannot be made.
    let refused = sqlx::query("INSERT INTO receipt_chains (tenant_id) VALUES ('org.nobody')")
        .execute(&mut conn)
        .await
        .unwrap_err();
    let code = refused.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("23503"), "{refused}");
    // Nor can a chain row be removed or handed to another tenant: it is
    // what keeps a tenant with receipts from being deleted.
    for sql in [
        "DELETE FROM receipt_chains WHERE tenant_id = 'org.acme'",
        "UPDATE receipt_chains SET tenant_id = 'org.other' WHERE tenant_id = 'org.acme'",
        "TRUNCATE receipt_chains CASCADE",
    ] {
        let refused = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        let code = refused.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {refused}");
    }
    // With its own chain's move, the same call stores the receipt.
    sqlx::query(&batch_of_one("org.acme", &["org.acme"]))
        .execute(&mut conn)
        .await
        .unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT tenant_id FROM receipts")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, vec![(t.to_string(),)]);
}

#[tokio::test]
async fn a_batch_whose_arrays_of_one_kind_differ_in_length_is_refused_whole() {
    // unnest() would pad the shorter array with NULLs: a receipt without
    // its previous hash, or a route without its telemetry, stored quietly.
    let (db, _s, _t) = acme_with_chain().await;
    let good = batch_of_one("org.acme", &["org.acme"]);
    let mut conn = db.connect().await;
    for (what, from, to) in [
        (
            "a longer previous hash",
            "ARRAY[NULL::text], ARRAY[now()]",
            "ARRAY[NULL::text, NULL::text], ARRAY[now()]",
        ),
        ("no telemetry", "ARRAY[NULL::json]", "ARRAY[]::json[]"),
        (
            "no routed flag",
            "ARRAY[NULL::json], ARRAY[false]",
            "ARRAY[NULL::json], ARRAY[]::boolean[]",
        ),
        (
            "no route correlation id",
            "ARRAY[false], ARRAY[NULL::text],",
            "ARRAY[false], ARRAY[]::text[],",
        ),
        (
            "a longer chain hash",
            "ARRAY[NULL]::text[]",
            "ARRAY[NULL, NULL]::text[]",
        ),
        (
            "a tree node without its hash",
            "ARRAY[]::text[], ARRAY[]::smallint[], ARRAY[]::bigint[], ARRAY[]::bytea[]",
            "ARRAY['org.acme'], ARRAY[8::smallint], ARRAY[0::bigint], ARRAY[]::bytea[]",
        ),
    ] {
        assert!(good.contains(from), "{what}: {from}");
        let refused = sqlx::query(&good.replacen(from, to, 1))
            .execute(&mut conn)
            .await
            .unwrap_err();
        let code = refused.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("HR004"), "{what}: {refused}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM receipts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    sqlx::query(&good).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn a_release_before_migration_41_still_appends_through_its_signature() {
    // Bodies as `jsonb`, neither `routed` nor `route_correlation_id`:
    // stored as `json`, both read from the body (a writer of the release
    // before, still running when the migration commits).
    let (db, _s, _t) = acme_with_chain().await;
    let old = batch_of_one("org.acme", &["org.acme"]).replacen(
        "ARRAY['{}'::json], ARRAY[NULL::text], ARRAY[NULL::json], ARRAY[false], ARRAY[NULL::text],",
        r#"ARRAY['{"matched_rule_id": "rr_1", "correlation_id": "c-1"}'::jsonb], ARRAY[NULL::text], ARRAY['{}'::json],"#,
        1,
    );
    assert!(old.contains("::jsonb]"), "{old}");
    let mut conn = db.connect().await;
    sqlx::query(&old).execute(&mut conn).await.unwrap();
    let (routed, correlation, body): (bool, Option<String>, String) =
        sqlx::query_as("SELECT routed, route_correlation_id, body::text FROM receipts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(routed);
    assert_eq!(correlation.as_deref(), Some("c-1"));
    assert_eq!(
        body,
        r#"{"correlation_id": "c-1", "matched_rule_id": "rr_1"}"#
    );
}

#[tokio::test]
async fn a_receipt_is_stored_as_the_text_it_was_sealed_as() {
    let (db, s, t, writer) = acme().await;
    let sealed = writer.append(pending("org.acme", 0)).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT body::text FROM receipts")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap();
    // The signed content's canonical bytes, as they were hashed, then the
    // hash and signature: no reformatting on the way in or out.
    let content = String::from_utf8(audit::canonical_bytes(&sealed.content)).unwrap();
    assert!(
        stored.starts_with(content.trim_end_matches('}')),
        "{stored}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stored).unwrap(),
        serde_json::to_value(&sealed).unwrap()
    );
    assert_eq!(verify_chain(&chain(&s, &t).await, &public_keys()), Ok(1));
}

#[tokio::test]
async fn appended_receipts_form_a_chain_that_verifies_offline() {
    let (_db, s, t, writer) = acme().await;
    let first = writer.append(pending("org.acme", 0)).await.unwrap();
    assert_eq!(first.content.prev_receipt_hash, None);
    let second = writer.append(pending("org.acme", 1)).await.unwrap();
    assert_eq!(
        second.content.prev_receipt_hash.as_deref(),
        Some(first.receipt_hash.as_str())
    );
    let c = chain(&s, &t).await;
    assert_eq!(verify_chain(&c, &public_keys()), Ok(2));
}

#[tokio::test]
async fn concurrent_writers_in_two_pools_build_one_gap_free_chain_per_tenant() {
    let db = TestDb::create().await;
    let (s1, s2) = (store(&db).await, store(&db).await);
    let acme = tenant(&s1, "org.acme").await;
    let beta = tenant(&s1, "org.beta").await;
    let (w1, w2) = (
        ReceiptWriter::start(s1.clone(), key()),
        ReceiptWriter::start(s2.clone(), key()),
    );
    let mut tasks = Vec::new();
    for i in 0..400 {
        let w = if i % 2 == 0 { w1.clone() } else { w2.clone() };
        let tenant = if i % 3 == 0 { "org.beta" } else { "org.acme" };
        tasks.push(tokio::spawn(
            async move { w.append(pending(tenant, i)).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for (t, expected) in [(&acme, 266), (&beta, 134)] {
        let rows = chain_rows(&s1, t).await;
        let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=expected).collect::<Vec<i64>>(), "gap in {t}");
        let c: Vec<Receipt> = rows.into_iter().map(|(_, r)| r).collect();
        assert_eq!(
            verify_chain(&c, &public_keys()),
            Ok(expected as usize),
            "fork or break in {t}"
        );
        let prevs: HashSet<_> = c
            .iter()
            .map(|r| r.content.prev_receipt_hash.clone())
            .collect();
        assert_eq!(
            prevs.len(),
            c.len(),
            "two receipts share a predecessor: a fork"
        );
    }
}

#[tokio::test]
async fn a_writer_whose_remembered_head_moved_links_onto_the_stored_one() {
    let db = TestDb::create().await;
    let (s1, s2) = (store(&db).await, store(&db).await);
    let acme = tenant(&s1, "org.acme").await;
    let (w1, w2) = (
        ReceiptWriter::start(s1.clone(), key()),
        ReceiptWriter::start(s2.clone(), key()),
    );
    // w1 remembers the head after its receipt; w2 then moves it.
    let first = w1.append(pending("org.acme", 0)).await.unwrap();
    let second = w2.append(pending("org.acme", 1)).await.unwrap();
    assert_eq!(
        second.content.prev_receipt_hash.as_deref(),
        Some(first.receipt_hash.as_str())
    );
    let third = w1.append_at(pending("org.acme", 2)).await.unwrap();
    assert_eq!(
        third.receipt.content.prev_receipt_hash.as_deref(),
        Some(second.receipt_hash.as_str()),
        "linked onto the head w1 remembered, not the stored one"
    );
    assert_eq!(third.leaf_index, 2);
    let rows = chain_rows(&s1, &acme).await;
    assert_eq!(
        rows.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let c: Vec<Receipt> = rows.into_iter().map(|(_, r)| r).collect();
    assert_eq!(verify_chain(&c, &public_keys()), Ok(3));
}

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_a_receipt() {
    let db = TestDb::create().await;
    let s = store(&db).await;
    tenant(&s, "org.acme").await;
    ReceiptWriter::start(s.clone(), key())
        .append(pending("org.acme", 0))
        .await
        .unwrap();
    let mut conn = db.connect().await;
    for sql in [
        "UPDATE receipts SET denied = true",
        "DELETE FROM receipts",
        "TRUNCATE receipts",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_receipt_changed_or_deleted_behind_the_guard_is_named_by_verification() {
    let (db, s, t, writer) = acme().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            writer
                .append(pending("org.acme", i))
                .await
                .unwrap()
                .content
                .receipt_id,
        );
    }
    execute(
        &db,
        "ALTER TABLE receipts DISABLE TRIGGER receipts_append_only",
    )
    .await;
    let set_outcome_of_3 = |outcome: &str| {
        format!(
            "UPDATE receipts SET body = jsonb_set(body::jsonb, '{{outcome}}', '\"{outcome}\"')::json WHERE seq = 3"
        )
    };
    execute(&db, &set_outcome_of_3("DENY")).await;
    match verify_chain(&chain(&s, &t).await, &public_keys()) {
        Err(ChainError::HashMismatch {
            index: 2,
            receipt_id,
            ..
        }) => assert_eq!(receipt_id, ids[2]),
        other => panic!("expected receipt 3 named, got {other:?}"),
    }
    execute(&db, &set_outcome_of_3("ALLOW")).await;
    assert_eq!(verify_chain(&chain(&s, &t).await, &public_keys()), Ok(5));
    execute(&db, "DELETE FROM receipts WHERE seq = 2").await;
    match verify_chain(&chain(&s, &t).await, &public_keys()) {
        Err(ChainError::BrokenLink {
            index: 1,
            receipt_id,
            ..
        }) => assert_eq!(receipt_id, ids[2]),
        other => panic!("expected the receipt after the gap named, got {other:?}"),
    }
}

mod idempotency_keys {
    use std::time::Duration;

    use registry::idempotency::{ClaimOutcome, IdempotencyClaim};

    use super::*;

    fn claimed(outcome: ClaimOutcome) -> Uuid {
        match outcome {
            ClaimOutcome::Claimed(token) => token,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    fn with_claim(t: &TenantId, key: &str, token: Uuid, n: usize) -> PendingReceipt {
        PendingReceipt {
            idempotency: Some(IdempotencyClaim {
                tenant_id: t.clone(),
                key: key.into(),
                token,
                response_extra: serde_json::json!({"n": n}),
            }),
            ..pending(t.as_str(), n)
        }
    }

    /// Claims `key` for a request hashing to `hash` as tenant `t`.
    async fn claim(
        s: &Store,
        t: &TenantId,
        key: &str,
        hash: &str,
        lease: Duration,
    ) -> ClaimOutcome {
        s.tenant(t)
            .claim_idempotency(key, hash, lease)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_completed_key_names_its_receipt_and_refuses_another_body() {
        let (_db, s, t, writer) = acme().await;
        let lease = Duration::from_secs(30);
        let token = claimed(claim(&s, &t, "k1", "h1", lease).await);
        assert_eq!(
            claim(&s, &t, "k1", "h1", lease).await,
            ClaimOutcome::InFlight,
            "a second request waits while the first holds the key"
        );
        let r = writer.append(with_claim(&t, "k1", token, 0)).await.unwrap();
        match claim(&s, &t, "k1", "h1", lease).await {
            ClaimOutcome::Completed(done) => {
                assert_eq!(done.receipt_id.to_string(), r.content.receipt_id);
                assert_eq!(done.receipt_tenant_id, t);
                assert_eq!(done.response_extra, serde_json::json!({"n": 0}));
            }
            other => panic!("expected the completed key, got {other:?}"),
        }
        assert_eq!(
            claim(&s, &t, "k1", "h2", lease).await,
            ClaimOutcome::OtherRequest
        );
        // Keys are per tenant.
        let beta = tenant(&s, "org.beta").await;
        claimed(claim(&s, &beta, "k1", "h2", lease).await);
        assert_eq!(chain(&s, &t).await.len(), 1);
    }

    #[tokio::test]
    async fn a_claim_taken_over_after_its_lease_cannot_also_commit_a_receipt() {
        let (_db, s, t, writer) = acme().await;
        let first = claimed(claim(&s, &t, "k", "h", Duration::ZERO).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Another body never takes a key over, even an abandoned one.
        assert_eq!(
            claim(&s, &t, "k", "other", Duration::from_secs(30)).await,
            ClaimOutcome::OtherRequest
        );
        let second = claimed(claim(&s, &t, "k", "h", Duration::from_secs(30)).await);
        assert_ne!(first, second);
        let late = writer.append(with_claim(&t, "k", first, 0)).await;
        assert!(late.is_err(), "the first holder's receipt must not commit");
        writer.append(with_claim(&t, "k", second, 1)).await.unwrap();
        let c = chain(&s, &t).await;
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].content.correlation_id, "c1");
        assert_eq!(verify_chain(&c, &public_keys()), Ok(1));
    }

    #[tokio::test]
    async fn a_lost_claim_fails_alone_and_the_rest_of_its_batch_commits() {
        let (_db, s, t, writer) = acme().await;
        let stale = claimed(claim(&s, &t, "k", "h", Duration::from_secs(30)).await);
        s.tenant(&t).release_idempotency("k", stale).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..20 {
            let w = writer.clone();
            let p = if n == 7 {
                with_claim(&t, "k", stale, n)
            } else {
                pending("org.acme", n)
            };
            tasks.push(tokio::spawn(async move { w.append(p).await.is_ok() }));
        }
        let mut ok = 0;
        for task in tasks {
            ok += usize::from(task.await.unwrap());
        }
        assert_eq!(ok, 19);
        let c = chain(&s, &t).await;
        assert_eq!(verify_chain(&c, &public_keys()), Ok(19));
    }

    #[tokio::test]
    async fn receipts_sealed_onto_a_batch_whose_call_fails_are_linked_again_onto_the_stored_head() {
        use sqlx::Connection;
        let (db, s, t, writer) = acme().await;
        let first = writer.append(pending("org.acme", 0)).await.unwrap();
        let stale = claimed(claim(&s, &t, "k", "h", Duration::from_secs(30)).await);
        s.tenant(&t).release_idempotency("k", stale).await.unwrap();
        // Hold the chain row: the next batch's call waits on it, in flight.
        let mut holder = db.connect().await;
        let mut hold = holder.begin().await.unwrap();
        sqlx::query("SELECT 1 FROM receipt_chains WHERE tenant_id = 'org.acme' FOR UPDATE")
            .execute(&mut *hold)
            .await
            .unwrap();
        let (w, claimant) = (writer.clone(), t.clone());
        let lost =
            tokio::spawn(async move { w.append(with_claim(&claimant, "k", stale, 1)).await });
        // Until its call waits on the held row.
        let mut watcher = db.connect().await;
        let mut in_flight = false;
        for _ in 0..250 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'
                    AND query LIKE 'SELECT append_receipt_batch%'",
            )
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                in_flight = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(in_flight, "the batch's call never waited on the held row");
        // These come while that call waits: sealed onto the head it would
        // leave, which its lost claim (HR002) means is never stored.
        let mut later = Vec::new();
        for n in 2..7 {
            let w = writer.clone();
            later.push(tokio::spawn(async move {
                w.append(pending("org.acme", n)).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        hold.rollback().await.unwrap();
        assert!(lost.await.unwrap().is_err(), "a lost claim commits nothing");
        let mut prev = first.receipt_hash.clone();
        let mut received = Vec::new();
        for task in later {
            received.push(task.await.unwrap().unwrap());
        }
        let c = chain(&s, &t).await;
        assert_eq!(verify_chain(&c, &public_keys()), Ok(6));
        for r in &c[1..] {
            assert_eq!(r.content.prev_receipt_hash.as_deref(), Some(prev.as_str()));
            prev = r.receipt_hash.clone();
        }
        let stored: HashSet<_> = c.iter().map(|r| r.receipt_hash.clone()).collect();
        assert!(
            received.iter().all(|r| stored.contains(&r.receipt_hash)),
            "each answer is the receipt stored"
        );
    }

    #[tokio::test]
    async fn a_released_claim_can_be_claimed_again_but_a_completed_one_is_kept() {
        let (_db, s, t, writer) = acme().await;
        let lease = Duration::from_secs(30);
        let a = claimed(claim(&s, &t, "k", "h", lease).await);
        s.tenant(&t).release_idempotency("k", a).await.unwrap();
        let b = claimed(claim(&s, &t, "k", "h2", lease).await);
        writer.append(with_claim(&t, "k", b, 0)).await.unwrap();
        s.tenant(&t).release_idempotency("k", b).await.unwrap();
        assert!(matches!(
            claim(&s, &t, "k", "h2", lease).await,
            ClaimOutcome::Completed(_)
        ));
    }

    /// An approval a decision opens, to be stored with its receipt.
    fn opening(t: &TenantId, decision: &PendingReceipt) -> registry::approvals::Approval {
        use registry::approvals::{ApprovalSubject, ApprovalTtl, NewApproval, SupervisorLevel};
        NewApproval {
            id: Uuid::new_v4(),
            supervisor_level: SupervisorLevel::Gatekeeper,
            subject: ApprovalSubject {
                worker_registry_id: "wrk_00000000000000000000000000000001".into(),
                worker_id: wcp::WorkerId::parse("x.acme.w").unwrap(),
                capability_id: wcp::CapabilityId::parse("cap.data.read.v1").unwrap(),
                env: wcp::Env::Prod,
                data_label: wcp::DataLabel::Public,
            },
            reason: "REQUIRE_HUMAN".into(),
            escalation_context: serde_json::json!({}),
            decision_id: decision.content.receipt_id.parse().unwrap(),
            correlation_id: decision.content.correlation_id.clone(),
            ttl: ApprovalTtl::default(),
        }
        .opened(t, chrono::Utc::now())
    }

    #[tokio::test]
    async fn a_decision_whose_claim_was_lost_opens_no_approval() {
        let (_db, s, t, writer) = acme().await;
        let first = claimed(claim(&s, &t, "k", "h", Duration::ZERO).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = claimed(claim(&s, &t, "k", "h", Duration::from_secs(30)).await);
        let mut late = with_claim(&t, "k", first, 0);
        let lost = opening(&t, &late);
        late.opens = Some(lost.clone());
        assert!(writer.append(late).await.is_err());
        assert!(s.tenant(&t).approval(lost.id).await.unwrap().is_none());

        let mut kept = with_claim(&t, "k", second, 1);
        let opened = opening(&t, &kept);
        kept.opens = Some(opened.clone());
        writer.append(kept).await.unwrap();
        let stored = s.tenant(&t).approval(opened.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.created_at, stored.expires_at),
            (opened.created_at, opened.expires_at)
        );
    }

    /// Makes key `old` a day and an hour old.
    async fn age_old_key(db: &TestDb) {
        execute(
            db,
            "UPDATE decision_idempotency SET created_at = now() - interval '25 hours'
             WHERE idempotency_key = 'old'",
        )
        .await;
    }

    #[tokio::test]
    async fn keys_older_than_a_day_are_forgotten() {
        let (db, s, t, writer) = acme().await;
        let lease = Duration::from_secs(30);
        let a = claimed(claim(&s, &t, "old", "h", lease).await);
        writer.append(with_claim(&t, "old", a, 0)).await.unwrap();
        let b = claimed(claim(&s, &t, "new", "h", lease).await);
        writer.append(with_claim(&t, "new", b, 1)).await.unwrap();
        age_old_key(&db).await;
        // An expired key is claimed anew, even with another body…
        claimed(claim(&s, &t, "old", "h3", lease).await);
        age_old_key(&db).await;
        // …and pruning deletes it, keeping the recent one.
        assert_eq!(s.prune_idempotency_keys(100).await.unwrap(), 1);
        assert!(matches!(
            claim(&s, &t, "new", "h", lease).await,
            ClaimOutcome::Completed(_)
        ));
    }
}

fn routed_telemetry() -> Telemetry {
    Telemetry::Routed {
        policy_version: "hall-default-policy/1".into(),
        qos_class: "P2".into(),
        selected_worker_id: Some("x.acme.w".into()),
        gate_reason: "no_gate_required".into(),
    }
}

fn denied_telemetry() -> Telemetry {
    Telemetry::Denied {
        deny_code: "DENY_NO_MATCHING_RULE".into(),
        deny_message: "no routing rule matched".into(),
    }
}

/// A route decision's receipt (version 3) with its telemetry.
fn routed(tenant: &str, n: usize, telemetry: Telemetry) -> PendingReceipt {
    let mut p = pending(tenant, n);
    p.content.receipt_version = audit::ReceiptVersion::V3;
    p.content.matched_rule_id = Some("rr_read".into());
    p.content.rules_version = Some("2".into());
    p.content.selected_worker_species_id = Some("wrk.acme.reader".into());
    p.telemetry = Some(telemetry);
    p
}

#[tokio::test]
async fn a_route_decisions_telemetry_is_committed_with_its_receipt_and_read_back_whole() {
    let (_db, s, t, writer) = acme().await;
    let receipt = writer
        .append(routed(t.as_str(), 1, routed_telemetry()))
        .await
        .unwrap();
    // A decision about a named worker stores none.
    writer.append(pending(t.as_str(), 1)).await.unwrap();

    let events = s.tenant(&t).route_events("c1", 10).await.unwrap();
    // The envelopes: the receipt's common fields and the row's own.
    let expected = Envelopes {
        common: registry::route_events::envelope_common(&receipt.content),
        telemetry: routed_telemetry(),
    };
    assert_eq!(
        events
            .iter()
            .map(|e| e.envelope.clone())
            .collect::<Vec<_>>(),
        expected.to_values()
    );
    let decision = Uuid::parse_str(&receipt.content.receipt_id).unwrap();
    assert!(events.iter().all(|e| e.decision_id == decision));
    assert_eq!(events[1].event_id, "evt.os.worker.selected");
    assert_eq!(
        events[0].envelope["decision_id"],
        receipt.content.receipt_id
    );
    assert_eq!(events[0].envelope["timestamp"], receipt.content.decided_at);
    assert_eq!(events[0].envelope["matched_rule_id"], "rr_read");
    assert_eq!(events[0].envelope["rules_version"], "2");
    assert_eq!(events[0].envelope["qos_class"], "P2");
    assert_eq!(events[2].envelope["reason"], "no_gate_required");
    // Another tenant's query for the same correlation id finds nothing.
    let other = TenantId::parse("org.other").unwrap();
    assert!(s
        .tenant(&other)
        .route_events("c1", 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn telemetry_of_several_route_decisions_is_read_in_order_up_to_the_limit() {
    let (_db, s, t, writer) = acme().await;
    let first = writer
        .append(routed(t.as_str(), 2, routed_telemetry()))
        .await
        .unwrap();
    let second = writer
        .append(routed(t.as_str(), 2, denied_telemetry()))
        .await
        .unwrap();

    let all = s.tenant(&t).route_events("c2", 10).await.unwrap();
    let ids = |r: &Receipt| Uuid::parse_str(&r.content.receipt_id).unwrap();
    assert_eq!(
        all.iter()
            .map(|e| (e.decision_id, e.event_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (ids(&first), "evt.os.task.routed"),
            (ids(&first), "evt.os.worker.selected"),
            (ids(&first), "evt.os.policy.gated"),
            (ids(&second), "evt.os.task.denied"),
        ]
    );
    assert_eq!(all[3].envelope["deny_message"], "no routing rule matched");
    // The limit counts envelopes, not decisions.
    assert_eq!(s.tenant(&t).route_events("c2", 2).await.unwrap().len(), 2);
}

#[tokio::test]
async fn telemetry_is_found_in_order_through_the_correlation_hash_index() {
    let (db, s, t, writer) = acme().await;
    for n in 0..20 {
        writer
            .append(routed(t.as_str(), n, routed_telemetry()))
            .await
            .unwrap();
        writer.append(pending(t.as_str(), n)).await.unwrap();
    }
    assert_eq!(s.tenant(&t).route_events("c7", 10).await.unwrap().len(), 3);
    let mut conn = db.connect().await;
    // A table this small is read whole otherwise; what matters is that the
    // index can serve the query at all (its expression matches), once the
    // statistics say how few rows share a correlation id.
    for setup in ["ANALYZE receipts", "SET enable_seqscan = off"] {
        sqlx::query(setup).execute(&mut conn).await.unwrap();
    }
    let query = registry::route_events::EVENTS_BY_CORRELATION
        .replace("$1", &format!("'{}'", t.as_str()))
        .replace("$2", "'c7'")
        .replace("$3", "10");
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {query}"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(
        plan.iter()
            .any(|l| l.contains("receipts_route_telemetry_by_correlation_hash")),
        "{plan:#?}"
    );
    // In the order asked for, so the limit ends the scan.
    assert!(!plan.iter().any(|l| l.contains("Sort")), "{plan:#?}");
}

/// Appends `n` receipts to `t`'s chain, fifty at a time (so in batches).
async fn append_many(writer: &ReceiptWriter, t: &TenantId, n: usize) {
    for chunk in 0..n.div_ceil(50) {
        let jobs = (0..50.min(n - chunk * 50)).map(|i| writer.append(pending(t.as_str(), i)));
        for r in futures_util::future::join_all(jobs).await {
            r.unwrap();
        }
    }
}

/// The leaves of `t`'s tree as the receipts say: their hashes as raw bytes.
async fn leaves_of(s: &Store, t: &TenantId) -> Vec<audit::merkle::Hash> {
    chain(s, t)
        .await
        .iter()
        .map(|r| audit::tree::receipt_leaf(&r.receipt_hash).unwrap())
        .collect()
}

#[tokio::test]
async fn the_writer_keeps_the_tree_of_the_chain_and_its_proofs_verify() {
    use audit::merkle::{root, verify_consistency, verify_inclusion};
    use audit::tree::{consistency_ranges, inclusion_ranges};
    let (_db, s, t, writer) = acme().await;
    assert_eq!(s.tenant(&t).tree_head().await.unwrap().size, 0);
    append_many(&writer, &t, 600).await;

    let leaves = leaves_of(&s, &t).await;
    let store = s.tenant(&t);
    let head = store.tree_head().await.unwrap();
    assert_eq!(head.size, 600);
    assert_eq!(head.root, root(&leaves));
    // The heads of older trees, from the stored nodes and receipts.
    for size in [1u64, 255, 256, 257, 512, 599] {
        let old = store.range_heads(&[(0, size)]).await.unwrap();
        assert_eq!(old[0], root(&leaves[..size as usize]), "size {size}");
    }
    for (index, size) in [(0u64, 600u64), (255, 600), (256, 600), (599, 600), (3, 300)] {
        let proof = store
            .range_heads(&inclusion_ranges(index, size).unwrap())
            .await
            .unwrap();
        verify_inclusion(
            &leaves[index as usize],
            index,
            size,
            &proof,
            &root(&leaves[..size as usize]),
        )
        .unwrap();
    }
    for (old, new) in [(1u64, 600u64), (256, 600), (300, 513), (599, 600)] {
        let proof = store
            .range_heads(&consistency_ranges(old, new).unwrap())
            .await
            .unwrap();
        verify_consistency(
            old,
            new,
            &root(&leaves[..old as usize]),
            &root(&leaves[..new as usize]),
            &proof,
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_chain_written_before_the_tree_is_caught_up_off_the_write_path() {
    let (db, s, t, writer) = acme().await;
    append_many(&writer, &t, 300).await;
    // As a chain from before the tree: no edge, no stored node (the guard
    // on the nodes lifted for this).
    for sql in [
        "UPDATE receipt_chains SET tree_size = 0, tree_edge = '\\x'::bytea",
        "ALTER TABLE receipt_tree_nodes DISABLE TRIGGER receipt_tree_nodes_no_truncate",
        "TRUNCATE receipt_tree_nodes",
    ] {
        common::execute(&db, sql).await;
    }
    // The writer appends receipts and leaves the tree behind as it is…
    writer.append(pending(t.as_str(), 1)).await.unwrap();
    assert_eq!(s.tenant(&t).tree_head().await.unwrap().size, 0);
    // …until the catch-up brings it level with the chain.
    assert_eq!(s.catch_up_trees().await.unwrap(), 301);
    assert_eq!(s.catch_up_trees().await.unwrap(), 0, "nothing left to do");
    // From there on the writer keeps it.
    writer.append(pending(t.as_str(), 1)).await.unwrap();
    let leaves = leaves_of(&s, &t).await;
    let head = s.tenant(&t).tree_head().await.unwrap();
    assert_eq!(head.size, 302);
    assert_eq!(head.root, audit::merkle::root(&leaves));
    let node = s.tenant(&t).range_heads(&[(0, 256)]).await.unwrap();
    assert_eq!(node[0], audit::merkle::root(&leaves[..256]));
}

#[tokio::test]
async fn an_unreadable_tree_leaves_the_receipts_of_its_chain_and_others_flowing() {
    let (db, s, t, writer) = acme().await;
    let other = tenant(&s, "org.other").await;
    append_many(&writer, &t, 3).await;
    // Three leaves need two heads; one is stored.
    common::execute(
        &db,
        "UPDATE receipt_chains SET tree_edge = decode(repeat('00', 32), 'hex')
         WHERE tenant_id = 'org.acme'",
    )
    .await;
    let (a, b) = tokio::join!(
        writer.append(pending(t.as_str(), 1)),
        writer.append(pending(other.as_str(), 1))
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(chain(&s, &t).await.len(), 4);
    assert_eq!(s.tenant(&other).tree_head().await.unwrap().size, 1);
}

#[tokio::test]
async fn stored_tree_nodes_cannot_be_changed_or_removed() {
    let (db, _s, t, writer) = acme().await;
    append_many(&writer, &t, 256).await;
    let mut conn = db.connect().await;
    for sql in [
        "UPDATE receipt_tree_nodes SET hash = sha256(hash)",
        "DELETE FROM receipt_tree_nodes",
        "TRUNCATE receipt_tree_nodes",
    ] {
        let e = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
}
