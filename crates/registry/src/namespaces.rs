//! Authority namespaces and their Ed25519 signing keys.

use attestation::NamespacePublicKey;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};
use wcp::{Namespace, TenantId};

use crate::{
    is_unique_violation, Conflict, Entity, NamespaceChange, NamespaceHeld, Refusal, Store,
    StoreError, TenantStore,
};

/// Names reserved by the registry itself, before any operator reservation.
pub const BUILTIN_RESERVED: [&str; 6] = [
    "org.wcp",
    "org.workerclassprotocol",
    "org.pyhall",
    "org.hall",
    "x.hall",
    "x.wcp",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStatus {
    Claimed,
    Pending,
    Reserved,
}

impl ClaimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Claimed => "claimed",
            ClaimStatus::Pending => "pending",
            ClaimStatus::Reserved => "reserved",
        }
    }

    fn from_db(s: &str) -> Result<Self, StoreError> {
        match s {
            "claimed" => Ok(ClaimStatus::Claimed),
            "pending" => Ok(ClaimStatus::Pending),
            "reserved" => Ok(ClaimStatus::Reserved),
            other => Err(StoreError::Corrupt(format!("namespace status {other:?}"))),
        }
    }
}

/// A namespace row: who holds it and how.
#[derive(Debug, Clone)]
pub struct NamespaceClaim {
    pub namespace: Namespace,
    pub tenant_id: Option<TenantId>,
    pub status: ClaimStatus,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CLAIM_COLUMNS: &str = "namespace, tenant_id, status, reason, created_at, updated_at";

fn claim_from_row(row: &sqlx::postgres::PgRow) -> Result<NamespaceClaim, StoreError> {
    let ns: String = row.try_get("namespace")?;
    let tenant: Option<String> = row.try_get("tenant_id")?;
    Ok(NamespaceClaim {
        namespace: Namespace::parse(&ns).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        tenant_id: tenant
            .map(|t| TenantId::parse(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: ClaimStatus::from_db(row.try_get::<&str, _>("status")?)?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A namespace signing key as listed.
#[derive(Debug, Clone)]
pub struct NamespaceKey {
    pub kid: String,
    pub namespace: Namespace,
    pub tenant_id: TenantId,
    pub public_key: NamespacePublicKey,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const KEY_COLUMNS: &str = "tenant_id, kid, namespace, public_key, label, created_at, revoked_at";

fn key_from_row(row: &sqlx::postgres::PgRow) -> Result<NamespaceKey, StoreError> {
    let ns: String = row.try_get("namespace")?;
    let tenant: String = row.try_get("tenant_id")?;
    let pk: Vec<u8> = row.try_get("public_key")?;
    Ok(NamespaceKey {
        kid: row.try_get("kid")?,
        namespace: Namespace::parse(&ns).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        tenant_id: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        public_key: NamespacePublicKey::from_bytes(&pk)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn builtin_reservation(ns: &Namespace) -> Option<&'static str> {
    BUILTIN_RESERVED
        .contains(&ns.as_str())
        .then_some("reserved by the registry for the WCP project")
}

/// Locks the namespace row (if any) for the rest of the transaction.
pub(crate) async fn lock_claim(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
) -> Result<Option<NamespaceClaim>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CLAIM_COLUMNS} FROM namespaces WHERE namespace = $1 FOR UPDATE"
    ))
    .bind(ns.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(claim_from_row).transpose()
}

/// Claims `ns` for `tenant` inside a transaction; fails if anyone holds it.
pub(crate) async fn insert_claim(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    tenant: &TenantId,
    status: ClaimStatus,
) -> Result<NamespaceClaim, StoreError> {
    if builtin_reservation(ns).is_some() {
        return Err(StoreError::Refused(Refusal::Claim(
            ns.clone(),
            NamespaceHeld::Builtin,
        )));
    }
    let row = sqlx::query(&format!(
        "INSERT INTO namespaces (namespace, tenant_id, status) VALUES ($1, $2, $3)
         ON CONFLICT (namespace) DO NOTHING RETURNING {CLAIM_COLUMNS}"
    ))
    .bind(ns.as_str())
    .bind(tenant.as_str())
    .bind(status.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => claim_from_row(&row),
        None => Err(StoreError::Refused(Refusal::Claim(
            ns.clone(),
            NamespaceHeld::OtherTenant,
        ))),
    }
}

impl Store {
    /// The namespace's row, with built-in reservations shown as reserved.
    pub async fn namespace_claim(
        &self,
        ns: &Namespace,
    ) -> Result<Option<NamespaceClaim>, StoreError> {
        if let Some(reason) = builtin_reservation(ns) {
            let now = Utc::now();
            return Ok(Some(NamespaceClaim {
                namespace: ns.clone(),
                tenant_id: None,
                status: ClaimStatus::Reserved,
                reason: Some(reason.to_string()),
                created_at: now,
                updated_at: now,
            }));
        }
        let row = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM namespaces WHERE namespace = $1"
        ))
        .bind(ns.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(claim_from_row).transpose()
    }

    /// Operator: reserves an unclaimed namespace so nobody can claim it.
    pub async fn reserve_namespace(
        &self,
        ns: &Namespace,
        reason: &str,
    ) -> Result<NamespaceClaim, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO namespaces (namespace, tenant_id, status, reason) VALUES ($1, NULL, 'reserved', $2)
             ON CONFLICT (namespace) DO UPDATE SET reason = EXCLUDED.reason, updated_at = now()
               WHERE namespaces.status = 'reserved'
             RETURNING {CLAIM_COLUMNS}"
        ))
        .bind(ns.as_str())
        .bind(reason)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => claim_from_row(&row),
            None => Err(StoreError::Refused(Refusal::ReserveHeld(ns.clone()))),
        }
    }

    /// Operator: approves a pending claim.
    pub async fn approve_namespace(&self, ns: &Namespace) -> Result<NamespaceClaim, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE namespaces SET status = 'claimed', updated_at = now()
             WHERE namespace = $1 AND status = 'pending' RETURNING {CLAIM_COLUMNS}"
        ))
        .bind(ns.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => claim_from_row(&row),
            None => Err(StoreError::NotFound(Entity::PendingClaim(ns.clone()))),
        }
    }

    /// Operator: releases a claim, a pending claim or a reservation. A
    /// namespace that still has workers (even revoked ones, which keep their
    /// history) or signing keys cannot be released.
    pub async fn release_namespace(&self, ns: &Namespace) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if lock_claim(&mut tx, ns).await?.is_none() {
            return Err(StoreError::NotFound(Entity::Namespace(ns.clone())));
        }
        ensure_unused(&mut tx, ns, NamespaceChange::Release).await?;
        sqlx::query("DELETE FROM namespaces WHERE namespace = $1")
            .bind(ns.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Operator: moves a claim to another tenant. Refused while the namespace
    /// has workers or keys, which belong to the current holder.
    pub async fn transfer_namespace(
        &self,
        ns: &Namespace,
        to: &TenantId,
    ) -> Result<NamespaceClaim, StoreError> {
        let mut tx = self.pool.begin().await?;
        let claim = lock_claim(&mut tx, ns)
            .await?
            .ok_or_else(|| StoreError::NotFound(Entity::Namespace(ns.clone())))?;
        if claim.status == ClaimStatus::Reserved {
            return Err(StoreError::Refused(Refusal::TransferReserved(ns.clone())));
        }
        ensure_unused(&mut tx, ns, NamespaceChange::Transfer).await?;
        let row = sqlx::query(&format!(
            "UPDATE namespaces SET tenant_id = $2, status = 'claimed', updated_at = now()
             WHERE namespace = $1 RETURNING {CLAIM_COLUMNS}"
        ))
        .bind(ns.as_str())
        .bind(to.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
                StoreError::NotFound(Entity::Tenant(to.clone()))
            }
            _ => e.into(),
        })?;
        let claim = claim_from_row(&row)?;
        tx.commit().await?;
        Ok(claim)
    }
}

