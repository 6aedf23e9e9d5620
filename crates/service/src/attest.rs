//! Attestations (WCP §5.10): submitting one — an unsigned package hash
//! (`PUT /api/v1/workers/{id}/attest`) or a signed capability card
//! (`POST /api/v1/workers/{id}/attestations`) —, the operator's approval
//! of a pending one (`POST /api/v1/attestations/{id}/approve`) and a
//! worker's latest one (`GET /api/v1/workers/{id}/attestation`).
//!
//! The use case gathers the facts (the worker, the tenant's attestation
//! policy, the ban list, the key a card names), checks the signature and
//! lets the pure rules of `attestation::rules` judge; the store records what
//! they said (`registry::attestations`). A well-formed submission is always
//! recorded, a denied one with its reason; an `Err` means nothing was.

use attestation::card::{parse_signature, CapabilityCard, CardError};
use attestation::rules::{approved, judge_submission, WorkerFacts};
use chrono::Utc;
use registry::attestations::{Attestation, NewAttestation, Provenance, SignedCard};
use registry::workers::{WorkerRef, WorkerStatus};
use registry::StoreError;
use wcp::{SpeciesId, TenantId, WorkerId};

use crate::Hall;

/// What is submitted.
#[derive(Debug, Clone)]
pub enum Submission {
    /// An unsigned package hash: 64 lowercase hex characters.
    Hash(String),
    /// A signed capability card; the hash attested is the card's `sha256`.
    Card {
        card: CapabilityCard,
        /// Ed25519 over the card's canonical bytes, base64 or hex, as sent.
        signature: String,
    },
}

impl Submission {
    /// The package hash attested.
    pub fn sha256(&self) -> &str {
        match self {
            Submission::Hash(sha) => sha,
            Submission::Card { card, .. } => &card.sha256,
        }
    }
}

/// An attestation of one of the caller's workers.
#[derive(Debug, Clone)]
pub struct AttestCommand {
    /// The tenant whose worker it is (the caller's).
    pub tenant: TenantId,
    pub worker: WorkerRef,
    pub submission: Submission,
    pub provenance: Provenance,
    /// The worker the body names besides the path (the Go SDK sends its
    /// `worker_id`): it must be the same worker.
    pub named_in_body: Option<WorkerRef>,
}

/// A worker's latest attestation, whatever its status, as it stands now.
#[derive(Debug, Clone)]
pub struct LatestAttestation {
    pub worker_id: WorkerId,
    /// `None`: nothing was ever submitted.
    pub latest: Option<Attestation>,
}

