//! The attestation use cases: judging and recording a submission, the
//! operator's approval, and the tenant's policy that shapes both.

use attestation::{AttestationPolicy, AttestationStatus};
use registry::attestations::Provenance;
use registry::workers::WorkerRef;
use registry::{Conflict, Entity, StoreError};
use serde_json::json;
use service::attest::{AttestCommand, AttestError, Submission};
use service::tenant_policy::SetTenantPolicy;
use wcp::TenantId;

use crate::fixture::Fixture;

const SHA: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn attest(tenant: &TenantId, worker: &str, submission: Submission) -> AttestCommand {
    AttestCommand {
        tenant: tenant.clone(),
        worker: WorkerRef::parse(worker).unwrap(),
        submission,
        provenance: Provenance::default(),
    }
}

fn hash() -> Submission {
    Submission::Hash(SHA.to_string())
}

async fn asking(f: &Fixture, tenant: &TenantId, require_signature: bool, require_approval: bool) {
    f.hall
        .set_tenant_policy(SetTenantPolicy {
            tenant: tenant.clone(),
            attestation: Some(AttestationPolicy {
                require_signature,
                require_approval,
            }),
            decisions: None,
        })
        .await
        .unwrap();
}

async fn current(f: &Fixture, worker: &registry::workers::Worker) -> Option<String> {
    f.hall
        .store
        .current_attestation(&worker.id)
        .await
        .unwrap()
        .map(|a| a.id)
}

#[tokio::test]
async fn a_hash_is_attested_and_becomes_current() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let w = f.register(&acme, "x.acme.w", 1, json!({})).await;
    let mut command = attest(&acme, "x.acme.w", hash());
    command.provenance.ai_model = Some("model-x".into());

    let a = f.hall.attest(command).await.unwrap();

    assert_eq!(a.verdict.status, AttestationStatus::Attested, "{a:?}");
    assert_eq!(a.kind, registry::attestations::AttestationKind::Hash);
    assert_eq!(a.ai_model.as_deref(), Some("model-x"));
    assert_eq!(a.accepted_at(), a.created_at, "accepted when received");
    assert_eq!(current(&f, &w).await, Some(a.id));
}

#[tokio::test]
async fn a_card_signed_by_an_unknown_key_is_recorded_denied() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let w = f.register(&acme, "x.acme.w", 1, json!({})).await;
    let Submission::Card { card, .. } = f.signed_card(&acme, "x.acme.w", SHA).await else {
        unreachable!()
    };
    // The same card, signed by a key nobody registered and naming it.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let kid = attestation::NamespacePublicKey::from_bytes(stranger.verifying_key().as_bytes())
        .unwrap()
        .kid();
    let mut raw = card.raw().clone();
    raw["kid"] = json!(kid);
    let submission = Submission::Card {
        signature: attestation::card::sign_card(&raw, &stranger),
        card: attestation::CapabilityCard::parse(&raw).unwrap(),
    };

    let a = f
        .hall
        .attest(attest(&acme, "x.acme.w", submission))
        .await
        .unwrap();

    assert_eq!(a.verdict.status, AttestationStatus::Denied);
    let reason = a.verdict.reason.unwrap();
    assert!(reason.contains("unknown signing key"), "{reason}");
    assert_eq!(a.signed_by.as_deref(), Some(kid.as_str()));
    assert_eq!(current(&f, &w).await, None);
    let latest = f
        .hall
        .store
        .tenant(&acme)
        .latest_attestation(&WorkerRef::parse("x.acme.w").unwrap(), &f.hall.bans)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, a.id, "recorded, with its reason");
}

#[tokio::test]
async fn a_card_with_a_bad_signature_is_recorded_denied() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    let Submission::Card { card, .. } = f.signed_card(&acme, "x.acme.w", SHA).await else {
        unreachable!()
    };
    let forged = Submission::Card {
        card,
        signature: "00".repeat(64),
    };

    let a = f
        .hall
        .attest(attest(&acme, "x.acme.w", forged))
        .await
        .unwrap();

    assert_eq!(a.verdict.status, AttestationStatus::Denied);
    assert!(a.verdict.reason.unwrap().contains("does not verify"));
}

#[tokio::test]
async fn malformed_or_misdirected_submissions_are_refused_and_not_recorded() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    f.register(&acme, "x.acme.other", 1, json!({})).await;
    let card_of_other = f.signed_card(&acme, "x.acme.other", SHA).await;
    let Submission::Card { card, .. } = f.signed_card(&acme, "x.acme.w", SHA).await else {
        unreachable!()
    };

    let err = f
        .hall
        .attest(attest(&acme, "x.acme.w", card_of_other))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AttestError::CardForOtherWorker { card, sent_for }
            if card.as_str() == "x.acme.other" && sent_for.as_str() == "x.acme.w"),
        "{err:?}"
    );

    let garbled = Submission::Card {
        card,
        signature: "not a signature".into(),
    };
    let err = f
        .hall
        .attest(attest(&acme, "x.acme.w", garbled))
        .await
        .unwrap_err();
    assert!(matches!(err, AttestError::SignatureMalformed(_)), "{err:?}");

    let err = f
        .hall
        .attest(attest(&acme, "x.acme.nobody", hash()))
        .await
        .unwrap_err();
    assert!(matches!(err, AttestError::UnknownWorker(_)), "{err:?}");
    assert_eq!(err.to_string(), "worker x.acme.nobody not found");

    let latest = f
        .hall
        .store
        .tenant(&acme)
        .latest_attestation(&WorkerRef::parse("x.acme.w").unwrap(), &f.hall.bans)
        .await
        .unwrap();
    assert!(latest.is_none(), "nothing was recorded: {latest:?}");
}

