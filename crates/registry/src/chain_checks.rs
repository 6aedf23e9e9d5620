//! The background chain verifier's bookkeeping
//! (`migrations/…30_receipt_chain_checks.sql`): how far each tenant's
//! receipt chain has been verified, leases so that replicas share the work,
//! and the first break found — recorded with its `chain.integrity_failure`
//! event in one transaction, once. What a break is, is `audit`'s
//! ([`audit::ChainCursor`]); when to check, `service::chain_check`.

use std::time::Duration;

use audit::{ChainHead, Receipt};
use chrono::SubsecRound;
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
    /// The receipt tree beside the chain: checked up to this many leaves…
    pub tree_checked: u64,
    /// …and its checkpoints up to this size.
    pub checkpoints_checked: u64,
    /// The tree's committed size (it may lag the chain, caught up later).
    pub tree_size: u64,
}

/// A receipt as stored at its chain position: parsed, or why its body is
/// not a receipt; and the columns stored beside it.
#[derive(Debug)]
pub struct StoredReceipt {
    pub seq: u64,
    pub receipt: Result<Receipt, String>,
    pub columns: ReceiptColumns,
}

/// The columns the receipt writer stores beside each receipt, copied from
/// it, which lookups and the decision log read (`deny_reason` is stored
/// beside it too but is not part of the signed receipt).
#[derive(Debug, Clone)]
pub struct ReceiptColumns {
    pub receipt_id: uuid::Uuid,
    pub receipt_hash: String,
    pub prev_receipt_hash: Option<String>,
    pub decided_at: chrono::DateTime<chrono::Utc>,
    pub worker_id: String,
    pub capability_id: String,
    pub denied: bool,
    /// Whether it is a decision of the router: the receipt has `matched_rule_id`.
    pub routed: bool,
    /// A route decision's correlation id (with its telemetry).
    pub route_correlation_id: Option<String>,
}