/// Why nothing was recorded (or, reading, found).
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The tenant has no such worker.
    #[error("worker {0} not found")]
    UnknownWorker(WorkerRef),
    /// A revoked worker is attested no more.
    #[error("worker {0} is revoked")]
    WorkerRevoked(WorkerRef),
    /// The card names another worker than the one it was sent for.
    #[error("the card is for worker {card}, but it was sent for {sent_for}")]
    CardForOtherWorker { card: WorkerId, sent_for: WorkerId },
    /// The body's `worker_id` names another worker than the path.
    #[error("the body's worker_id {body} is not the worker {path} of the path")]
    BodyForOtherWorker { body: WorkerRef, path: WorkerRef },
    /// The species the package claims is not the one the worker is registered with.
    #[error(
        "worker_species_id {claimed} does not match the species {registered} worker {worker} \
         is registered with"
    )]
    SpeciesMismatch {
        claimed: SpeciesId,
        registered: SpeciesId,
        worker: WorkerId,
    },
    /// The signature is not one (not base64 or hex, not 64 bytes).
    #[error(transparent)]
    SignatureMalformed(CardError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Hall {
    /// Judges a submission and records it, as it stands now.
    pub async fn attest(&self, command: AttestCommand) -> Result<Attestation, AttestError> {
        let AttestCommand {
            tenant,
            worker,
            submission,
            provenance,
            named_in_body,
        } = command;
        let store = self.store.tenant(&tenant);
        let Some(w) = store.worker(&worker).await? else {
            return Err(AttestError::UnknownWorker(worker));
        };
        if let Some(named) = named_in_body {
            let same = match &named {
                WorkerRef::Registry(id) => *id == w.id,
                WorkerRef::Wcp(id) => *id == w.record.worker_id,
            };
            if !same {
                return Err(AttestError::BodyForOtherWorker {
                    body: named,
                    path: worker,
                });
            }
        }
        if w.status == WorkerStatus::Revoked {
            return Err(AttestError::WorkerRevoked(worker));
        }
        // A worker registered without a species takes the claim as it is.
        if let (Some(claimed), Some(registered)) =
            (&provenance.worker_species_id, &w.record.species)
        {
            if claimed != registered {
                return Err(AttestError::SpeciesMismatch {
                    claimed: claimed.clone(),
                    registered: registered.clone(),
                    worker: w.record.worker_id.clone(),
                });
            }
        }
        let policy = store.attestation_policy().await?;
        let ban = self.bans.ban_reason(submission.sha256()).await?;
        let facts = WorkerFacts {
            worker_id: &w.record.worker_id,
            species: w.record.species.as_ref(),
            capabilities: &w.record.capabilities,
        };
        let (verdict, card) = match &submission {
            Submission::Hash(_) => (
                judge_submission(&facts, None, ban.as_deref(), policy, Utc::now()),
                None,
            ),
            Submission::Card { card, signature } => {
                if card.worker_id != w.record.worker_id {
                    return Err(AttestError::CardForOtherWorker {
                        card: card.worker_id.clone(),
                        sent_for: w.record.worker_id.clone(),
                    });
                }
                let parsed = parse_signature(signature).map_err(AttestError::SignatureMalformed)?;
                // A key id names a key within its namespace: the worker's.
                let key = self
                    .store
                    .key_facts(&w.record.worker_id.namespace(), &card.kid)
                    .await?;
                let signature_ok = key
                    .as_ref()
                    .is_some_and(|k| card.signature_valid(&parsed, &k.public_key));
                let verdict = judge_submission(
                    &facts,
                    Some((card, key.as_ref(), signature_ok)),
                    ban.as_deref(),
                    policy,
                    Utc::now(),
                );
                let kept = SignedCard {
                    kid: card.kid.clone(),
                    card: card.raw().clone(),
                    signature: signature.clone(),
                    expires_at: card.expires_at,
                };
                (verdict, Some(kept))
            }
        };
        let new = NewAttestation {
            sha256: submission.sha256().to_string(),
            awaiting_signature: policy.awaits_signature(card.is_some()),
            card,
            verdict,
            provenance,
        };
        let stored = store.record_attestation(&w, &new).await?;
        // The worker's attestation in force may have changed.
        self.facts.invalidate();
        Ok(stored.judged_now(&self.bans).await?)
    }

    /// The latest attestation of one of `tenant`'s workers, judged against
    /// today's ban list and keys.
    pub async fn latest_attestation(
        &self,
        tenant: &TenantId,
        worker: WorkerRef,
    ) -> Result<LatestAttestation, AttestError> {
        let store = self.store.tenant(tenant);
        let Some(w) = store.worker(&worker).await? else {
            return Err(AttestError::UnknownWorker(worker));
        };
        let latest = match store.latest_attestation(&w).await? {
            Some(stored) => Some(stored.judged_now(&self.bans).await?),
            None => None,
        };
        Ok(LatestAttestation {
            worker_id: w.record.worker_id.clone(),
            latest,
        })
    }

    /// Operator: approves a pending attestation. One still waiting for a
    /// signature stays pending (only a signed card can end that wait).
    /// A missing one is [`StoreError::NotFound`], one not pending a
    /// [`StoreError::Conflict`] naming its status.
    pub async fn approve_attestation(&self, id: &str) -> Result<Attestation, StoreError> {
        let stored = self.store.approve_attestation(id, approved).await?;
        self.facts.invalidate();
        stored.judged_now(&self.bans).await
    }
}
