//! The background chain verifier's bookkeeping
//! (`migrations/…30_receipt_chain_checks.sql`): how far each tenant's
//! receipt chain has been verified, leases so that replicas share the work,
//! and the first break found — recorded with its `chain.integrity_failure`
//! event in one transaction, once. What a break is, is `audit`'s
//! ([`audit::ChainCursor`]); when to check, `service::chain_check`.

use std::time::Duration;

use audit::{ChainHead, Receipt};
use serde_json::Value;
use sqlx::Row;
use wcp::TenantId;

use crate::webhooks::Audience;
use crate::{Store, StoreError};

/// A chain leased for checking: how far it was verified, and its head as
/// recorded when leased (the receipt writer's `receipt_chains` row).
#[derive(Debug, Clone)]
pub struct ChainToCheck {
    pub tenant: TenantId,
    pub verified: ChainHead,
    pub recorded: ChainHead,
}

/// A receipt as stored at its chain position: parsed, or why its body is
/// not a receipt.
#[derive(Debug)]
pub struct StoredReceipt {
    pub seq: u64,
    pub receipt: Result<Receipt, String>,
}

/// Every chain's verification at a glance (all tenants, as stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainCheckSummary {
    /// Tenants with at least one receipt.
    pub chains: u64,
    /// Receipts in all chains.
    pub receipts: u64,
    /// Receipts verified (a broken chain counts up to its break).
    pub verified: u64,
    /// Chains with a recorded break.
    pub broken: u64,
}

fn length(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

fn seq(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("chain position {v}")))
}

fn lease_secs(lease: Duration) -> f64 {
    lease.as_secs_f64().max(1.0)
}

