//! Attestations: the rows of every submission and the facts the rules in
//! `attestation::rules` need. Judging a submission is the `attest` use
//! case's (`crates/service/src/attest.rs`); this module writes what it
//! decided and reads it back, re-judged against today's bans and keys.

use attestation::rules::{current_status, KeyFacts};
use attestation::{AttestationStatus, NamespacePublicKey, Verdict};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;
use wcp::{Namespace, SpeciesId, TenantId, WorkerId};

use crate::bans::BanCache;
use crate::webhooks::Audience;
use crate::workers::Worker;
use crate::{Conflict, Entity, Store, StoreError, TenantStore};
use ::webhooks::EventType;

/// A judged submission, to be recorded: an unsigned hash (`PUT …/attest`)
/// or a signed card, with the verdict the rules gave it.
#[derive(Debug, Clone)]
pub struct NewAttestation {
    pub sha256: String,
    /// The card as sent, when one was.
    pub card: Option<SignedCard>,
    pub verdict: Verdict,
    /// It waits for a signature that the operator's approval cannot give
    /// (`AttestationPolicy::awaits_signature`).
    pub awaiting_signature: bool,
    pub provenance: Provenance,
}

impl NewAttestation {
    pub fn kind(&self) -> AttestationKind {
        match self.card {
            Some(_) => AttestationKind::Card,
            None => AttestationKind::Hash,
        }
    }
}

/// A capability card as submitted: what is kept of it.
#[derive(Debug, Clone)]
pub struct SignedCard {
    /// The key that signed it.
    pub kid: String,
    /// The card's JSON as sent.
    pub card: serde_json::Value,
    /// The signature as sent (base64 or hex).
    pub signature: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where a package came from, as the SDKs report it with an attestation.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub label: Option<String>,
    pub ai_generated: bool,
    pub ai_service: Option<String>,
    pub ai_model: Option<String>,
    pub ai_session_id: Option<String>,
    /// The species the package says it implements (Go/TypeScript SDKs); the
    /// `attest` use case has checked it against the worker's.
    pub worker_species_id: Option<SpeciesId>,
    /// The package's version, as the SDK reports it.
    pub worker_version: Option<String>,
    /// Where the package's manifest is, as the SDK reports it.
    pub manifest_path: Option<String>,
}

/// What was submitted: a bare package hash, or a signed capability card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationKind {
    Hash,
    Card,
}

