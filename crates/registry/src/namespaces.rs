//! Authority namespaces and their Ed25519 signing keys: rows and
//! transactions. Who may claim a namespace or register under it is
//! `policy::namespaces`; a write that depends on it locks the namespace's
//! row, asks the caller's rule and writes what it answers, in one
//! transaction ([`TenantStore::claim_namespace`],
//! [`TenantStore::register_worker`](crate::TenantStore::register_worker)).

use attestation::NamespacePublicKey;
use chrono::{DateTime, Utc};
use policy::namespaces::{ClaimStatus, Holding, NamespaceChange, Step, Sweep, Usage};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;
use wcp::{Namespace, TenantId};

use crate::webhooks::Audience;
use crate::{is_unique_violation, Conflict, Entity, Store, StoreError, TenantStore};
use ::webhooks::EventType;

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
                    // A claim waiting for the operator is the operator's news too.
                    let audience = if claim.status == ClaimStatus::Pending {
                        Audience::Operator { and: Some(tenant) }
                    } else {
                        Audience::Tenant(tenant)
                    };
                    let data = ::webhooks::payloads::NamespaceEvent {
                        tenant_id: tenant.to_string(),
                        namespace: claim.namespace.to_string(),
                        status: claim.status.as_str().to_string(),
                        created_at: claim.created_at,
                    };
                    crate::webhooks::emit(tx, audience, EventType::NamespaceClaimed, &data).await?;
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
    /// under lock; revokes what the rule says must go first and records the
    /// change (who, why, what was revoked) in the same transaction.
    pub async fn release_namespace<E>(
        &self,
        ns: &Namespace,
        by: &ChangeBy<'_>,
        rule: impl Fn(Holding<'_>, Usage) -> Result<Sweep, E>,
    ) -> Result<Result<NamespaceChangeRecord, E>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (claim, sweep) = match judge_locked(&mut tx, ns, rule).await? {
            Ok(judged) => judged,
            Err(refused) => return Ok(Err(refused)),
        };
        let revoked = sweep_under(&mut tx, ns, sweep).await?;
        sqlx::query("DELETE FROM namespaces WHERE namespace = $1")
            .bind(ns.as_str())
            .execute(&mut *tx)
            .await?;
        let record = record_change(
            &mut tx,
            ns,
            NamespaceChange::Release,
            claim.tenant_id.as_ref(),
            None,
            by,
            revoked,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(record))
    }

    /// Operator: moves a claim to another tenant if `rule` allows it,
    /// judging the row and what lives under the namespace under lock;
    /// revokes what the rule says must go first and records the change in
    /// the same transaction.
    pub async fn transfer_namespace<E>(
        &self,
        ns: &Namespace,
        to: &TenantId,
        by: &ChangeBy<'_>,
        rule: impl Fn(Holding<'_>, Usage) -> Result<Sweep, E>,
    ) -> Result<Result<(NamespaceClaim, NamespaceChangeRecord), E>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (before, sweep) = match judge_locked(&mut tx, ns, rule).await? {
            Ok(judged) => judged,
            Err(refused) => return Ok(Err(refused)),
        };
        let revoked = sweep_under(&mut tx, ns, sweep).await?;
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
        let record = record_change(
            &mut tx,
            ns,
            NamespaceChange::Transfer,
            before.tenant_id.as_ref(),
            Some(to),
            by,
            revoked,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok((claim, record)))
    }

    /// Operator: the releases and transfers of `ns`, oldest first.
    pub async fn namespace_changes(
        &self,
        ns: &Namespace,
    ) -> Result<Vec<NamespaceChangeRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANGE_COLUMNS} FROM namespace_changes WHERE namespace = $1 ORDER BY id"
        ))
        .bind(ns.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change_from_row).collect()
    }
}

/// Who changes a namespace, and why (a forced change always says why).
#[derive(Debug, Clone)]
pub struct ChangeBy<'a> {
    /// The operator credential's tenant and API key id.
    pub tenant: &'a TenantId,
    pub key_id: Uuid,
    /// Forced (active workers and keys are revoked first) or not.
    pub forced: bool,
    pub reason: Option<&'a str>,
}

/// A release or transfer as recorded.
#[derive(Debug, Clone)]
pub struct NamespaceChangeRecord {
    pub id: i64,
    pub namespace: Namespace,
    pub change: NamespaceChange,
    pub forced: bool,
    /// The holder before (none for a reservation).
    pub from_tenant: Option<TenantId>,
    /// The new holder of a transfer.
    pub to_tenant: Option<TenantId>,
    pub reason: Option<String>,
    pub actor_tenant: TenantId,
    pub actor_key_id: Uuid,
    pub revoked_workers: i64,
    pub revoked_keys: i64,
    pub created_at: DateTime<Utc>,
}

const CHANGE_COLUMNS: &str = "id, namespace, action, forced, from_tenant, to_tenant, reason, \
     actor_tenant, actor_key_id, revoked_workers, revoked_keys, created_at";

