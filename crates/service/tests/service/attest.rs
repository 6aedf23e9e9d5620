//! The attestation use cases: judging and recording a submission, the
//! operator's approval, and the tenant's policy that shapes both.

use attestation::{AttestationPolicy, AttestationStatus};
use registry::attestations::{Attestation, Provenance};
use registry::workers::{Worker, WorkerRef};
use registry::{Conflict, Entity, StoreError};
use serde_json::json;
use service::attest::{AttestCommand, AttestError, Submission};
use service::tenant_policy::SetTenantPolicy;
use wcp::TenantId;

use crate::fixture::Fixture;

/// The worker attested, and the package hash attested.
const WORKER: &str = "x.acme.w";
const SHA: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn hash() -> Submission {
    Submission::Hash(SHA.to_string())
}

/// Tenant `org.acme` with its worker [`WORKER`].
struct Acme {
    f: Fixture,
    acme: TenantId,
    w: Worker,
}

async fn acme() -> Acme {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let w = f.register(&acme, WORKER, 1, json!({})).await;
    Acme { f, acme, w }
}

impl Acme {
    /// Submits an attestation of `worker`, as `tenant`.
    async fn submit_as(
        &self,
        tenant: &TenantId,
        worker: &str,
        submission: Submission,
    ) -> Result<Attestation, AttestError> {
        self.f
            .hall
            .attest(AttestCommand {
                tenant: tenant.clone(),
                worker: WorkerRef::parse(worker).unwrap(),
                submission,
                provenance: Provenance::default(),
                named_in_body: None,
            })
            .await
    }

    /// Submits an attestation of [`WORKER`], as its owner.
    async fn submit(&self, submission: Submission) -> Result<Attestation, AttestError> {
        self.submit_as(&self.acme, WORKER, submission).await
    }

    /// [`WORKER`]'s card for [`SHA`], signed with its namespace's key.
    async fn card(&self) -> Submission {
        self.f.signed_card(&self.acme, WORKER, SHA).await
    }

    /// The tenant's attestation policy asks for these.
    async fn asking(&self, require_signature: bool, require_approval: bool) {
        self.f
            .hall
            .set_tenant_policy(SetTenantPolicy {
                tenant: self.acme.clone(),
                attestation: Some(AttestationPolicy {
                    require_signature,
                    require_approval,
                }),
                decisions: None,
            })
            .await
            .unwrap();
    }

    /// The id of the worker's attestation in force, as the store has it.
    async fn current(&self) -> Option<String> {
        let current = self.f.hall.store.current_attestation(&self.w.id).await;
        current.unwrap().map(|a| a.id)
    }

    /// The worker's latest attestation, whatever its status.
    async fn latest(&self) -> Option<Attestation> {
        let worker = WorkerRef::parse(WORKER).unwrap();
        let found = self.f.hall.latest_attestation(&self.acme, worker).await;
        found.unwrap().latest
    }
}

/// The card a submission sends (it must be one).
fn card_of(s: Submission) -> attestation::CapabilityCard {
    match s {
        Submission::Card { card, .. } => card,
        Submission::Hash(_) => panic!("not a card"),
    }
}

#[tokio::test]
async fn a_hash_is_attested_and_becomes_current() {
    let t = acme().await;
    let mut command = AttestCommand {
        tenant: t.acme.clone(),
        worker: WorkerRef::parse(WORKER).unwrap(),
        submission: hash(),
        provenance: Provenance::default(),
        named_in_body: None,
    };
    command.provenance.ai_model = Some("model-x".into());

    let a = t.f.hall.attest(command).await.unwrap();

    assert_eq!(a.verdict.status, AttestationStatus::Attested, "{a:?}");
    assert_eq!(a.kind, registry::attestations::AttestationKind::Hash);
    assert_eq!(a.ai_model.as_deref(), Some("model-x"));
    assert_eq!(a.accepted_at(), a.created_at, "accepted when received");
    assert_eq!(t.current().await, Some(a.id));
}

#[tokio::test]
async fn a_card_signed_by_an_unknown_key_is_recorded_denied() {
    let t = acme().await;
    // The worker's card, signed by a key nobody registered and naming it.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let kid = attestation::NamespacePublicKey::from_bytes(stranger.verifying_key().as_bytes())
        .unwrap()
        .kid();
    let mut raw = card_of(t.card().await).raw().clone();
    raw["kid"] = json!(kid);
    let submission = Submission::Card {
        signature: attestation::card::sign_card(&raw, &stranger),
        card: attestation::CapabilityCard::parse(&raw).unwrap(),
    };

    let a = t.submit(submission).await.unwrap();

    assert_eq!(a.verdict.status, AttestationStatus::Denied);
    let reason = a.verdict.reason.unwrap();
    assert!(reason.contains("unknown signing key"), "{reason}");
    assert_eq!(a.signed_by.as_deref(), Some(kid.as_str()));
    assert_eq!(t.current().await, None);
    assert_eq!(t.latest().await.map(|l| l.id), Some(a.id), "recorded");
}

#[tokio::test]
async fn a_card_with_a_bad_signature_is_recorded_denied() {
    let t = acme().await;
    let forged = Submission::Card {
        card: card_of(t.card().await),
        signature: "00".repeat(64),
    };

    let a = t.submit(forged).await.unwrap();

    assert_eq!(a.verdict.status, AttestationStatus::Denied);
    assert!(a.verdict.reason.unwrap().contains("does not verify"));
}

