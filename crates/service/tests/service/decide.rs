//! The decision use case: what it decides, what it appends to the chain,
//! and what it refuses before any receipt.

use audit::Outcome;
use registry::approvals::SupervisorLevel;
use serde_json::json;
use service::decide::{DecideError, Decided};
use service::Caller;
use wcp::{DataLabel, Env, TenantId};

use crate::fixture::{command, key_of, tenant, with_key, Fixture, CAP};

/// `tenant`'s own decision on `worker` running [`CAP`] in `env` on public
/// data, under idempotency key `key` for a request whose body was `body`.
async fn decide_keyed(
    f: &Fixture,
    tenant: &TenantId,
    worker: &str,
    env: Env,
    key: &str,
    body: &serde_json::Value,
) -> Result<Decided, DecideError> {
    f.hall
        .decide(
            key_of(tenant),
            command(tenant, worker, env, DataLabel::Public),
            with_key(key, body),
        )
        .await
}

#[tokio::test]
async fn an_unknown_worker_is_denied_with_a_receipt() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;

    let d = f
        .decide_dev(key_of(&acme), &acme, "x.acme.nobody")
        .await
        .unwrap();

    let r = &d.decision.receipt;
    assert_eq!(r.content.outcome, Outcome::Deny);
    assert_eq!(r.content.deny_code.as_deref(), Some("DENY_UNKNOWN_WORKER"));
    assert_eq!(
        r.content.worker_id, "x.acme.nobody",
        "as the caller named it"
    );
    assert!(d.decision.deny_reason.is_some());
    assert!(!d.replayed);
    let chain = f.chain(&acme).await;
    assert_eq!(chain.len(), 1);
    assert_eq!(
        chain[0].receipt_hash, r.receipt_hash,
        "the answer is the committed receipt"
    );
}

#[tokio::test]
async fn a_private_worker_of_another_tenant_is_unknown_unless_the_caller_signs_for_its_owner() {
    let f = Fixture::start().await;
    let owner = f.create_tenant("org.owner").await;
    let partner = f.create_tenant("org.partner").await;
    let w = f
        .register(&owner, "x.owner.w", 1, json!({"visibility": "private"}))
        .await;
    let ask = |t| command(t, "x.owner.w", Env::Dev, DataLabel::Public);

    // By WCP id and by registry id alike: not there, as far as the partner knows.
    for named in ["x.owner.w", w.id.as_str()] {
        let mut c = ask(&partner);
        c.worker = registry::workers::WorkerRef::parse(named).unwrap();
        c.worker_named = named.to_string();
        let d = f.hall.decide(key_of(&partner), c, None).await.unwrap();
        let r = &d.decision.receipt.content;
        assert_eq!(
            r.deny_code.as_deref(),
            Some("DENY_UNKNOWN_WORKER"),
            "{named}"
        );
        assert_eq!(
            r.worker_id, named,
            "the receipt does not reveal the worker's id"
        );
    }
    // Its owner sees it.
    let d = f
        .hall
        .decide(key_of(&owner), ask(&owner), None)
        .await
        .unwrap();
    assert_eq!(d.decision.receipt.content.outcome, Outcome::Allow);

    // Once the owner accepts the partner's requests, the partner sees it too.
    f.sign_for(&owner, &[&partner]).await;
    let d = f
        .hall
        .decide(key_of(&partner), ask(&partner), None)
        .await
        .unwrap();
    let r = &d.decision.receipt.content;
    assert_eq!((r.outcome, &r.deny_code), (Outcome::Allow, &None));
    assert_eq!(r.worker_id, "x.owner.w");
    assert_eq!(
        r.tenant_id, "org.partner",
        "in the requesting tenant's chain"
    );
    assert_eq!(f.chain(&partner).await.len(), 3);
    assert_eq!(f.chain(&owner).await.len(), 1);
}

#[tokio::test]
async fn a_repeat_with_the_same_idempotency_key_returns_the_original_decision_and_appends_no_receipt(
) {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.w", 2, json!({})).await;
    let body = json!({"worker_id": "x.acme.w", "capability": CAP, "env": "dev",
        "data_label": "PUBLIC"});
    let decide = || decide_keyed(&f, &acme, "x.acme.w", Env::Dev, "k-1", &body);

    let first = decide().await.unwrap();
    assert!(!first.replayed);
    assert_eq!(first.decision.receipt.content.outcome, Outcome::Allow);
    let again = decide().await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        again.decision.receipt.receipt_hash,
        first.decision.receipt.receipt_hash
    );
    assert_eq!(again.supervision, first.supervision);
    assert_eq!(f.chain(&acme).await.len(), 1);

    // The same key with another body is refused, and appends nothing either.
    let mut other = body.clone();
    other["env"] = json!("development");
    let refused = decide_keyed(&f, &acme, "x.acme.w", Env::Dev, "k-1", &other)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DecideError::IdempotencyKeyReused(k) if k.as_str() == "k-1"),
        "{refused:?}"
    );
    assert_eq!(f.chain(&acme).await.len(), 1);
}