impl ReceiptColumns {
    /// The first column that does not say what `r`, the signed receipt
    /// stored with it, says; `None` when they all agree.
    pub fn differing_from(&self, r: &Receipt) -> Option<&'static str> {
        let c = &r.content;
        let decided_at = chrono::DateTime::parse_from_rfc3339(&c.decided_at)
            .map(|t| t.with_timezone(&chrono::Utc).trunc_subsecs(6));
        if self.receipt_id.to_string() != c.receipt_id {
            Some("receipt_id")
        } else if self.receipt_hash != r.receipt_hash {
            Some("receipt_hash")
        } else if self.prev_receipt_hash != c.prev_receipt_hash {
            Some("prev_receipt_hash")
        } else if decided_at.ok() != Some(self.decided_at) {
            Some("decided_at")
        } else if self.worker_id != c.worker_id {
            Some("worker_id")
        } else if self.capability_id != c.capability_id {
            Some("capability_id")
        } else if self.denied != c.outcome.is_deny() {
            Some("denied")
        } else if self.routed != c.matched_rule_id.is_some() {
            Some("routed")
        } else if self
            .route_correlation_id
            .as_ref()
            .is_some_and(|id| *id != c.correlation_id)
        {
            Some("route_correlation_id")
        } else {
            None
        }
    }
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
    /// yet (or a verified part of their tree, or a checkpoint of it, not
    /// checked yet) and no break recorded, that no other verifier holds:
    /// the ones furthest behind first. Another verifier skips them until
    /// the lease runs out.
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
                        OR c.head_hash IS DISTINCT FROM k.verified_hash
                        OR least(coalesce(k.verified_seq, 0), c.tree_size) > coalesce(k.tree_checked, 0)
                        OR EXISTS (
                            SELECT 1 FROM audit_checkpoints a
                            WHERE a.tenant_id = c.tenant_id
                              AND a.tree_size > coalesce(k.checkpoints_checked, 0)
                              AND a.tree_size <= least(coalesce(k.verified_seq, 0), c.tree_size)))
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
                 RETURNING tenant_id, verified_seq, verified_hash, tree_checked, checkpoints_checked)
             SELECT l.tenant_id, l.verified_seq, l.verified_hash, l.tree_checked,
                    l.checkpoints_checked, c.length, c.head_hash, c.tree_size
             FROM leased l JOIN receipt_chains c ON c.tenant_id = l.tenant_id
             ORDER BY l.tenant_id",
        )
        .bind(limit)
        .bind(lease_secs(lease))
        .fetch_all(&self.pool)
        .await?;
        let mut leased = Vec::with_capacity(rows.len());
        for r in &rows {
            let name: String = r.try_get("tenant_id")?;
            // A row naming no valid tenant cannot be checked; it must not
            // hold up the others (its lease keeps it aside for a while).
            let tenant = match TenantId::parse(&name) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(tenant = %name, error = %e, "a receipt chain names no valid tenant; not checked");
                    continue;
                }
            };
            leased.push(ChainToCheck {
                tenant,
                verified: ChainHead {
                    hash: r.try_get("verified_hash")?,
                    length: length(r.try_get("verified_seq")?, "verified_seq")?,
                },
                recorded: ChainHead {
                    hash: r.try_get("head_hash")?,
                    length: length(r.try_get("length")?, "chain length")?,
                },
                tree_checked: length(r.try_get("tree_checked")?, "tree_checked")?,
                checkpoints_checked: length(
                    r.try_get("checkpoints_checked")?,
                    "checkpoints_checked",
                )?,
                tree_size: length(r.try_get("tree_size")?, "tree_size")?,
            });
        }
        Ok(leased)
    }

    /// The first position of `tenant`'s receipts stored past its chain's
    /// recorded end, and that end, if there is one — read with the head in
    /// one statement, so a receipt the writer is committing with its head
    /// is never one.
    pub async fn receipt_beyond_head(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT min(r.seq), c.length FROM receipts r
             JOIN receipt_chains c ON c.tenant_id = r.tenant_id
             WHERE r.tenant_id = $1 AND r.seq > c.length
             GROUP BY c.length",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(s, l)| Ok((length(s, "receipts.seq")?, length(l, "chain length")?)))
            .transpose()
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
            "SELECT seq, body::text AS body, receipt_id, receipt_hash, prev_receipt_hash, decided_at, worker_id,
                    capability_id, denied, routed, route_correlation_id
             FROM receipts
             WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        )
        .bind(tenant.as_str())
        .bind(seq(after)?)
        .bind(seq(upto)?)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                // As text: parsed straight into a receipt, with no JSON tree between.
                let body: String = r.try_get("body")?;
                Ok(StoredReceipt {
                    seq: length(r.try_get("seq")?, "receipts.seq")?,
                    receipt: serde_json::from_str(&body).map_err(|e| e.to_string()),
                    columns: ReceiptColumns {
                        receipt_id: r.try_get("receipt_id")?,
                        receipt_hash: r.try_get("receipt_hash")?,
                        prev_receipt_hash: r.try_get("prev_receipt_hash")?,
                        decided_at: r.try_get("decided_at")?,
                        worker_id: r.try_get("worker_id")?,
                        capability_id: r.try_get("capability_id")?,
                        denied: r.try_get("denied")?,
                        routed: r.try_get("routed")?,
                        route_correlation_id: r.try_get("route_correlation_id")?,
                    },
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

    /// Records `tenant`'s tree checked up to `tree` leaves and its
    /// checkpoints up to size `checkpoints`, if no other verifier moved
    /// them since this one read them (`from`); the lease is renewed for
    /// `lease` (more to check) or ended. Whether it was written.
    pub async fn record_tree_checked(
        &self,
        tenant: &TenantId,
        from: (u64, u64),
        to: (u64, u64),
        lease: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE receipt_chain_checks
             SET tree_checked = $4, checkpoints_checked = $5,
                 leased_until = now() + make_interval(secs => $6)
             WHERE tenant_id = $1 AND tree_checked = $2 AND checkpoints_checked = $3
               AND broken_seq IS NULL",
        )
        .bind(tenant.as_str())
        .bind(seq(from.0)?)
        .bind(seq(from.1)?)
        .bind(seq(to.0)?)
        .bind(seq(to.1)?)
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

    /// Ends `tenant`'s lease without moving it (a check that could not
    /// finish). Whoever holds it: at worst another verifier's chain is
    /// checked twice, which its progress guard makes harmless.
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
             WHERE c.length > 0 OR k.broken_seq IS NOT NULL",
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
