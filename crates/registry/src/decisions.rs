//! What a decision reads (the worker, its owner's policy, its attestation)
//! and the decision log, which is the receipt table.

use std::collections::BTreeMap;

use audit::Receipt;
use chrono::{DateTime, Utc};
use policy::TenantPolicy;
use sqlx::Row;
use uuid::Uuid;
use wcp::{Env, TenantId};

use crate::workers::{Worker, WorkerRef};
use crate::{Store, StoreError, TenantStore};

/// A receipt signing key as published.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// A logged decision: its receipt and the human reason of a deny.
#[derive(Debug, Clone)]
pub struct LoggedDecision {
    pub receipt: Receipt,
    pub deny_reason: Option<String>,
}

/// Filters of the decision log; newest first, `before` is the previous page's last id.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub worker_id: Option<String>,
    pub capability_id: Option<String>,
    pub denied: Option<bool>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

fn floors_from_json(v: serde_json::Value) -> Result<BTreeMap<Env, u8>, StoreError> {
    let map: BTreeMap<String, u8> =
        serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    map.into_iter()
        .map(|(k, t)| {
            Env::parse(&k)
                .map(|e| (e, t))
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

impl Store {
    /// Publishes this process's receipt key (once per kid) and marks every
    /// other key retired. Retired keys stay published: old receipts verify.
    pub async fn publish_receipt_key(
        &self,
        kid: &str,
        public_key: &[u8; 32],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO receipt_signing_keys (kid, public_key) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING")
            .bind(kid)
            .bind(&public_key[..])
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE receipt_signing_keys SET retired_at = now() WHERE kid <> $1 AND retired_at IS NULL")
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE receipt_signing_keys SET retired_at = NULL WHERE kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A connection listening on `channel` (for announcements between replicas).
    pub async fn listen(&self, channel: &str) -> Result<sqlx::postgres::PgListener, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(channel).await?;
        Ok(listener)
    }

    /// Announces `payload` on `channel` to every listening replica.
    pub async fn announce(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every key receipts were ever signed with.
    pub async fn receipt_keys(&self) -> Result<Vec<PublishedKey>, StoreError> {
        let rows = sqlx::query("SELECT kid, public_key, created_at, retired_at FROM receipt_signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PublishedKey {
                    kid: r.try_get("kid")?,
                    public_key: r.try_get("public_key")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                })
            })
            .collect()
    }

    /// The worker a decision names, whoever owns it: the requesting tenant
    /// may be a signatory of the owner (WCP §5.9). Visibility is the
    /// caller's to apply.
    pub async fn worker_for_decision(
        &self,
        worker: &WorkerRef,
    ) -> Result<Option<Worker>, StoreError> {
        self.worker_in_any_tenant(worker).await
    }

    /// A tenant's decision policy (floors, signatories, attestation age).
    pub async fn decision_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        let row = sqlx::query(
            "SELECT tier_floors, signatories, attestation_max_age_days, l7_supervisor_level
             FROM tenants WHERE id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {tenant}")))?;
        let signatories: Vec<String> = row.try_get("signatories")?;
        let max_age: Option<i32> = row.try_get("attestation_max_age_days")?;
        let l7: String = row.try_get("l7_supervisor_level")?;
        Ok(TenantPolicy {
            floors: floors_from_json(row.try_get("tier_floors")?)?,
            signatories: signatories
                .iter()
                .map(|s| TenantId::parse(s))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            attestation_max_age_days: max_age.map(|d| d as u32),
            l7_advisory: l7 == "advisory",
        })
    }
}

impl TenantStore<'_> {
    pub async fn set_decision_policy(&self, policy: &TenantPolicy) -> Result<(), StoreError> {
        let floors: BTreeMap<&str, u8> = policy
            .floors
            .iter()
            .map(|(e, t)| (e.as_str(), *t))
            .collect();
        sqlx::query(
            "UPDATE tenants SET tier_floors = $2, signatories = $3, attestation_max_age_days = $4,
                l7_supervisor_level = $5, updated_at = now() WHERE id = $1",
        )
        .bind(self.tenant.as_str())
        .bind(serde_json::to_value(floors).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(
            policy
                .signatories
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(policy.attestation_max_age_days.map(|d| d as i32))
        .bind(if policy.l7_advisory {
            "advisory"
        } else {
            "gatekeeper"
        })
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }

    /// A page of the tenant's decisions, newest first, and whether more follow.
    pub async fn decisions(
        &self,
        f: &DecisionFilter,
    ) -> Result<(Vec<LoggedDecision>, bool), StoreError> {
        let limit = f.limit.clamp(1, 500);
        // Only the filters given become SQL: one statement per combination,
        // so each gets the plan of its own index (a single statement with
        // `$n IS NULL OR …` gets a generic plan that reads the whole history).
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "SELECT body, deny_reason FROM receipts r WHERE r.tenant_id = ",
        );
        q.push_bind(self.tenant.as_str());
        if let Some(w) = &f.worker_id {
            q.push(" AND r.worker_id = ").push_bind(w);
        }
        if let Some(c) = &f.capability_id {
            q.push(" AND r.capability_id = ").push_bind(c);
        }
        match f.denied {
            Some(true) => {
                q.push(" AND r.denied");
            }
            Some(false) => {
                q.push(" AND NOT r.denied");
            }
            None => {}
        }
        if let Some(since) = f.since {
            q.push(" AND r.decided_at >= ").push_bind(since);
        }
        if let Some(until) = f.until {
            q.push(" AND r.decided_at < ").push_bind(until);
        }
        if let Some(before) = f.before {
            q.push(
                " AND (r.decided_at, r.receipt_id) < (SELECT c.decided_at, c.receipt_id \
                 FROM receipts c WHERE c.tenant_id = ",
            )
            .push_bind(self.tenant.as_str())
            .push(" AND c.receipt_id = ")
            .push_bind(before)
            .push(")");
        }
        q.push(" ORDER BY r.decided_at DESC, r.receipt_id DESC LIMIT ")
            .push_bind(limit + 1);
        let rows = q.build().fetch_all(&self.store.pool).await?;
        let more = rows.len() as i64 > limit;
        let decisions = rows
            .iter()
            .take(limit as usize)
            .map(logged_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((decisions, more))
    }

    pub async fn decision(&self, id: Uuid) -> Result<Option<LoggedDecision>, StoreError> {
        let row = sqlx::query(
            "SELECT body, deny_reason FROM receipts WHERE tenant_id = $1 AND receipt_id = $2",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(logged_from_row).transpose()
    }
}

fn logged_from_row(row: &sqlx::postgres::PgRow) -> Result<LoggedDecision, StoreError> {
    let body: serde_json::Value = row.try_get("body")?;
    Ok(LoggedDecision {
        receipt: serde_json::from_value(body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        deny_reason: row.try_get("deny_reason")?,
    })
}