#[tokio::test]
async fn the_operator_must_name_a_tenant_and_a_key_decides_for_its_own_tenant_only() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    let operator_tenant = tenant("hall.operator");
    let operator = Caller {
        tenant: &operator_tenant,
        operator: true,
        admin: true,
        key_id: uuid::Uuid::nil(),
    };

    assert!(matches!(
        operator.decides_for(None),
        Err(DecideError::TenantRequired)
    ));
    assert_eq!(operator.decides_for(Some(acme.clone())).unwrap(), acme);
    assert_eq!(key_of(&acme).decides_for(None).unwrap(), acme);
    assert!(matches!(
        key_of(&other).decides_for(Some(acme.clone())),
        Err(DecideError::Forbidden { named, caller }) if named == acme && caller == other
    ));

    // A command for another tenant is refused by the use case itself.
    let refused = f
        .decide_dev(key_of(&other), &acme, "x.acme.w")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DecideError::Forbidden { .. }),
        "{refused:?}"
    );
    assert!(f.chain(&acme).await.is_empty());
    assert!(f.chain(&other).await.is_empty());

    // The operator's decision for a tenant goes in that tenant's chain.
    let d = f.decide_dev(operator, &acme, "x.acme.w").await.unwrap();
    assert_eq!(d.decision.receipt.content.tenant_id, "org.acme");
    assert_eq!(f.chain(&acme).await.len(), 1);
}

#[tokio::test]
async fn an_operator_key_without_admin_makes_no_decision_for_another_tenant() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let operator_tenant = tenant("hall.operator");
    let without_admin = Caller {
        tenant: &operator_tenant,
        operator: true,
        admin: false,
        key_id: uuid::Uuid::nil(),
    };
    // Even a command built elsewhere is refused by the use case itself.
    let refused = f
        .decide_dev(without_admin, &acme, "x.acme.w")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DecideError::AdminRequired { named, .. } if named == &acme),
        "{refused:?}"
    );
    assert!(f.chain(&acme).await.is_empty());
}

#[tokio::test]
async fn every_receipt_names_the_key_that_asked_in_the_current_format() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.w", 2, json!({})).await;
    let key_id: uuid::Uuid = "0193a1b2-5555-7000-8000-00000000000a".parse().unwrap();
    let key = Caller {
        key_id,
        ..key_of(&acme)
    };
    let d = f.decide_dev(key, &acme, "x.acme.w").await.unwrap();
    let r = &d.decision.receipt.content;
    assert_eq!(r.receipt_version, audit::ReceiptVersion::V2);
    assert_eq!(
        r.acting_key_id.as_deref(),
        Some(key_id.to_string().as_str())
    );
    // As stored and read back.
    let chain = f.chain(&acme).await;
    assert_eq!(chain[0].content.acting_key_id, r.acting_key_id);
}

#[tokio::test]
async fn require_human_opens_one_approval_and_a_repeat_with_the_key_opens_no_other() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.gk", 8, json!({})).await;
    f.attest_card(&acme, "x.acme.gk", &"d".repeat(64)).await;
    let body = json!({"worker_id": "x.acme.gk", "capability": CAP, "env": "prod",
        "data_label": "PUBLIC"});
    let decide = || decide_keyed(&f, &acme, "x.acme.gk", Env::Prod, "gk-1", &body);

    let first = decide().await.unwrap();
    let r = &first.decision.receipt.content;
    assert_eq!(
        r.deny_code.as_deref(),
        Some("DENY_REQUIRES_HUMAN_APPROVAL"),
        "{first:?}"
    );
    let s = &first.supervision;
    assert_eq!(s.level, Some(SupervisorLevel::Gatekeeper));
    let approval = s
        .pending_approval_id
        .clone()
        .expect("an approval is opened");
    assert_eq!(r.approval_id.as_deref(), Some(approval.as_str()));
    assert_eq!(
        s.escalation_context.as_ref().map(|c| c["tier"].clone()),
        Some(json!(8))
    );
    assert_eq!(
        f.pending(&acme).await,
        vec![approval.parse::<uuid::Uuid>().unwrap()]
    );

    let again = decide().await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        again.supervision, first.supervision,
        "the same approval fields"
    );
    assert_eq!(f.pending(&acme).await.len(), 1, "no second approval");
    assert_eq!(f.chain(&acme).await.len(), 1, "no second receipt");
}

#[tokio::test]
async fn a_dry_run_that_needs_a_human_opens_no_approval() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.gk", 8, json!({})).await;
    f.attest_card(&acme, "x.acme.gk", &"e".repeat(64)).await;
    let mut c = command(&acme, "x.acme.gk", Env::Prod, DataLabel::Public);
    c.dry_run = true;

    let d = f.hall.decide(key_of(&acme), c, None).await.unwrap();
    let r = &d.decision.receipt.content;
    assert_eq!(r.deny_code.as_deref(), Some("DENY_REQUIRES_HUMAN_APPROVAL"));
    assert!(r.dry_run);
    assert_eq!(d.supervision.pending_approval_id, None);
    assert!(f.pending(&acme).await.is_empty());
    assert_eq!(
        f.chain(&acme).await.len(),
        1,
        "a dry run is still receipted"
    );
}
