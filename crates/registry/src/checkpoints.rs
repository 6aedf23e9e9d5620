//! Signed checkpoints of the tenants' receipt trees (`audit_checkpoints`):
//! which trees have grown past their last checkpoint (read from the
//! committed `receipt_chains`, so a checkpoint never covers an uncommitted
//! receipt), storing a signed one, and reading them back with the witness
//! cosignatures they were given; the tenant's witnesses.

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
    /// The witnesses' cosignatures, in the order they came.
    pub cosignatures: Vec<StoredCosignature>,
}

/// A witness's cosignature of a checkpoint, as given and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCosignature {
    pub witness: String,
    pub key_id: [u8; 4],
    /// The witness's own time (POSIX seconds).
    pub signed_at: u64,
    /// The signature line, without its newline.
    pub line: String,
}

/// What registering a witness came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessInsert {
    Inserted(StoredWitness),
    /// The tenant has a witness of that name or key.
    Exists,
    /// The tenant has as many as it may.
    Full,
}

/// A witness a tenant registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWitness {
    pub name: String,
    pub key_id: [u8; 4],
    pub public_key: [u8; 32],
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
        cosignatures: Vec::new(),
    })
}

fn key_id(bytes: Vec<u8>, of: &str) -> Result<[u8; 4], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("the key id of {of}")))
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
    /// Stores a signed checkpoint, unless one of this size or larger is
    /// stored (another replica issued it, or a newer one): a tenant's
    /// checkpoints are committed in size order, which the chain verifier's
    /// cursor over them relies on. Whether this one was stored.
    pub async fn insert_checkpoint(
        &self,
        head: &TreeHead,
        note: &str,
        key_id: &str,
    ) -> Result<bool, StoreError> {
        let size = i64::try_from(head.size)
            .map_err(|_| StoreError::Corrupt(format!("tree size {}", head.size)))?;
        let mut tx = self.store.pool.begin().await?;
        // Replicas issuing at once take turns per tenant.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('audit_checkpoints'), hashtext($1))")
            .bind(self.tenant.as_str())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (tenant_id, tree_size, root, note, key_id)
             SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoints
                               WHERE tenant_id = $1 AND tree_size >= $2)",
        )
        .bind(self.tenant.as_str())
        .bind(size)
        .bind(head.root.as_slice())
        .bind(note)
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The latest checkpoint (`None` before the first); with
    /// `witnessed_by`, the latest one cosigned by one of those witness keys
    /// (name, key id).
    pub async fn latest_checkpoint(
        &self,
        witnessed_by: Option<&[(String, [u8; 4])]>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<Row> = match witnessed_by {
            None => {
                sqlx::query_as(
                    "SELECT tree_size, root, note, key_id, created_at FROM audit_checkpoints
                     WHERE tenant_id = $1 ORDER BY tree_size DESC LIMIT 1",
                )
                .bind(self.tenant.as_str())
                .fetch_optional(&self.store.pool)
                .await?
            }
            Some(witnesses) => {
                let names: Vec<&str> = witnesses.iter().map(|(n, _)| n.as_str()).collect();
                let ids: Vec<Vec<u8>> = witnesses.iter().map(|(_, id)| id.to_vec()).collect();
                sqlx::query_as(
                    "SELECT tree_size, root, note, key_id, created_at FROM audit_checkpoints
                     WHERE tenant_id = $1 AND tree_size = (
                         SELECT max(s.tree_size) FROM audit_cosignatures s
                         JOIN unnest($2::text[], $3::bytea[]) AS w(name, id)
                           ON s.witness = w.name AND s.key_id = w.id
                         WHERE s.tenant_id = $1)",
                )
                .bind(self.tenant.as_str())
                .bind(&names)
                .bind(&ids)
                .fetch_optional(&self.store.pool)
                .await?
            }
        };
        let list: Vec<StoredCheckpoint> = row.map(stored).transpose()?.into_iter().collect();
        Ok(self.with_cosignatures(list).await?.pop())
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
        let list = rows.into_iter().map(stored).collect::<Result<_, _>>()?;
        self.with_cosignatures(list).await
    }

    /// The sizes and roots of the checkpoints of sizes in `(after, upto]`,
    /// smallest first, at most `limit`.
    pub async fn checkpoint_roots_between(
        &self,
        after: u64,
        upto: u64,
        limit: i64,
    ) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT tree_size, root FROM audit_checkpoints
             WHERE tenant_id = $1 AND tree_size > $2 AND tree_size <= $3
             ORDER BY tree_size LIMIT $4",
        )
        .bind(self.tenant.as_str())
        .bind(signed(after))
        .bind(signed(upto))
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        rows.into_iter()
            .map(|(size, root)| {
                Ok((
                    u64::try_from(size)
                        .map_err(|_| StoreError::Corrupt(format!("checkpoint size {size}")))?,
                    root.try_into().map_err(|_| {
                        StoreError::Corrupt(format!("the root of checkpoint {size}"))
                    })?,
                ))
            })
            .collect()
    }

    /// The checkpoints with their cosignatures read in.
    async fn with_cosignatures(
        &self,
        mut list: Vec<StoredCheckpoint>,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        if list.is_empty() {
            return Ok(list);
        }
        let sizes: Vec<i64> = list
            .iter()
            .map(|c| i64::try_from(c.tree_size).unwrap_or(i64::MAX))
            .collect();
        let rows: Vec<(i64, String, Vec<u8>, i64, String)> = sqlx::query_as(
            "SELECT tree_size, witness, key_id, signed_at, line FROM audit_cosignatures
             WHERE tenant_id = $1 AND tree_size = ANY($2)
             ORDER BY received_at, witness",
        )
        .bind(self.tenant.as_str())
        .bind(&sizes)
        .fetch_all(&self.store.pool)
        .await?;
        for (size, witness, id, signed_at, line) in rows {
            let c = StoredCosignature {
                key_id: key_id(id, &witness)?,
                signed_at: u64::try_from(signed_at)
                    .map_err(|_| StoreError::Corrupt(format!("cosignature time {signed_at}")))?,
                witness,
                line,
            };
            if let Some(checkpoint) = list
                .iter_mut()
                .find(|k| i64::try_from(k.tree_size) == Ok(size))
            {
                checkpoint.cosignatures.push(c);
            }
        }
        Ok(list)
    }

    /// Stores cosignatures of the checkpoint of `tree_size` (which must be
    /// stored); one a witness key already gave for it stays. How many were new.
    pub async fn insert_cosignatures(
        &self,
        tree_size: u64,
        cosignatures: &[StoredCosignature],
    ) -> Result<u64, StoreError> {
        let size = i64::try_from(tree_size)
            .map_err(|_| StoreError::Corrupt(format!("tree size {tree_size}")))?;
        let mut witnesses = Vec::new();
        let mut ids = Vec::new();
        let mut times = Vec::new();
        let mut lines = Vec::new();
        for c in cosignatures {
            witnesses.push(c.witness.as_str());
            ids.push(c.key_id.to_vec());
            times.push(
                i64::try_from(c.signed_at).map_err(|_| {
                    StoreError::Corrupt(format!("cosignature time {}", c.signed_at))
                })?,
            );
            lines.push(c.line.as_str());
        }
        let done = sqlx::query(
            "INSERT INTO audit_cosignatures (tenant_id, tree_size, witness, key_id, signed_at, line)
             SELECT $1, $2, w, k, t, l
             FROM unnest($3::text[], $4::bytea[], $5::bigint[], $6::text[]) AS u (w, k, t, l)
             ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(size)
        .bind(&witnesses)
        .bind(&ids)
        .bind(&times)
        .bind(&lines)
        .execute(&self.store.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The tenant's witnesses, by name.
    pub async fn witnesses(&self) -> Result<Vec<StoredWitness>, StoreError> {
        type WitnessRow = (String, Vec<u8>, Vec<u8>, DateTime<Utc>);
        let rows: Vec<WitnessRow> = sqlx::query_as(
            "SELECT name, key_id, public_key, created_at FROM audit_witnesses
             WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.into_iter()
            .map(|(name, id, key, created_at)| {
                Ok(StoredWitness {
                    key_id: key_id(id, &name)?,
                    public_key: key
                        .try_into()
                        .map_err(|_| StoreError::Corrupt(format!("the key of witness {name}")))?,
                    name,
                    created_at,
                })
            })
            .collect()
    }

    /// Registers a witness unless the tenant has one of that name or key,
    /// or `at_most` already (counted and inserted under a per-tenant lock,
    /// so concurrent registrations cannot pass it).
    pub async fn insert_witness(
        &self,
        name: &str,
        key_id: [u8; 4],
        public_key: [u8; 32],
        at_most: usize,
    ) -> Result<WitnessInsert, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('audit_witnesses'), hashtext($1))")
            .bind(self.tenant.as_str())
            .execute(&mut *tx)
            .await?;
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_witnesses WHERE tenant_id = $1")
                .bind(self.tenant.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= at_most {
            return Ok(WitnessInsert::Full);
        }
        let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "INSERT INTO audit_witnesses (tenant_id, name, key_id, public_key)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING created_at",
        )
        .bind(self.tenant.as_str())
        .bind(name)
        .bind(key_id.as_slice())
        .bind(public_key.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            Some((created_at,)) => WitnessInsert::Inserted(StoredWitness {
                name: name.to_string(),
                key_id,
                public_key,
                created_at,
            }),
            None => WitnessInsert::Exists,
        })
    }

    /// Removes the tenant's witness `name`; whether there was one.
    pub async fn delete_witness(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM audit_witnesses WHERE tenant_id = $1 AND name = $2")
            .bind(self.tenant.as_str())
            .bind(name)
            .execute(&self.store.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