impl Store {
    /// Leases, for `lease`, up to `limit` chains with receipts not verified
    /// yet and no break recorded, that no other verifier holds: the ones
    /// furthest behind first. Another verifier skips them until the lease
    /// runs out.
    pub async fn lease_chains_to_check(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ChainToCheck>, StoreError> {
        // Two verifiers leasing at once: the second's upsert waits for the
        // first's row and then finds it leased, so each chain goes to one.
        let rows = sqlx::query(
            "WITH due AS (
                 SELECT c.tenant_id FROM receipt_chains c
                 LEFT JOIN receipt_chain_checks k ON k.tenant_id = c.tenant_id
                 WHERE (c.length <> coalesce(k.verified_seq, 0)
                        OR c.head_hash IS DISTINCT FROM k.verified_hash)
                   AND k.broken_seq IS NULL
                   AND (k.leased_until IS NULL OR k.leased_until < now())
                 ORDER BY abs(c.length - coalesce(k.verified_seq, 0)) DESC, c.tenant_id
                 LIMIT $1),
             leased AS (
                 INSERT INTO receipt_chain_checks (tenant_id, leased_until)
                 SELECT tenant_id, now() + make_interval(secs => $2) FROM due
                 ON CONFLICT (tenant_id) DO UPDATE SET leased_until = excluded.leased_until
                 WHERE receipt_chain_checks.broken_seq IS NULL
                   AND (receipt_chain_checks.leased_until IS NULL
                        OR receipt_chain_checks.leased_until < now())
                 RETURNING tenant_id, verified_seq, verified_hash)
             SELECT l.tenant_id, l.verified_seq, l.verified_hash, c.length, c.head_hash
             FROM leased l JOIN receipt_chains c ON c.tenant_id = l.tenant_id
             ORDER BY l.tenant_id",
        )
        .bind(limit)
        .bind(lease_secs(lease))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let tenant: String = r.try_get("tenant_id")?;
                Ok(ChainToCheck {
                    tenant: TenantId::parse(&tenant).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "receipt_chain_checks.tenant_id {tenant:?}: {e}"
                        ))
                    })?,
                    verified: ChainHead {
                        hash: r.try_get("verified_hash")?,
                        length: length(r.try_get("verified_seq")?, "verified_seq")?,
                    },
                    recorded: ChainHead {
                        hash: r.try_get("head_hash")?,
                        length: length(r.try_get("length")?, "chain length")?,
                    },
                })
            })
            .collect()
    }

    /// `tenant`'s stored receipts at chain positions `after + 1 ..= upto`,
    /// in order, each parsed or with why its body is not a receipt. A
    /// position with no row is simply absent: the caller sees the gap.
    pub async fn stored_receipts(
        &self,
        tenant: &TenantId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<StoredReceipt>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, body FROM receipts
             WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        )
        .bind(tenant.as_str())
        .bind(seq(after)?)
        .bind(seq(upto)?)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let body: Value = r.try_get("body")?;
                Ok(StoredReceipt {
                    seq: length(r.try_get("seq")?, "receipts.seq")?,
                    receipt: serde_json::from_value(body).map_err(|e| e.to_string()),
                })
            })
            .collect()
    }

    /// Records `tenant`'s chain verified up to `to`, if it still stands
    /// where this check started (`from`); the lease is renewed for `lease`
    /// (more to check) or ended (`None`). `false`: it had moved (another
    /// verifier's lease), and nothing was written.
    pub async fn record_chain_verified(
        &self,
        tenant: &TenantId,
        from: &ChainHead,
        to: &ChainHead,
        lease: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE receipt_chain_checks
             SET verified_seq = $3, verified_hash = $4, verified_at = now(),
                 leased_until = now() + make_interval(secs => $5)
             WHERE tenant_id = $1 AND verified_seq = $2 AND broken_seq IS NULL",
        )
        .bind(tenant.as_str())
        .bind(seq(from.length)?)
        .bind(seq(to.length)?)
        .bind(to.hash.as_deref())
        .bind(lease.map(lease_secs))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Records the break found at position `at` (counted from one) of
    /// `tenant`'s chain, verified up to `verified` before it, if the chain
    /// still stands where this check started (`from`); and writes
    /// `chain.integrity_failure` (`data`) for the tenant and the operator
    /// in the same transaction, so the break is announced exactly once
    /// however many verifiers find it. `false`: another verifier had moved
    /// the chain on or recorded it first.
    pub async fn record_chain_break(
        &self,
        tenant: &TenantId,
        from: &ChainHead,
        verified: &ChainHead,
        at: u64,
        reason: &str,
        data: &::webhooks::payloads::ChainIntegrityFailureEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE receipt_chain_checks
             SET verified_seq = $3, verified_hash = $4, verified_at = now(),
                 broken_seq = $5, broken_reason = $6, broken_at = now(), leased_until = NULL
             WHERE tenant_id = $1 AND verified_seq = $2 AND broken_seq IS NULL",
        )
        .bind(tenant.as_str())
        .bind(seq(from.length)?)
        .bind(seq(verified.length)?)
        .bind(verified.hash.as_deref())
        .bind(seq(at)?)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        crate::webhooks::emit(
            &mut tx,
            Audience::Operator { and: Some(tenant) },
            ::webhooks::EventType::ChainIntegrityFailure,
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends `tenant`'s lease without moving it (a check that could not finish).
    pub async fn release_chain_lease(&self, tenant: &TenantId) -> Result<(), StoreError> {
        sqlx::query("UPDATE receipt_chain_checks SET leased_until = NULL WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every chain's verification at a glance.
    pub async fn chain_check_summary(&self) -> Result<ChainCheckSummary, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) AS chains,
                    coalesce(sum(c.length), 0)::bigint AS receipts,
                    coalesce(sum(least(coalesce(k.verified_seq, 0), c.length)), 0)::bigint AS verified,
                    count(k.broken_seq) AS broken
             FROM receipt_chains c
             LEFT JOIN receipt_chain_checks k ON k.tenant_id = c.tenant_id
             WHERE c.length > 0",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ChainCheckSummary {
            chains: length(row.try_get("chains")?, "chains")?,
            receipts: length(row.try_get("receipts")?, "receipts")?,
            verified: length(row.try_get("verified")?, "verified")?,
            broken: length(row.try_get("broken")?, "broken")?,
        })
    }

    /// The break recorded in `tenant`'s chain, if any: its position (from 1)
    /// and why.
    pub async fn chain_break(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT broken_seq, broken_reason FROM receipt_chain_checks
             WHERE tenant_id = $1 AND broken_seq IS NOT NULL",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                length(r.try_get("broken_seq")?, "broken_seq")?,
                r.try_get("broken_reason")?,
            ))
        })
        .transpose()
    }
}
