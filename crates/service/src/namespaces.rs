//! The namespace use cases: checking and claiming one, listing a tenant's,
//! the operator's administration (reserve, approve a pending claim,
//! release, transfer, forced or not, and their history) and the
//! namespaces' Ed25519 signing keys. Who may claim a namespace or use its
//! keys is `policy::namespaces`; the store judges a claim (and a key's
//! registration) by that rule under the namespace's row lock, so two
//! claimants never both win and no key slips in while the namespace
//! changes hands. Whether a key's registration proves possession of its
//! private half is `attestation::keys::check_key_proof`.
//!
//! Every write drops this process's copies of decision facts after its
//! commit (namespace keys verify attestations).

use attestation::keys::{check_key_proof, KeyProof, ProofError};
use attestation::NamespacePublicKey;
use policy::namespaces::{
    ChangeRefused, Force, KeysRefused, NamespaceChange, NamespaceHeld, Standing,
};
use registry::namespaces::{ChangeBy, NamespaceChangeRecord, NamespaceClaim, NamespaceKey};
use registry::{Entity, StoreError};
use uuid::Uuid;
use wcp::{Namespace, TenantId};

use crate::Hall;

/// A claim to make.
#[derive(Debug, Clone)]
pub struct ClaimCommand {
    pub namespace: Namespace,
    pub tenant: TenantId,
}

/// A claim made, or found already made by the same tenant.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub claim: NamespaceClaim,
    /// False when the tenant held (or had claimed) it already.
    pub claimed_now: bool,
}

/// Why a namespace was not claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("namespace {namespace} is not yours to claim: {held:?}")]
    Held {
        namespace: Namespace,
        held: NamespaceHeld,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A signing key to register on one of the tenant's namespaces.
#[derive(Debug, Clone)]
pub struct AddKeyCommand {
    pub tenant: TenantId,
    pub namespace: Namespace,
    pub key: NamespacePublicKey,
    pub label: String,
    /// The key's signature over the statement naming this tenant, namespace
    /// and key id (`attestation::keys::key_proof_statement`).
    pub proof: KeyProof,
}

/// Why a tenant's signing key was not added, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The proof of possession does not verify with the key.
    #[error(transparent)]
    Proof(ProofError),
    /// The tenant does not hold the namespace.
    #[error("namespace {0} not found")]
    NotYours(Namespace),
    /// The tenant's claim still waits for the operator.
    #[error("namespace {0} is still waiting for the operator's approval")]
    Pending(Namespace),
    /// The key is registered already.
    #[error("key {kid} is already registered")]
    Exists { kid: String },
    /// No such key on the namespace (of this tenant).
    #[error("key {kid} of namespace {namespace} not found")]
    NotFound { namespace: Namespace, kid: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Entity::NamespaceKey { kid, .. }, registry::Conflict::Exists) => {
                KeyError::Exists { kid }
            }
            StoreError::NotFound(Entity::NamespaceKey { namespace, kid }) => {
                KeyError::NotFound { namespace, kid }
            }
            other => KeyError::Store(other),
        }
    }
}

/// The operator's release or transfer of a namespace.
#[derive(Debug, Clone)]
pub struct ChangeCommand {
    pub namespace: Namespace,
    /// Release it, or transfer it to this tenant.
    pub to: Option<TenantId>,
    /// `Some(reason)`: forced — the active workers and keys under it are
    /// revoked first — and why (a forced change always says why).
    pub forced_because: Option<String>,
    /// The operator's credential: its tenant and API key id (recorded).
    pub actor_tenant: TenantId,
    pub actor_key_id: Uuid,
}

/// A release or transfer made and recorded.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The namespace's row after a transfer (none after a release).
    pub claim: Option<NamespaceClaim>,
    pub record: NamespaceChangeRecord,
}

