//! Authority namespaces and their Ed25519 signing keys: rows and
//! transactions. Who may claim a namespace or register under it is
//! `policy::namespaces`; a write that depends on it locks the namespace's
//! row, asks the caller's rule and writes what it answers, in one
//! transaction ([`TenantStore::claim_namespace`],
//! [`TenantStore::register_worker`](crate::TenantStore::register_worker)).

use attestation::NamespacePublicKey;
use chrono::{DateTime, Utc};
use policy::namespaces::{ClaimStatus, Holding, Step, Usage};
use sqlx::{Postgres, Row, Transaction};
use wcp::{Namespace, TenantId};

use crate::{is_unique_violation, Conflict, Entity, Store, StoreError, TenantStore};

fn status_from_db(s: &str) -> Result<ClaimStatus, StoreError> {
    ClaimStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("namespace status {s:?}")))
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

impl NamespaceClaim {
    /// The row as the claiming rule reads it.
    pub fn holding(&self) -> Holding<'_> {
        Holding {
            tenant: self.tenant_id.as_ref(),
            status: self.status,
            reason: self.reason.as_deref(),
        }
    }
}

/// A namespace's row after a write the claiming rule allowed.
#[derive(Debug, Clone)]
pub struct Settled {
    pub claim: NamespaceClaim,
    /// Whether this transaction wrote the claim (false: it was held already).
    pub claimed_now: bool,
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
        status: status_from_db(row.try_get::<&str, _>("status")?)?,
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

/// Locks the namespace row (if any) for the rest of the transaction.
async fn lock_claim(
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

/// Claims `ns` for `tenant` inside a transaction; `None` if a row appeared
/// since it was locked (a concurrent claim, committed by now).
async fn insert_claim(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    tenant: &TenantId,
    status: ClaimStatus,
) -> Result<Option<NamespaceClaim>, StoreError> {
    let row = sqlx::query(&format!(
        "INSERT INTO namespaces (namespace, tenant_id, status) VALUES ($1, $2, $3)
         ON CONFLICT (namespace) DO NOTHING RETURNING {CLAIM_COLUMNS}"
    ))
    .bind(ns.as_str())
    .bind(tenant.as_str())
    .bind(status.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(claim_from_row).transpose()
}

/// Locks `ns`'s row in `tx`, asks `rule` about it and writes the claim it
/// asks for. A claim that races another (both saw no row) is judged again
/// on the row the other committed, so the rule sees every winner.
pub(crate) async fn settle_claim<E>(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    tenant: &TenantId,
    rule: impl Fn(Option<Holding<'_>>) -> Result<Step, E>,
) -> Result<Result<Settled, E>, StoreError> {
    for _ in 0..2 {
        let existing = lock_claim(tx, ns).await?;
        match (
            rule(existing.as_ref().map(NamespaceClaim::holding)),
            existing,
        ) {
            (Err(refused), _) => return Ok(Err(refused)),
            (Ok(Step::Held), Some(claim)) => {
                return Ok(Ok(Settled {
                    claim,
                    claimed_now: false,
                }))
            }
            (Ok(Step::Held), None) => break,
            (Ok(Step::Claim(status)), _) => {
                if let Some(claim) = insert_claim(tx, ns, tenant, status).await? {
                    return Ok(Ok(Settled {
                        claim,
                        claimed_now: true,
                    }));
                }
            }
        }
    }
    // The rule called a missing row held, or a row vanished between two
    // statements of one transaction: nothing was written.
    Err(StoreError::Conflict(
        Entity::Namespace(ns.clone()),
        Conflict::Exists,
    ))
}

impl Store {
    /// The namespace's row, if any (built-in reservations have none:
    /// `policy::namespaces` knows them).
    pub async fn namespace_claim(
        &self,
        ns: &Namespace,
    ) -> Result<Option<NamespaceClaim>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM namespaces WHERE namespace = $1"
        ))
        .bind(ns.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(claim_from_row).transpose()
    }

    /// Operator: reserves `ns` (or changes a reservation's reason) if
    /// `rule` allows it, judging the namespace's row under lock. A claim
    /// that appears meanwhile is judged too: the write never replaces one.
    pub async fn reserve_namespace<E>(
        &self,
        ns: &Namespace,
        reason: &str,
        rule: impl Fn(Option<Holding<'_>>) -> Result<(), E>,
    ) -> Result<Result<NamespaceClaim, E>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for _ in 0..2 {
            let existing = lock_claim(&mut tx, ns).await?;
            if let Err(refused) = rule(existing.as_ref().map(NamespaceClaim::holding)) {
                return Ok(Err(refused));
            }
            let row = sqlx::query(&format!(
                "INSERT INTO namespaces (namespace, tenant_id, status, reason) VALUES ($1, NULL, 'reserved', $2)
                 ON CONFLICT (namespace) DO UPDATE SET reason = EXCLUDED.reason, updated_at = now()
                   WHERE namespaces.status = 'reserved'
                 RETURNING {CLAIM_COLUMNS}"
            ))
            .bind(ns.as_str())
            .bind(reason)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                let claim = claim_from_row(&row)?;
                tx.commit().await?;
                return Ok(Ok(claim));
            }
        }
        // Claimed and released again between two statements: nothing was written.
        Err(StoreError::Conflict(
            Entity::Namespace(ns.clone()),
            Conflict::Exists,
        ))
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

    /// Operator: releases a claim, a pending claim or a reservation if
    /// `rule` allows it, judging the row and what lives under the namespace
    /// under lock.
    pub async fn release_namespace<E>(
        &self,
        ns: &Namespace,
        rule: impl Fn(Holding<'_>, Usage) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Err(refused) = judge_locked(&mut tx, ns, rule).await? {
            return Ok(Err(refused));
        }
        sqlx::query("DELETE FROM namespaces WHERE namespace = $1")
            .bind(ns.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Operator: moves a claim to another tenant if `rule` allows it,
    /// judging the row and what lives under the namespace under lock.
    pub async fn transfer_namespace<E>(
        &self,
        ns: &Namespace,
        to: &TenantId,
        rule: impl Fn(Holding<'_>, Usage) -> Result<(), E>,
    ) -> Result<Result<NamespaceClaim, E>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Err(refused) = judge_locked(&mut tx, ns, rule).await? {
            return Ok(Err(refused));
        }
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
        Ok(Ok(claim))
    }
}

/// Locks `ns`'s row (not found without one), counts what lives under the
/// namespace and asks `rule` about both.
async fn judge_locked<E>(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    rule: impl Fn(Holding<'_>, Usage) -> Result<(), E>,
) -> Result<Result<(), E>, StoreError> {
    let claim = lock_claim(tx, ns)
        .await?
        .ok_or_else(|| StoreError::NotFound(Entity::Namespace(ns.clone())))?;
    let (workers, keys): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM workers WHERE namespace = $1),
                (SELECT count(*) FROM namespace_keys WHERE namespace = $1)",
    )
    .bind(ns.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(rule(claim.holding(), Usage { workers, keys }))
}

impl TenantStore<'_> {
    /// Claims a namespace for this tenant as `rule` allows, judging the
    /// namespace's row under lock. Claiming one's own namespace again writes
    /// nothing.
    pub async fn claim_namespace<E>(
        &self,
        ns: &Namespace,
        rule: impl Fn(Option<Holding<'_>>) -> Result<Step, E>,
    ) -> Result<Result<Settled, E>, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let settled = settle_claim(&mut tx, ns, self.tenant, rule).await?;
        if settled.is_ok() {
            tx.commit().await?;
        }
        Ok(settled)
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

    /// Registers a signing key on `ns` (the caller has checked that this
    /// tenant may: `policy::namespaces::use_keys`).
    pub async fn add_namespace_key(
        &self,
        ns: &Namespace,
        key: &NamespacePublicKey,
        label: &str,
    ) -> Result<NamespaceKey, StoreError> {
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

    /// This tenant's keys on `ns`, revoked ones included.
    pub async fn list_namespace_keys(
        &self,
        ns: &Namespace,
    ) -> Result<Vec<NamespaceKey>, StoreError> {
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
