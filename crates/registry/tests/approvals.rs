//! Human approvals in the store: used once, only for their own request,
//! not after they expire, and given back when the decision never happened.

use registry::approvals::{
    ApprovalStatus, ApprovalSubject, ApprovalTtl, NewApproval, Stage, Unusable,
};
use registry::{Store, TenantStore};
use testkit::TestDb;
use uuid::Uuid;
use wcp::TenantId;

mod common;
use common::{execute, store};

fn subject() -> ApprovalSubject {
    ApprovalSubject {
        worker_registry_id: "wrk_0193a1b2c3d4e5f60718293a4b5c6d7e".into(),
        worker_id: wcp::WorkerId::parse("x.acme.w").unwrap(),
        capability_id: wcp::CapabilityId::parse("cap.a.b").unwrap(),
        env: wcp::Env::Prod,
        data_label: wcp::DataLabel::Public,
    }
}

fn at(status: ApprovalStatus) -> Stage {
    Stage {
        status,
        level: registry::approvals::SupervisorLevel::Gatekeeper,
    }
}

async fn approved(store: &Store, tenant: &TenantId) -> Uuid {
    let t = store.tenant(tenant);
    let a = t
        .open_approval(&NewApproval {
            id: Uuid::new_v4(),
            supervisor_level: registry::approvals::SupervisorLevel::Gatekeeper,
            subject: subject(),
            reason: "REQUIRE_HUMAN".into(),
            escalation_context: serde_json::json!({}),
            decision_id: Uuid::now_v7(),
            correlation_id: "c".into(),
            ttl: ApprovalTtl::DEFAULT,
        })
        .await
        .unwrap();
    assert_eq!(a.status, ApprovalStatus::Pending);
    let approved = t
        .answer_approval(
            a.id,
            a.stage(),
            at(ApprovalStatus::Approved),
            "human",
            None,
            ApprovalTtl::DEFAULT,
        )
        .await
        .unwrap()
        .expect("a pending approval moves");
    assert_eq!(approved.status, ApprovalStatus::Approved);
    a.id
}

/// A store with tenant `org.acme` and one approved approval of it:
/// `(database, store, tenant, approval id)`.
async fn acme_approval() -> (TestDb, Store, TenantId, Uuid) {
    let db = TestDb::create().await;
    let s = store(&db).await;
    let tenant = common::tenant(&s, "org.acme", "Acme").await;
    let id = approved(&s, &tenant).await;
    (db, s, tenant, id)
}

/// Why approval `id` cannot be used for `subject` by a new decision.
async fn refusal(t: &TenantStore<'_>, id: Uuid, subject: &ApprovalSubject) -> Unusable {
    t.use_approval(id, subject, Uuid::now_v7())
        .await
        .unwrap()
        .unwrap_err()
}

#[tokio::test]
async fn an_approval_is_used_once_and_given_back_when_its_decision_failed() {
    let (_db, s, tenant, id) = acme_approval().await;
    let t = s.tenant(&tenant);

    let mut other = subject();
    other.env = wcp::Env::Edge;
    assert_eq!(refusal(&t, id, &other).await, Unusable::OtherRequest);
    let first = Uuid::now_v7();
    assert!(t.use_approval(id, &subject(), first).await.unwrap().is_ok());
    assert_eq!(refusal(&t, id, &subject()).await, Unusable::AlreadyUsed);
    // The first decision's receipt failed: the approval comes back, once.
    t.release_approval(id, Uuid::now_v7()).await.unwrap();
    assert_eq!(
        refusal(&t, id, &subject()).await,
        Unusable::AlreadyUsed,
        "only the decision that used it can give it back"
    );
    t.release_approval(id, first).await.unwrap();
    let second = Uuid::now_v7();
    let used = t
        .use_approval(id, &subject(), second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.used_by_decision, Some(second));

    // Another tenant cannot use or even see it.
    let stranger = common::tenant(&s, "org.stranger", "Stranger").await;
    assert!(s.tenant(&stranger).approval(id).await.unwrap().is_none());
}

