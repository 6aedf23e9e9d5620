//! Signed checkpoints of the tenants' receipt trees (`audit_checkpoints`):
//! which trees have grown past their last checkpoint (read from the
//! committed `receipt_chains`, so a checkpoint never covers an uncommitted
//! receipt), storing a signed one, and reading them back.

use chrono::{DateTime, Utc};
use wcp::TenantId;

use crate::tree::{stored_edge, TreeHead};
use crate::{Store, StoreError, TenantStore};

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root: [u8; 32],
    /// The signed note, exactly as issued.
    pub note: String,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
}

type Row = (i64, Vec<u8>, String, String, DateTime<Utc>);

fn stored(row: Row) -> Result<StoredCheckpoint, StoreError> {
    let (size, root, note, key_id, created_at) = row;
    Ok(StoredCheckpoint {
        tree_size: u64::try_from(size)
            .map_err(|_| StoreError::Corrupt(format!("checkpoint size {size}")))?,
        root: root
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("the root of checkpoint {size}")))?,
        note,
        key_id,
        created_at,
    })
}

impl Store {
    /// Every tenant whose committed tree is larger than its last checkpoint,
    /// with that tree's head; at most `limit`, the longest-waiting first.
    pub async fn trees_to_checkpoint(
        &self,
        limit: i64,
    ) -> Result<Vec<(TenantId, TreeHead)>, StoreError> {
        let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT c.tenant_id, c.tree_size, c.tree_edge
             FROM receipt_chains c
             LEFT JOIN LATERAL (
                 SELECT max(a.tree_size) AS size FROM audit_checkpoints a
                 WHERE a.tenant_id = c.tenant_id
             ) last ON true
             WHERE c.tree_size > coalesce(last.size, 0)
             ORDER BY c.updated_at
             LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(tenant, size, edge)| {
                let tenant = TenantId::parse(&tenant)
                    .map_err(|e| StoreError::Corrupt(format!("tenant {tenant:?}: {e}")))?;
                let edge = stored_edge(size, &edge)?;
                Ok((
                    tenant,
                    TreeHead {
                        size: edge.size(),
                        root: edge.root(),
                    },
                ))
            })
            .collect()
    }
}

impl TenantStore<'_> {
    /// Stores a signed checkpoint; one already stored for this size stays
    /// (another replica issued it). Whether this one was stored.
    pub async fn insert_checkpoint(
        &self,
        head: &TreeHead,
        note: &str,
        key_id: &str,
    ) -> Result<bool, StoreError> {
        let size = i64::try_from(head.size)
            .map_err(|_| StoreError::Corrupt(format!("tree size {}", head.size)))?;
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (tenant_id, tree_size, root, note, key_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(size)
        .bind(head.root.as_slice())
        .bind(note)
        .bind(key_id)
        .execute(&self.store.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The latest checkpoint (`None` before the first).
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT tree_size, root, note, key_id, created_at FROM audit_checkpoints
             WHERE tenant_id = $1 ORDER BY tree_size DESC LIMIT 1",
        )
        .bind(self.tenant.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(stored).transpose()
    }

    /// Checkpoints, largest first: those of `size` only when it is given,
    /// otherwise those below `before` (all when `None`); at most `limit`.
    pub async fn checkpoints(
        &self,
        size: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT tree_size, root, note, key_id, created_at FROM audit_checkpoints
             WHERE tenant_id = $1
               AND ($2::bigint IS NULL OR tree_size = $2)
               AND ($3::bigint IS NULL OR tree_size < $3)
             ORDER BY tree_size DESC LIMIT $4",
        )
        .bind(self.tenant.as_str())
        .bind(size)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        rows.into_iter().map(stored).collect()
    }
}
