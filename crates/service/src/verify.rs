//! Verifying a worker, as the PyHall clients do before running it: the
//! worker visible to the caller (`policy::visibility`, applied by the facts
//! cache), the attestation in force and whether its package hash is banned.
//! What status that makes is [`VerifiedStatus::of`]; the ban set is this
//! process's copy (`registry::bans::BanCache`), told of a confirmed ban
//! within a second (or PostgreSQL is asked).

use std::sync::Arc;

use registry::attestations::Attestation;
use registry::workers::{Worker, WorkerRef, WorkerStatus};
use registry::StoreError;
use wcp::TenantId;

use crate::Hall;

/// A worker's standing as verify reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedStatus {
    Active,
    Revoked,
    Banned,
}

impl VerifiedStatus {
    /// A revoked worker is revoked, whatever its hash; otherwise a ban on
    /// the hash in force makes it banned.
    pub fn of(status: WorkerStatus, banned: bool) -> Self {
        match (status, banned) {
            (WorkerStatus::Revoked, _) => VerifiedStatus::Revoked,
            (WorkerStatus::Active, true) => VerifiedStatus::Banned,
            (WorkerStatus::Active, false) => VerifiedStatus::Active,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            VerifiedStatus::Active => "active",
            VerifiedStatus::Revoked => "revoked",
            VerifiedStatus::Banned => "banned",
        }
    }
}

/// What verify knows of a worker.
#[derive(Debug, Clone)]
pub struct Verified {
    pub worker: Arc<Worker>,
    /// The attestation in force now; `None` until one is accepted.
    pub current: Option<Attestation>,
    /// Why the current attestation's hash is banned, when it is.
    pub ban_reason: Option<String>,
    pub status: VerifiedStatus,
}

impl Hall {
    /// The worker `named`, as `viewer` may see it (public workers only
    /// without one); `None` when there is none or it is another tenant's
    /// private worker.
    pub async fn verify_worker(
        &self,
        named: &WorkerRef,
        viewer: Option<&TenantId>,
    ) -> Result<Option<Verified>, StoreError> {
        let Some(worker) = self.facts.visible_worker(named, viewer).await? else {
            return Ok(None);
        };
        let current = self
            .facts
            .current_attestation(&worker.id, chrono::Utc::now())
            .await?;
        // The hash in force is the current attestation's.
        let ban_reason = match &current {
            Some(a) => self.bans.ban_reason(&a.sha256).await?,
            None => None,
        };
        let status = VerifiedStatus::of(worker.status, ban_reason.is_some());
        Ok(Some(Verified {
            worker,
            current,
            ban_reason,
            status,
        }))
    }
}

/// A short, non-reversible fingerprint of an AI session id (verify shows this, never the id).
pub fn session_fingerprint(session_id: &str) -> String {
    use sha2::{Digest, Sha256};
    wcp::canonical::hex(&Sha256::digest(session_id.as_bytes())[..8])
}
