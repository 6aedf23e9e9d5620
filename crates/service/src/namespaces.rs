//! The namespace use cases: checking and claiming one, listing a tenant's,
//! the operator's administration (reserve, approve a pending claim,
//! release, transfer) and the namespaces' Ed25519 signing keys. Who may
//! claim a namespace or use its keys is `policy::namespaces`; the store
//! judges a claim by that rule under the namespace's row lock, so two
//! claimants never both win.
//!
//! Every write drops this process's copies of decision facts after its
//! commit (namespace keys verify attestations).

use attestation::NamespacePublicKey;
use policy::namespaces::{ChangeRefused, KeysRefused, NamespaceChange, NamespaceHeld, Standing};
use registry::namespaces::{NamespaceClaim, NamespaceKey};
use registry::{Entity, StoreError};
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

/// Why a tenant's signing key was not added, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
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

    /// Operator: releases a claim, a pending claim or a reservation; refused
    /// while the namespace has workers or signing keys.
    pub async fn release_namespace(&self, namespace: &Namespace) -> Result<(), AdminError> {
        self.store
            .release_namespace(namespace, |row, usage| {
                policy::namespaces::change(NamespaceChange::Release, row, usage)
            })
            .await?
            .map_err(AdminError::refused(namespace))?;
        self.wrote(());
        Ok(())
    }

    /// Operator: moves a claim to another tenant; refused for reservations
    /// and while the namespace has workers or signing keys.
    pub async fn transfer_namespace(
        &self,
        namespace: &Namespace,
        to: &TenantId,
    ) -> Result<NamespaceClaim, AdminError> {
        Ok(self.wrote(
            self.store
                .transfer_namespace(namespace, to, |row, usage| {
                    policy::namespaces::change(NamespaceChange::Transfer, row, usage)
                })
                .await?
                .map_err(AdminError::refused(namespace))?,
        ))
    }

    /// Registers a signing key on a namespace `tenant` holds, approved.
    pub async fn add_namespace_key(
        &self,
        tenant: &TenantId,
        namespace: &Namespace,
        key: &NamespacePublicKey,
        label: &str,
    ) -> Result<NamespaceKey, KeyError> {
        self.may_use_keys(tenant, namespace).await?;
        Ok(self.wrote(
            self.store
                .tenant(tenant)
                .add_namespace_key(namespace, key, label)
                .await?,
        ))
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
        policy::namespaces::use_keys(row.as_ref().map(NamespaceClaim::holding), tenant).map_err(
            |refused| match refused {
                KeysRefused::NotYours => KeyError::NotYours(namespace.clone()),
                KeysRefused::Pending => KeyError::Pending(namespace.clone()),
            },
        )
    }
}