impl AttestationKind {
    /// The stored and shown name: `hash` or `card`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Card => "card",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "hash" => Ok(Self::Hash),
            "card" => Ok(Self::Card),
            other => Err(StoreError::Corrupt(format!("attestation kind {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attestation {
    pub id: String,
    pub tenant_id: TenantId,
    pub worker_registry_id: String,
    pub worker_id: String,
    /// The worker's authority namespace (from its worker id).
    pub namespace: Namespace,
    pub kind: AttestationKind,
    pub sha256: String,
    /// The status now: the stored verdict re-judged against today's bans and keys.
    pub verdict: Verdict,
    pub signed_by: Option<String>,
    pub label: Option<String>,
    pub ai_generated: bool,
    pub ai_service: Option<String>,
    pub ai_model: Option<String>,
    pub ai_session_id: Option<String>,
    pub worker_species_id: Option<String>,
    pub worker_version: Option<String>,
    pub manifest_path: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Attestation {
    /// When it was accepted ([`attestation::rules::accepted_at`]).
    pub fn accepted_at(&self) -> DateTime<Utc> {
        attestation::rules::accepted_at(self.approved_at, self.created_at)
    }
}

const ATTESTATION_COLUMNS: &str = "a.tenant_id, a.id, a.worker_registry_id, a.worker_id, a.kind, \
     a.sha256, a.status, a.reason, a.signed_by, a.card_expires_at, a.label, a.ai_generated, \
     a.ai_service, a.ai_model, a.ai_session_id, a.worker_species_id, a.worker_version, \
     a.manifest_path, a.approved_at, a.created_at, \
     (SELECT k.revoked_at FROM namespace_keys k JOIN workers w ON k.namespace = w.namespace \
       WHERE w.id = a.worker_registry_id AND k.kid = a.signed_by) AS key_revoked_at";

/// The attestations `filter` names, newest first, at most `limit`.
fn newest_first(filter: &str, limit: u32) -> String {
    format!(
        "SELECT {ATTESTATION_COLUMNS} FROM attestations a WHERE {filter}
         ORDER BY a.created_at DESC, a.id DESC LIMIT {limit}"
    )
}

/// An attestation as stored: its verdict when it was submitted, and what
/// may undo it later (its key's revocation, its card's expiry). Judged
/// again against the time and the ban list whenever it is read.
#[derive(Debug, Clone)]
pub struct StoredAttestation {
    submitted: Attestation,
    key_revoked_at: Option<DateTime<Utc>>,
    card_expires_at: Option<DateTime<Utc>>,
}

impl StoredAttestation {
    /// The `data` of `attestation.submitted` and `attestation.approved`
    /// (docs/events.md), with the status as stored.
    fn event_data(&self) -> ::webhooks::payloads::AttestationEvent {
        let a = &self.submitted;
        ::webhooks::payloads::AttestationEvent {
            tenant_id: a.tenant_id.to_string(),
            attestation_id: a.id.clone(),
            worker_id: a.worker_id.clone(),
            worker_registry_id: a.worker_registry_id.clone(),
            kind: a.kind.as_str().to_string(),
            sha256: a.sha256.clone(),
            status: a.verdict.status.as_str().to_string(),
            reason: a.verdict.reason.clone(),
            signed_by: a.signed_by.clone(),
            created_at: a.created_at,
            approved_at: a.approved_at,
        }
    }

    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, StoreError> {
        let tenant: String = row.try_get("tenant_id")?;
        let status: String = row.try_get("status")?;
        let worker_id: String = row.try_get("worker_id")?;
        let namespace = WorkerId::parse(&worker_id)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .namespace();
        let verdict = Verdict {
            status: AttestationStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("attestation status {status:?}")))?,
            reason: row.try_get("reason")?,
        };
        Ok(Self {
            submitted: Attestation {
                id: row.try_get("id")?,
                tenant_id: TenantId::parse(&tenant)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                worker_registry_id: row.try_get("worker_registry_id")?,
                worker_id,
                namespace,
                kind: AttestationKind::parse(row.try_get("kind")?)?,
                sha256: row.try_get("sha256")?,
                verdict,
                signed_by: row.try_get("signed_by")?,
                label: row.try_get("label")?,
                ai_generated: row.try_get("ai_generated")?,
                ai_service: row.try_get("ai_service")?,
                ai_model: row.try_get("ai_model")?,
                ai_session_id: row.try_get("ai_session_id")?,
                worker_species_id: row.try_get("worker_species_id")?,
                worker_version: row.try_get("worker_version")?,
                manifest_path: row.try_get("manifest_path")?,
                approved_at: row.try_get("approved_at")?,
                created_at: row.try_get("created_at")?,
            },
            key_revoked_at: row.try_get("key_revoked_at")?,
            card_expires_at: row.try_get("card_expires_at")?,
        })
    }

    /// The attestation as it stands at `now`, with `ban` the live ban reason of its hash.
    pub fn judged(&self, ban: Option<&str>, now: DateTime<Utc>) -> Attestation {
        let mut a = self.submitted.clone();
        a.verdict = current_status(
            self.submitted.verdict.clone(),
            self.submitted.created_at,
            self.key_revoked_at,
            self.card_expires_at,
            ban,
            now,
        );
        a
    }
}

impl StoredAttestation {
    /// The package hash it attests.
    pub fn sha256(&self) -> &str {
        &self.submitted.sha256
    }

    /// The attestation as it stands now, against the live ban set.
    pub async fn judged_now(&self, bans: &BanCache) -> Result<Attestation, StoreError> {
        let ban = bans.ban_reason(self.sha256()).await?;
        Ok(self.judged(ban.as_deref(), Utc::now()))
    }
}

/// The attestation in force at `now` among a worker's accepted ones (newest
/// first): the first whose key and card still hold.
pub fn current_of(candidates: &[StoredAttestation], now: DateTime<Utc>) -> Option<Attestation> {
    candidates
        .iter()
        .map(|c| c.judged(None, now))
        .find(|a| a.verdict.status == AttestationStatus::Attested)
}

impl Store {
    /// The key named `kid` registered on `namespace` (a key id names a key
    /// only within its namespace).
    pub async fn key_facts(
        &self,
        namespace: &Namespace,
        kid: &str,
    ) -> Result<Option<KeyFacts>, StoreError> {
        let row = sqlx::query(
            "SELECT namespace, public_key, revoked_at FROM namespace_keys
             WHERE namespace = $1 AND kid = $2",
        )
        .bind(namespace.as_str())
        .bind(kid)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let ns: String = row.try_get("namespace")?;
        let pk: Vec<u8> = row.try_get("public_key")?;
        Ok(Some(KeyFacts {
            namespace: Namespace::parse(&ns).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            public_key: NamespacePublicKey::from_bytes(&pk)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            revoked_at: row.try_get("revoked_at")?,
        }))
    }

    /// The attestation in force for a worker: the latest accepted one whose
    /// key and card still hold. Verify's `current_hash` is its hash. Bans are
    /// not considered here: a ban on the current hash makes the worker
    /// banned, it does not make an older hash current.
    pub async fn current_attestation(
        &self,
        worker_registry_id: &str,
    ) -> Result<Option<Attestation>, StoreError> {
        let candidates = self.attestation_candidates(worker_registry_id).await?;
        Ok(current_of(&candidates, Utc::now()))
    }

    /// A worker's accepted attestations, newest first: what [`current_of`]
    /// chooses from.
    pub async fn attestation_candidates(
        &self,
        worker_registry_id: &str,
    ) -> Result<Vec<StoredAttestation>, StoreError> {
        let rows = sqlx::query(&newest_first(
            "a.worker_registry_id = $1 AND a.status = 'attested'",
            50,
        ))
        .bind(worker_registry_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(StoredAttestation::from_row).collect()
    }

    /// Operator: approves a pending attestation, its new verdict given by
    /// `verdict` from whether it awaits a signature
    /// (`attestation::rules::approved`). The row is locked while it is
    /// judged, so two approvals cannot both apply.
    pub async fn approve_attestation(
        &self,
        id: &str,
        verdict: impl FnOnce(bool) -> Verdict,
    ) -> Result<StoredAttestation, StoreError> {
        let mut tx = self.pool.begin().await?;
        let found: Option<(String, bool)> = sqlx::query_as(
            "SELECT status, awaiting_signature FROM attestations WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let awaiting_signature = match found {
            None => return Err(StoreError::NotFound(Entity::Attestation(id.to_string()))),
            Some((status, awaiting)) if status == AttestationStatus::Pending.as_str() => awaiting,
            Some((status, _)) => {
                return Err(StoreError::Conflict(
                    Entity::Attestation(id.to_string()),
                    Conflict::Status(status),
                ))
            }
        };
        let v = verdict(awaiting_signature);
        let row = sqlx::query(&format!(
            "UPDATE attestations a SET approved_at = now(), status = $2, reason = $3
             WHERE a.id = $1 RETURNING {ATTESTATION_COLUMNS}"
        ))
        .bind(id)
        .bind(v.status.as_str())
        .bind(&v.reason)
        .fetch_one(&mut *tx)
        .await?;
        let stored = StoredAttestation::from_row(&row)?;
        crate::webhooks::emit(
            &mut tx,
            Audience::Tenant(&stored.submitted.tenant_id),
            EventType::AttestationApproved,
            &stored.event_data(),
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }
}

impl TenantStore<'_> {
    /// Records a judged submission about `worker`, one of this tenant's.
    pub async fn record_attestation(
        &self,
        worker: &Worker,
        new: &NewAttestation,
    ) -> Result<StoredAttestation, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let card = new.card.as_ref();
        let p = &new.provenance;
        let row = sqlx::query(&format!(
            "INSERT INTO attestations AS a (tenant_id, id, worker_registry_id, worker_id, kind, sha256,
                status, reason, awaiting_signature, signed_by, card, signature, card_expires_at, label,
                ai_generated, ai_service, ai_model, ai_session_id, worker_species_id, worker_version,
                manifest_path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                $19, $20, $21)
             RETURNING {ATTESTATION_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(format!("att_{}", Uuid::now_v7().simple()))
        .bind(&worker.id)
        .bind(worker.record.worker_id.as_str())
        .bind(new.kind().as_str())
        .bind(&new.sha256)
        .bind(new.verdict.status.as_str())
        .bind(&new.verdict.reason)
        .bind(new.awaiting_signature)
        .bind(card.map(|c| &c.kid))
        .bind(card.map(|c| &c.card))
        .bind(card.map(|c| &c.signature))
        .bind(card.and_then(|c| c.expires_at))
        .bind(&p.label)
        .bind(p.ai_generated)
        .bind(&p.ai_service)
        .bind(&p.ai_model)
        .bind(&p.ai_session_id)
        .bind(p.worker_species_id.as_ref().map(|s| s.as_str()))
        .bind(&p.worker_version)
        .bind(&p.manifest_path)
        .fetch_one(&mut *tx)
        .await?;
        let stored = StoredAttestation::from_row(&row)?;
        crate::webhooks::emit(
            &mut tx,
            Audience::Tenant(self.tenant),
            EventType::AttestationSubmitted,
            &stored.event_data(),
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// The latest attestation of `worker`, one of this tenant's (any status), as stored.
    pub async fn latest_attestation(
        &self,
        worker: &Worker,
    ) -> Result<Option<StoredAttestation>, StoreError> {
        let row = sqlx::query(&newest_first(
            "a.tenant_id = $1 AND a.worker_registry_id = $2",
            1,
        ))
        .bind(self.tenant.as_str())
        .bind(&worker.id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(StoredAttestation::from_row).transpose()
    }
}