/// Why the operator's change to a namespace was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nobody claimed or reserved it.
    #[error("namespace {0} not found")]
    NotFound(Namespace),
    /// No claim on it waits for approval.
    #[error("no pending claim on {0}")]
    NoPendingClaim(Namespace),
    /// The claiming rule refuses the change.
    #[error("namespace {namespace}: {refused:?}")]
    Refused {
        namespace: Namespace,
        refused: ChangeRefused,
    },
    /// Transferring to a tenant that does not exist.
    #[error("tenant {0} not found")]
    NoSuchTenant(TenantId),
    #[error(transparent)]
    Store(StoreError),
}

impl AdminError {
    fn refused(namespace: &Namespace) -> impl Fn(ChangeRefused) -> AdminError + '_ {
        move |refused| AdminError::Refused {
            namespace: namespace.clone(),
            refused,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(Entity::Namespace(ns)) => AdminError::NotFound(ns),
            StoreError::NotFound(Entity::PendingClaim(ns)) => AdminError::NoPendingClaim(ns),
            StoreError::NotFound(Entity::Tenant(t)) => AdminError::NoSuchTenant(t),
            other => AdminError::Store(other),
        }
    }
}

impl Hall {
    /// `done`, once this process's copies of decision facts are dropped:
    /// what a write hands back after its commit, so the next decision here
    /// reads what it wrote (other processes hear of it from PostgreSQL).
    pub(crate) fn wrote<T>(&self, done: T) -> T {
        self.facts.invalidate();
        done
    }

    /// How `namespace` stands for `viewer`: available, theirs, pending,
    /// reserved or another tenant's.
    pub async fn check_namespace(
        &self,
        viewer: &TenantId,
        namespace: &Namespace,
    ) -> Result<Standing, StoreError> {
        let row = self.store.namespace_claim(namespace).await?;
        Ok(policy::namespaces::standing(
            namespace,
            row.as_ref().map(NamespaceClaim::holding),
            viewer,
        ))
    }

    /// Claims a namespace: at once, or pending the operator's approval
    /// (`org.*` when the registry says so:
    /// [`Hall::org_claims_need_approval`]). Claiming one's own again is a
    /// no-op.
    pub async fn claim_namespace(&self, command: ClaimCommand) -> Result<Claimed, ClaimError> {
        let ClaimCommand { namespace, tenant } = command;
        let org_claims_need_approval = self.org_claims_need_approval;
        let settled = self
            .store
            .tenant(&tenant)
            .claim_namespace(&namespace, |row| {
                policy::namespaces::claim(&namespace, row, &tenant, org_claims_need_approval)
            })
            .await?
            .map_err(|held| ClaimError::Held {
                namespace: namespace.clone(),
                held,
            })?;
        if settled.claimed_now {
            self.facts.invalidate();
        }
        Ok(Claimed {
            claim: settled.claim,
            claimed_now: settled.claimed_now,
        })
    }