#[tokio::test]
async fn an_approval_whose_receipt_is_stored_is_not_given_back() {
    let (_db, s, tenant, id) = acme_approval().await;
    let t = s.tenant(&tenant);
    let decision = Uuid::now_v7();
    assert!(t
        .use_approval(id, &subject(), decision)
        .await
        .unwrap()
        .is_ok());
    // The receipt commits, but its answer is lost (the connection dropped
    // after COMMIT was sent): the decision believes it failed.
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let writer = registry::receipts::ReceiptWriter::start(
        s.clone(),
        registry::receipts::ReceiptKey {
            kid: audit::key_id(&signing.verifying_key()),
            key: signing,
        },
    );
    let now = chrono::Utc::now();
    writer
        .append(registry::receipts::PendingReceipt {
            content: audit::UnsignedReceipt {
                receipt_id: decision.to_string(),
                spec_version: wcp::SPEC_VERSION.into(),
                tenant_id: tenant.to_string(),
                correlation_id: "c".into(),
                decided_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                worker_id: "x.acme.w".into(),
                capability_id: "cap.a.b".into(),
                env: "prod".into(),
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
                approval_id: Some(id.to_string()),
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
        })
        .await
        .unwrap();

    t.release_approval(id, decision).await.unwrap();
    assert_eq!(
        refusal(&t, id, &subject()).await,
        Unusable::AlreadyUsed,
        "a stored decision keeps the approval it used"
    );
}

#[tokio::test]
async fn an_expired_approval_cannot_be_used_or_resolved() {
    let (db, s, tenant, id) = acme_approval().await;
    execute(
        &db,
        "UPDATE approvals SET expires_at = now() - interval '1 second'",
    )
    .await;
    let t = s.tenant(&tenant);
    assert_eq!(
        t.approval(id).await.unwrap().unwrap().status,
        ApprovalStatus::Expired
    );
    assert_eq!(refusal(&t, id, &subject()).await, Unusable::Expired);
    // Past its deadline the stored status does not move any more.
    for from in [ApprovalStatus::Pending, ApprovalStatus::Approved] {
        assert!(t
            .answer_approval(
                id,
                at(from),
                at(ApprovalStatus::Denied),
                "human",
                None,
                ApprovalTtl::DEFAULT,
            )
            .await
            .unwrap()
            .is_none());
    }
}

/// Sweeps with `limit` until a batch comes back short: every approval marked.
async fn sweep_all(s: &Store, limit: i64) -> Vec<Uuid> {
    let mut marked = Vec::new();
    loop {
        let batch = s.expire_lapsed_approvals(limit).await.unwrap();
        let done = (batch.len() as i64) < limit;
        marked.extend(batch.into_iter().map(|a| a.id));
        if done {
            return marked;
        }
    }
}

#[tokio::test]
async fn two_sweeps_at_once_mark_each_lapsed_approval_once_and_leave_the_rest() {
    let db = TestDb::create().await;
    let s = store(&db).await;
    let acme = common::tenant(&s, "org.acme", "Acme").await;
    let t = s.tenant(&acme);
    let mut lapsed = Vec::new();
    for i in 0..40 {
        let a = t
            .open_approval(&NewApproval {
                id: Uuid::new_v4(),
                supervisor_level: registry::approvals::SupervisorLevel::Gatekeeper,
                subject: subject(),
                reason: "REQUIRE_HUMAN".into(),
                escalation_context: serde_json::json!({}),
                decision_id: Uuid::now_v7(),
                correlation_id: format!("c{i}"),
                ttl: ApprovalTtl::from_seconds(60).unwrap(),
            })
            .await
            .unwrap();
        lapsed.push(a.id);
    }
    let waiting = lapsed.pop().unwrap();
    let approved = lapsed.pop().unwrap();
    t.answer_approval(
        approved,
        at(ApprovalStatus::Pending),
        at(ApprovalStatus::Approved),
        "human",
        None,
        ApprovalTtl::DEFAULT,
    )
    .await
    .unwrap()
    .unwrap();
    execute(
        &db,
        &format!(
            "UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id <> '{waiting}'"
        ),
    )
    .await;

    let (a, b) = tokio::join!(sweep_all(&s, 3), sweep_all(&s, 3));
    let mut marked: Vec<Uuid> = a.into_iter().chain(b).collect();
    marked.sort();
    let mut expected = lapsed.clone();
    expected.sort();
    assert_eq!(marked, expected, "each lapsed pending approval once");
    assert!(sweep_all(&s, 3).await.is_empty(), "nothing twice");
    for id in &lapsed {
        assert_eq!(
            t.approval(*id).await.unwrap().unwrap().status,
            ApprovalStatus::Expired
        );
    }
    // Within its deadline it waits; approved, its yes is not undone.
    assert_eq!(
        t.approval(waiting).await.unwrap().unwrap().status,
        ApprovalStatus::Pending
    );
    let yes = t.approval(approved).await.unwrap().unwrap();
    assert_eq!(yes.status, ApprovalStatus::Expired, "reads expired, unused");
    let stored: Vec<String> = t
        .pending_approvals(100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id.to_string())
        .collect();
    assert_eq!(stored, vec![waiting.to_string()]);
}