#[tokio::test]
async fn malformed_or_misdirected_submissions_are_refused_and_not_recorded() {
    let t = acme().await;
    t.f.register(&t.acme, "x.acme.other", 1, json!({})).await;
    let card_of_other = t.f.signed_card(&t.acme, "x.acme.other", SHA).await;

    let err = t.submit(card_of_other).await.unwrap_err();
    assert!(
        matches!(&err, AttestError::CardForOtherWorker { card, sent_for }
            if card.as_str() == "x.acme.other" && sent_for.as_str() == WORKER),
        "{err:?}"
    );

    let garbled = Submission::Card {
        card: card_of(t.card().await),
        signature: "not a signature".into(),
    };
    let err = t.submit(garbled).await.unwrap_err();
    assert!(matches!(err, AttestError::SignatureMalformed(_)), "{err:?}");

    let err = t
        .submit_as(&t.acme, "x.acme.nobody", hash())
        .await
        .unwrap_err();
    assert!(matches!(err, AttestError::UnknownWorker(_)), "{err:?}");
    assert_eq!(err.to_string(), "worker x.acme.nobody not found");

    assert!(t.latest().await.is_none(), "nothing was recorded");
}

#[tokio::test]
async fn a_revoked_worker_or_another_tenants_worker_is_not_attested() {
    let t = acme().await;
    let other = t.f.create_tenant("org.other").await;

    let err = t.submit_as(&other, WORKER, hash()).await.unwrap_err();
    assert!(matches!(err, AttestError::UnknownWorker(_)), "{err:?}");

    let store = t.f.hall.store.tenant(&t.acme);
    store
        .revoke_worker(&WorkerRef::parse(WORKER).unwrap())
        .await
        .unwrap();
    let err = t.submit(hash()).await.unwrap_err();
    assert!(matches!(err, AttestError::WorkerRevoked(_)), "{err:?}");
    assert_eq!(err.to_string(), "worker x.acme.w is revoked");
}

#[tokio::test]
async fn with_require_signature_a_hash_waits_for_a_signature_that_approval_cannot_give() {
    let t = acme().await;
    t.asking(true, false).await;

    let a = t.submit(hash()).await.unwrap();
    assert_eq!(a.verdict.status, AttestationStatus::Pending);
    let waiting = a.verdict.reason.clone().unwrap();
    assert!(waiting.contains("signed capability card"), "{waiting}");

    let approved = t.f.hall.approve_attestation(&a.id).await.unwrap();
    assert_eq!(approved.verdict.status, AttestationStatus::Pending);
    assert_eq!(approved.verdict.reason.as_deref(), Some(waiting.as_str()));
    assert!(approved.approved_at.is_some());
    assert_eq!(t.current().await, None);

    // A signed card attests at once.
    let signed = t.submit(t.card().await).await.unwrap();
    assert_eq!(
        signed.verdict.status,
        AttestationStatus::Attested,
        "{signed:?}"
    );
    assert_eq!(t.current().await, Some(signed.id));
}

#[tokio::test]
async fn approving_makes_it_current_and_accepted_at_approval_time() {
    let t = acme().await;
    let (f, w) = (&t.f, &t.w);
    t.asking(false, true).await;
    let a = t.submit(hash()).await.unwrap();
    assert_eq!(a.verdict.status, AttestationStatus::Pending);
    assert!(a.verdict.reason.unwrap().contains("operator's approval"));
    assert_eq!(t.current().await, None);
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
    assert_eq!(t.current().await, Some(a.id.clone()));
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
    let missing = f.hall.approve_attestation("att_nope").await;
    let Err(StoreError::NotFound(Entity::Attestation(id))) = missing else {
        panic!("{missing:?}")
    };
    assert_eq!(id, "att_nope");
}

#[tokio::test]
async fn a_policy_change_replaces_only_the_parts_given() {
    let t = acme().await;
    let (f, acme) = (&t.f, &t.acme);
    let partner = f.create_tenant("org.partner").await;
    let before = f.hall.tenant_policy(acme).await.unwrap();
    assert_eq!(before.attestation, AttestationPolicy::default());
    assert!(before.decisions.signatories.is_empty());
    let copied = f.hall.facts.decision_policy(acme).await.unwrap();
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

    t.asking(true, true).await;
    let read = f.hall.tenant_policy(acme).await.unwrap();
    assert!(read.attestation.require_signature && read.attestation.require_approval);
    assert_eq!(read.decisions.signatories, vec![partner], "kept");
    // Decisions read the owner's policy from the facts copies: they see it.
    let seen = f.hall.facts.decision_policy(acme).await.unwrap();
    assert!(seen.l7_advisory);

    let ghost = wcp::TenantId::parse("org.ghost").unwrap();
    let missing = f.hall.tenant_policy(&ghost).await;
    let Err(StoreError::NotFound(Entity::Tenant(t))) = missing else {
        panic!("{missing:?}")
    };
    assert_eq!(t, ghost);
}

#[tokio::test]
async fn the_latest_attestation_is_read_for_the_owner_only() {
    let t = acme().await;
    let other = t.f.create_tenant("org.other").await;
    assert!(t.latest().await.is_none(), "nothing submitted yet");
    let first = t.submit(hash()).await.unwrap();
    let second = t.submit(t.card().await).await.unwrap();

    let latest = t.latest().await.unwrap();
    assert_eq!(latest.id, second.id);
    assert_ne!(latest.id, first.id);

    let worker = WorkerRef::parse(WORKER).unwrap();
    let err =
        t.f.hall
            .latest_attestation(&other, worker)
            .await
            .unwrap_err();
    assert!(matches!(err, AttestError::UnknownWorker(_)), "{err:?}");
}
