//! The decision log, which is the receipt table: a tenant's decisions, newest
//! first, filtered, one by one.

use audit::Receipt;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{StoreError, TenantStore};

/// A logged decision: its receipt and the human reason of a deny.
#[derive(Debug, Clone)]
pub struct LoggedDecision {
    pub receipt: Receipt,
    pub deny_reason: Option<String>,
    /// The receipt's leaf in the tenant's Merkle tree (chain position − 1):
    /// what an inclusion proof is of (docs/audit.md).
    pub leaf_index: u64,
}

/// Filters of the decision log; newest first, `before` is the previous page's last id.
#[derive(Debug, Clone)]
pub struct DecisionFilter {
    pub worker_id: Option<String>,
    pub capability_id: Option<String>,
    pub denied: Option<bool>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    /// Only the router's decisions (receipts with route evidence).
    pub routed_only: bool,
    pub limit: wcp::PageLimit,
}

impl TenantStore<'_> {
    /// A page of the tenant's decisions, newest first, and whether more follow.
    pub async fn decisions(
        &self,
        f: &DecisionFilter,
    ) -> Result<(Vec<LoggedDecision>, bool), StoreError> {
        let limit = f.limit.as_i64();
        // Only the filters given become SQL: one statement per combination,
        // so each gets the plan of its own index (a single statement with
        // `$n IS NULL OR …` gets a generic plan that reads the whole history).
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "SELECT body, deny_reason, seq FROM receipts r WHERE r.tenant_id = ",
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
        if f.routed_only {
            // The partial index receipts_routed holds exactly these rows.
            q.push(" AND r.routed");
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
            "SELECT body, deny_reason, seq FROM receipts WHERE tenant_id = $1 AND receipt_id = $2",
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
        leaf_index: u64::try_from(row.try_get::<i64, _>("seq")? - 1)
            .map_err(|_| StoreError::Corrupt("a receipt at position 0".into()))?,
    })
}