    /// `tenant`'s namespaces (claimed and pending).
    pub async fn list_namespaces(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<NamespaceClaim>, StoreError> {
        self.store.tenant(tenant).list_namespaces().await
    }

    /// Operator: reserves a namespace nobody holds, so nobody can claim it
    /// (a reservation's reason may be changed).
    pub async fn reserve_namespace(
        &self,
        namespace: &Namespace,
        reason: &str,
    ) -> Result<NamespaceClaim, AdminError> {
        Ok(self.wrote(
            self.store
                .reserve_namespace(namespace, reason, policy::namespaces::reserve)
                .await?
                .map_err(AdminError::refused(namespace))?,
        ))
    }

    /// Operator: approves a pending claim.
    pub async fn approve_namespace(
        &self,
        namespace: &Namespace,
    ) -> Result<NamespaceClaim, AdminError> {
        Ok(self.wrote(self.store.approve_namespace(namespace).await?))
    }

    /// Operator: releases a claim, a pending claim or a reservation, or
    /// transfers a claim to another tenant, and records who did it and why.
    /// Unforced, refused while active workers or signing keys live under the
    /// namespace (revoked ones never count); forced, those are revoked
    /// first. A reservation is never transferred.
    pub async fn change_namespace(&self, command: ChangeCommand) -> Result<Changed, AdminError> {
        let ChangeCommand {
            namespace,
            to,
            forced_because,
            actor_tenant,
            actor_key_id,
        } = command;
        let force = match forced_because {
            Some(_) => Force::Yes,
            None => Force::No,
        };
        let by = ChangeBy {
            tenant: &actor_tenant,
            key_id: actor_key_id,
            forced: force == Force::Yes,
            reason: forced_because.as_deref(),
        };
        let changed = match &to {
            None => {
                let record = self
                    .store
                    .release_namespace(&namespace, &by, |row, usage| {
                        policy::namespaces::change(NamespaceChange::Release, row, usage, force)
                    })
                    .await?
                    .map_err(AdminError::refused(&namespace))?;
                Changed {
                    claim: None,
                    record,
                }
            }
            Some(to) => {
                let (claim, record) = self
                    .store
                    .transfer_namespace(&namespace, to, &by, |row, usage| {
                        policy::namespaces::change(NamespaceChange::Transfer, row, usage, force)
                    })
                    .await?
                    .map_err(AdminError::refused(&namespace))?;
                Changed {
                    claim: Some(claim),
                    record,
                }
            }
        };
        Ok(self.wrote(changed))
    }

    /// Operator: the releases and transfers of a namespace, oldest first.
    pub async fn namespace_history(
        &self,
        namespace: &Namespace,
    ) -> Result<Vec<NamespaceChangeRecord>, StoreError> {
        self.store.namespace_changes(namespace).await
    }

    /// Registers a signing key on a namespace the tenant holds, approved,
    /// once its proof of possession verifies. The holding is judged under
    /// the namespace's row lock, so a key never lands on a namespace that
    /// changed hands meanwhile.
    pub async fn add_namespace_key(
        &self,
        command: AddKeyCommand,
    ) -> Result<NamespaceKey, KeyError> {
        let AddKeyCommand {
            tenant,
            namespace,
            key,
            label,
            proof,
        } = command;
        check_key_proof(&key, &tenant, &namespace, &proof).map_err(KeyError::Proof)?;
        let added = self
            .store
            .tenant(&tenant)
            .add_namespace_key(&namespace, &key, &label, |row| {
                policy::namespaces::use_keys(row, &tenant)
            })
            .await?
            .map_err(|refused| keys_refused(&namespace, refused))?;
        Ok(self.wrote(added))
    }

    /// The signing keys `tenant` registered on a namespace it holds,
    /// revoked ones included.
    pub async fn list_namespace_keys(
        &self,
        tenant: &TenantId,
        namespace: &Namespace,
    ) -> Result<Vec<NamespaceKey>, KeyError> {
        self.may_use_keys(tenant, namespace).await?;
        Ok(self
            .store
            .tenant(tenant)
            .list_namespace_keys(namespace)
            .await?)
    }

    /// Revokes one of `tenant`'s signing keys (again: no change). It is kept.
    pub async fn revoke_namespace_key(
        &self,
        tenant: &TenantId,
        namespace: &Namespace,
        kid: &str,
    ) -> Result<NamespaceKey, KeyError> {
        Ok(self.wrote(
            self.store
                .tenant(tenant)
                .revoke_namespace_key(namespace, kid)
                .await?,
        ))
    }

    async fn may_use_keys(&self, tenant: &TenantId, namespace: &Namespace) -> Result<(), KeyError> {
        let row = self.store.namespace_claim(namespace).await?;
        policy::namespaces::use_keys(row.as_ref().map(NamespaceClaim::holding), tenant)
            .map_err(|refused| keys_refused(namespace, refused))
    }
}

fn keys_refused(namespace: &Namespace, refused: KeysRefused) -> KeyError {
    match refused {
        KeysRefused::NotYours => KeyError::NotYours(namespace.clone()),
        KeysRefused::Pending => KeyError::Pending(namespace.clone()),
    }
}