#[tokio::test]
async fn a_revoked_worker_or_another_tenants_worker_is_not_attested() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;

    let err = f
        .hall
        .attest(attest(&other, "x.acme.w", hash()))
        .await
        .unwrap_err();
    assert!(matches!(err, AttestError::UnknownWorker(_)), "{err:?}");

    f.hall
        .store
        .tenant(&acme)
        .revoke_worker(&WorkerRef::parse("x.acme.w").unwrap())
        .await
        .unwrap();
    let err = f
        .hall
        .attest(attest(&acme, "x.acme.w", hash()))
        .await
        .unwrap_err();
    assert!(matches!(err, AttestError::WorkerRevoked(_)), "{err:?}");
    assert_eq!(err.to_string(), "worker x.acme.w is revoked");
}

#[tokio::test]
async fn with_require_signature_a_hash_waits_for_a_signature_that_approval_cannot_give() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let w = f.register(&acme, "x.acme.w", 1, json!({})).await;
    asking(&f, &acme, true, false).await;

    let a = f
        .hall
        .attest(attest(&acme, "x.acme.w", hash()))
        .await
        .unwrap();
    assert_eq!(a.verdict.status, AttestationStatus::Pending);
    let waiting = a.verdict.reason.clone().unwrap();
    assert!(waiting.contains("signed capability card"), "{waiting}");

    let approved = f.hall.approve_attestation(&a.id).await.unwrap();
    assert_eq!(approved.verdict.status, AttestationStatus::Pending);
    assert_eq!(approved.verdict.reason.as_deref(), Some(waiting.as_str()));
    assert!(approved.approved_at.is_some());
    assert_eq!(current(&f, &w).await, None);

    // A signed card attests at once.
    let card = f.signed_card(&acme, "x.acme.w", SHA).await;
    let signed = f
        .hall
        .attest(attest(&acme, "x.acme.w", card))
        .await
        .unwrap();
    assert_eq!(
        signed.verdict.status,
        AttestationStatus::Attested,
        "{signed:?}"
    );
    assert_eq!(current(&f, &w).await, Some(signed.id));
}

#[tokio::test]
async fn approving_makes_it_current_and_accepted_at_approval_time() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let w = f.register(&acme, "x.acme.w", 1, json!({})).await;
    asking(&f, &acme, false, true).await;
    let a = f
        .hall
        .attest(attest(&acme, "x.acme.w", hash()))
        .await
        .unwrap();
    assert_eq!(a.verdict.status, AttestationStatus::Pending);
    assert!(a.verdict.reason.unwrap().contains("operator's approval"));
    assert_eq!(current(&f, &w).await, None);
    let copied = f
        .hall
        .facts
        .current_attestation(&w.id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(copied.is_none());
    // Make the approval visibly later than the submission.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let approved = f.hall.approve_attestation(&a.id).await.unwrap();

    assert_eq!(approved.verdict.status, AttestationStatus::Attested);
    assert_eq!(approved.verdict.reason, None);
    let at = approved.approved_at.unwrap();
    assert!(at > approved.created_at);
    assert_eq!(approved.accepted_at(), at);
    assert_eq!(current(&f, &w).await, Some(a.id.clone()));
    // The decision facts see it at once (the use case dropped the copies).
    let fact = f
        .hall
        .facts
        .current_attestation(&w.id, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fact.accepted_at(), at);

    // Once is all.
    let again = f.hall.approve_attestation(&a.id).await.unwrap_err();
    assert!(
        matches!(&again, StoreError::Conflict(Entity::Attestation(id), Conflict::Status(s))
            if *id == a.id && s == "attested"),
        "{again:?}"
    );
    let missing = f.hall.approve_attestation("att_nope").await.unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound(Entity::Attestation(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_policy_change_replaces_only_the_parts_given() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let partner = f.create_tenant("org.partner").await;
    let before = f.hall.tenant_policy(&acme).await.unwrap();
    assert_eq!(before.attestation, AttestationPolicy::default());
    assert!(before.decisions.signatories.is_empty());

    let copied = f.hall.facts.decision_policy(&acme).await.unwrap();
    assert!(!copied.l7_advisory);

    let mut decisions = before.decisions.clone();
    decisions.signatories = vec![partner.clone()];
    decisions.l7_advisory = true;
    let after = f
        .hall
        .set_tenant_policy(SetTenantPolicy {
            tenant: acme.clone(),
            attestation: None,
            decisions: Some(decisions),
        })
        .await
        .unwrap();
    assert_eq!(after.decisions.signatories, vec![partner.clone()]);
    assert!(after.decisions.l7_advisory);
    assert_eq!(after.attestation, AttestationPolicy::default(), "kept");

    asking(&f, &acme, true, true).await;
    let read = f.hall.tenant_policy(&acme).await.unwrap();
    assert!(read.attestation.require_signature && read.attestation.require_approval);
    assert_eq!(read.decisions.signatories, vec![partner], "kept");
    // Decisions read the owner's policy from the facts copies: they see it.
    let seen = f.hall.facts.decision_policy(&acme).await.unwrap();
    assert!(seen.l7_advisory);

    let ghost = wcp::TenantId::parse("org.ghost").unwrap();
    let err = f.hall.tenant_policy(&ghost).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Tenant(_))),
        "{err:?}"
    );
}