fn tenant_column(
    row: &sqlx::postgres::PgRow,
    column: &str,
) -> Result<Option<TenantId>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| TenantId::parse(&t))
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn change_from_row(row: &sqlx::postgres::PgRow) -> Result<NamespaceChangeRecord, StoreError> {
    let ns: String = row.try_get("namespace")?;
    let action: String = row.try_get("action")?;
    Ok(NamespaceChangeRecord {
        id: row.try_get("id")?,
        namespace: Namespace::parse(&ns).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        change: match action.as_str() {
            "release" => NamespaceChange::Release,
            "transfer" => NamespaceChange::Transfer,
            other => return Err(StoreError::Corrupt(format!("namespace change {other:?}"))),
        },
        forced: row.try_get("forced")?,
        from_tenant: tenant_column(row, "from_tenant")?,
        to_tenant: tenant_column(row, "to_tenant")?,
        reason: row.try_get("reason")?,
        actor_tenant: tenant_column(row, "actor_tenant")?
            .ok_or_else(|| StoreError::Corrupt("namespace change without actor".into()))?,
        actor_key_id: row.try_get("actor_key_id")?,
        revoked_workers: row.try_get("revoked_workers")?,
        revoked_keys: row.try_get("revoked_keys")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Revokes the active workers and keys under `ns` when `sweep` says so;
/// how many of each.
async fn sweep_under(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    sweep: Sweep,
) -> Result<(i64, i64), StoreError> {
    if sweep == Sweep::Nothing {
        return Ok((0, 0));
    }
    let workers = sqlx::query(
        "UPDATE workers SET status = 'revoked', revoked_at = COALESCE(revoked_at, now()),
            updated_at = now()
         WHERE namespace = $1 AND status = 'active'",
    )
    .bind(ns.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let keys = sqlx::query(
        "UPDATE namespace_keys SET revoked_at = now() WHERE namespace = $1 AND revoked_at IS NULL",
    )
    .bind(ns.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok((
        i64::try_from(workers).unwrap_or(i64::MAX),
        i64::try_from(keys).unwrap_or(i64::MAX),
    ))
}

/// Records a release or transfer in `tx`.
async fn record_change(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    change: NamespaceChange,
    from: Option<&TenantId>,
    to: Option<&TenantId>,
    by: &ChangeBy<'_>,
    (revoked_workers, revoked_keys): (i64, i64),
) -> Result<NamespaceChangeRecord, StoreError> {
    let row = sqlx::query(&format!(
        "INSERT INTO namespace_changes (namespace, action, forced, from_tenant, to_tenant, reason,
            actor_tenant, actor_key_id, revoked_workers, revoked_keys)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {CHANGE_COLUMNS}"
    ))
    .bind(ns.as_str())
    .bind(match change {
        NamespaceChange::Release => "release",
        NamespaceChange::Transfer => "transfer",
    })
    .bind(by.forced)
    .bind(from.map(TenantId::as_str))
    .bind(to.map(TenantId::as_str))
    .bind(by.reason)
    .bind(by.tenant.as_str())
    .bind(by.key_id)
    .bind(revoked_workers)
    .bind(revoked_keys)
    .fetch_one(&mut **tx)
    .await?;
    change_from_row(&row)
}

/// Locks `ns`'s row (not found without one), counts what lives under the
/// namespace and asks `rule` about both.
async fn judge_locked<T, E>(
    tx: &mut Transaction<'_, Postgres>,
    ns: &Namespace,
    rule: impl Fn(Holding<'_>, Usage) -> Result<T, E>,
) -> Result<Result<(NamespaceClaim, T), E>, StoreError> {
    let claim = lock_claim(tx, ns)
        .await?
        .ok_or_else(|| StoreError::NotFound(Entity::Namespace(ns.clone())))?;
    let (workers, revoked_workers, keys, revoked_keys): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM workers WHERE namespace = $1 AND status = 'active'),
                (SELECT count(*) FROM workers WHERE namespace = $1 AND status <> 'active'),
                (SELECT count(*) FROM namespace_keys WHERE namespace = $1 AND revoked_at IS NULL),
                (SELECT count(*) FROM namespace_keys WHERE namespace = $1 AND revoked_at IS NOT NULL)",
    )
    .bind(ns.as_str())
    .fetch_one(&mut **tx)
    .await?;
    let usage = Usage {
        workers,
        keys,
        revoked_workers,
        revoked_keys,
    };
    Ok(rule(claim.holding(), usage).map(|step| (claim, step)))
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

    /// Registers a signing key on `ns` if `rule` allows this tenant to,
    /// judging the namespace's row under a share lock: a release or transfer
    /// (which locks the row to change it) either happens before, and the
    /// rule sees the new holder, or waits for this key and counts it.
    pub async fn add_namespace_key<E>(
        &self,
        ns: &Namespace,
        key: &NamespacePublicKey,
        label: &str,
        rule: impl FnOnce(Option<Holding<'_>>) -> Result<(), E>,
    ) -> Result<Result<NamespaceKey, E>, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM namespaces WHERE namespace = $1 FOR SHARE"
        ))
        .bind(ns.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let claim = row.as_ref().map(claim_from_row).transpose()?;
        if let Err(refused) = rule(claim.as_ref().map(NamespaceClaim::holding)) {
            return Ok(Err(refused));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO namespace_keys (tenant_id, kid, namespace, public_key, label)
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(key.kid())
        .bind(ns.as_str())
        .bind(&key.as_bytes()[..])
        .bind(label)
        .fetch_one(&mut *tx)
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
        let key = key_from_row(&row)?;
        tx.commit().await?;
        Ok(Ok(key))
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