async fn ensure_unused(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    change: NamespaceChange,
) -> Result<(), StoreError> {
    let (workers, keys): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM workers WHERE namespace = $1),
                (SELECT count(*) FROM namespace_keys WHERE namespace = $1)",
    )
    .bind(ns.as_str())
    .fetch_one(&mut **tx)
    .await?;
    if workers > 0 || keys > 0 {
        return Err(StoreError::Refused(Refusal::InUse {
            namespace: ns.clone(),
            change,
            workers,
            keys,
        }));
    }
    Ok(())
}

impl TenantStore<'_> {
    /// Claims a namespace for this tenant: `pending` when it needs the
    /// operator's approval. Claiming one's own namespace again is a no-op.
    pub async fn claim_namespace(
        &self,
        ns: &Namespace,
        needs_approval: bool,
    ) -> Result<NamespaceClaim, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        if let Some(existing) = lock_claim(&mut tx, ns).await? {
            if existing.tenant_id.as_ref() == Some(self.tenant) {
                tx.commit().await?;
                return Ok(existing);
            }
            let held = match existing.status {
                ClaimStatus::Reserved => NamespaceHeld::Reserved(existing.reason),
                _ => NamespaceHeld::OtherTenant,
            };
            return Err(StoreError::Refused(Refusal::Claim(ns.clone(), held)));
        }
        let status = if needs_approval {
            ClaimStatus::Pending
        } else {
            ClaimStatus::Claimed
        };
        let claim = insert_claim(&mut tx, ns, self.tenant, status).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// This tenant's namespaces (claimed and pending).
    pub async fn list_namespaces(&self) -> Result<Vec<NamespaceClaim>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM namespaces WHERE tenant_id = $1 ORDER BY namespace"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(claim_from_row).collect()
    }

    /// Not found unless this tenant holds `ns`; refused while its claim is pending.
    async fn owned_claim(&self, ns: &Namespace) -> Result<(), StoreError> {
        let row: Option<String> = sqlx::query_scalar(
            "SELECT status FROM namespaces WHERE namespace = $1 AND tenant_id = $2",
        )
        .bind(ns.as_str())
        .bind(self.tenant.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        match row.as_deref() {
            Some("claimed") => Ok(()),
            Some("pending") => Err(StoreError::Refused(Refusal::ClaimPending(ns.clone()))),
            _ => Err(StoreError::NotFound(Entity::Namespace(ns.clone()))),
        }
    }

    /// Registers a signing key on one of this tenant's namespaces.
    pub async fn add_namespace_key(
        &self,
        ns: &Namespace,
        key: &NamespacePublicKey,
        label: &str,
    ) -> Result<NamespaceKey, StoreError> {
        self.owned_claim(ns).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO namespace_keys (tenant_id, kid, namespace, public_key, label)
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(key.kid())
        .bind(ns.as_str())
        .bind(&key.as_bytes()[..])
        .bind(label)
        .fetch_one(&self.store.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(
                    Entity::NamespaceKey {
                        namespace: ns.clone(),
                        kid: key.kid(),
                    },
                    Conflict::Exists,
                )
            } else {
                e.into()
            }
        })?;
        key_from_row(&row)
    }

    pub async fn list_namespace_keys(
        &self,
        ns: &Namespace,
    ) -> Result<Vec<NamespaceKey>, StoreError> {
        self.owned_claim(ns).await?;
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM namespace_keys WHERE tenant_id = $1 AND namespace = $2
             ORDER BY created_at, kid"
        ))
        .bind(self.tenant.as_str())
        .bind(ns.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key (idempotent); it is kept with its revocation time.
    pub async fn revoke_namespace_key(
        &self,
        ns: &Namespace,
        kid: &str,
    ) -> Result<NamespaceKey, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE namespace_keys SET revoked_at = COALESCE(revoked_at, now())
             WHERE tenant_id = $1 AND namespace = $2 AND kid = $3 RETURNING {KEY_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(ns.as_str())
        .bind(kid)
        .fetch_optional(&self.store.pool)
        .await?;
        match row {
            Some(row) => key_from_row(&row),
            None => Err(StoreError::NotFound(Entity::NamespaceKey {
                namespace: ns.clone(),
                kid: kid.to_string(),
            })),
        }
    }
}
