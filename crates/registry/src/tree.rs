//! The Merkle tree of each tenant's receipts (RFC 9162) as rows: the right
//! edge beside the chain head in `receipt_chains`, a stored node every eight
//! levels in `receipt_tree_nodes` (`audit::tree` says what and why). The
//! receipt writer keeps both with each batch's receipts (one call of
//! `append_receipt_batch`, `receipts::append_batch`) for every chain whose
//! tree is caught up; a chain
//! written before the tree existed (or by an older replica) is caught up by
//! [`Store::catch_up_trees`] in bounded steps, off the write path. This
//! module also reads the tree back as tree heads and inclusion and
//! consistency proofs, each from O(log n) rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use audit::merkle::Hash;
use audit::tree::{self as rules, Edge, NodeId};
use sqlx::Postgres;

use crate::{Store, StoreError, TenantStore};

/// A tree edge as stored (`tree_size`, `tree_edge`).
pub(crate) fn stored_edge(size: i64, bytes: &[u8]) -> Result<Edge, StoreError> {
    let size = u64::try_from(size).map_err(|_| StoreError::Corrupt(format!("tree size {size}")))?;
    Edge::from_bytes(size, bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An edge's size as stored (`bigint`).
pub(crate) fn size(edge: &Edge) -> Result<i64, StoreError> {
    i64::try_from(edge.size())
        .map_err(|_| StoreError::Corrupt(format!("tree size {}", edge.size())))
}

/// A receipt's leaf, or why its stored hash is not one.
fn leaf(receipt_hash: &str) -> Result<Hash, StoreError> {
    rules::receipt_leaf(receipt_hash)
        .ok_or_else(|| StoreError::Corrupt(format!("receipt hash {receipt_hash:?}")))
}

/// One chain's tree in a receipt batch.
enum BatchTree {
    /// Caught up with the chain: the batch's receipts are appended to it.
    Kept(Edge),
    /// Behind the chain, or unreadable: left as stored for
    /// [`Store::catch_up_trees`] (or an operator) to deal with, so that one
    /// chain's tree never fails another tenant's receipts.
    Left { size: i64, edge: Vec<u8> },
}

/// The trees of one receipt batch: each chain's edge as it grows, and the
/// stored nodes it completes, as columns for the batch's statement.
#[derive(Default)]
pub(crate) struct TreeRows {
    trees: HashMap<String, BatchTree>,
    tenant: Vec<String>,
    level: Vec<i16>,
    index: Vec<i64>,
    hash: Vec<Vec<u8>>,
}

impl TreeRows {
    /// `tenant`'s tree as stored, beside its chain of `length` receipts.
    pub(crate) fn start(&mut self, tenant: &str, size: i64, edge: Vec<u8>, length: u64) {
        let tree = match stored_edge(size, &edge) {
            Ok(e) if e.size() == length => BatchTree::Kept(e),
            Ok(e) if e.size() < length => BatchTree::Left { size, edge },
            Ok(e) => {
                tracing::error!(
                    tenant,
                    tree_size = e.size(),
                    length,
                    "the receipt tree is larger than its chain"
                );
                BatchTree::Left { size, edge }
            }
            Err(e) => {
                tracing::error!(tenant, error = %e, "the receipt tree's edge is unreadable");
                BatchTree::Left { size, edge }
            }
        };
        self.trees.insert(tenant.to_string(), tree);
    }

    /// Adds the receipt whose hash is `receipt_hash` to `tenant`'s tree, if
    /// this batch keeps it.
    pub(crate) fn append(&mut self, tenant: &str, receipt_hash: &str) -> Result<(), StoreError> {
        let Some(BatchTree::Kept(edge)) = self.trees.get_mut(tenant) else {
            return Ok(());
        };
        let mut made = Vec::new();
        edge.append(leaf(receipt_hash)?, &mut made);
        for (node, hash) in made {
            self.push(tenant, node, hash)?;
        }
        Ok(())
    }

    /// `tenant`'s tree to store: `(tree_size, tree_edge)`.
    pub(crate) fn stored(&self, tenant: &str) -> Result<(i64, Vec<u8>), StoreError> {
        match self.trees.get(tenant) {
            Some(BatchTree::Kept(edge)) => Ok((size(edge)?, edge.to_bytes())),
            Some(BatchTree::Left { size, edge }) => Ok((*size, edge.clone())),
            None => Err(StoreError::Corrupt(format!("no tree for {tenant}"))),
        }
    }

    fn push(&mut self, tenant: &str, node: NodeId, hash: Hash) -> Result<(), StoreError> {
        self.tenant.push(tenant.to_string());
        self.level.push(i16::from(node.level));
        self.index.push(
            i64::try_from(node.index)
                .map_err(|_| StoreError::Corrupt(format!("node index {}", node.index)))?,
        );
        self.hash.push(hash.to_vec());
        Ok(())
    }

    /// Binds the new stored nodes as parameters 24–27 of the batch's
    /// call (`receipts::append_batch`), which inserts them (none: empty arrays).
    pub(crate) fn bind_nodes<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.tenant)
            .bind(&self.level)
            .bind(&self.index)
            .bind(&self.hash)
    }
}

/// How many receipts one catch-up step adds to one tree.
const CATCH_UP_STEP: i64 = 4096;

impl Store {
    /// Catches up trees that are behind their chains (written before the
    /// tree existed, or by an older replica), one step of at most 4,096
    /// receipts per tree, each in its own transaction holding that chain's
    /// lock (so the receipt writer and other replicas wait, briefly, and
    /// take over once it is caught up). How many receipts were added; a tree
    /// that cannot be caught up is logged and skipped.
    pub async fn catch_up_trees(&self) -> Result<u64, StoreError> {
        let behind: Vec<String> = sqlx::query_scalar(
            "SELECT tenant_id FROM receipt_chains WHERE tree_size < length ORDER BY tenant_id LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut added = 0;
        for tenant in behind {
            match self.catch_up_step(&tenant).await {
                Ok(n) => added += n,
                Err(e @ StoreError::Corrupt(_)) => {
                    tracing::error!(tenant, error = %e, "cannot catch up the receipt tree");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(added)
    }

    async fn catch_up_step(&self, tenant: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (length, size, bytes): (i64, i64, Vec<u8>) = sqlx::query_as(
            "SELECT length, tree_size, tree_edge FROM receipt_chains WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
        let mut edge = stored_edge(size, &bytes)?;
        if size >= length {
            return Ok(0);
        }
        let until = length.min(size + CATCH_UP_STEP);
        let hashes: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, receipt_hash FROM receipts
             WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        )
        .bind(tenant)
        .bind(size)
        .bind(until)
        .fetch_all(&mut *tx)
        .await?;
        let mut rows = TreeRows::default();
        let mut made = Vec::new();
        for (i, (seq, hash)) in hashes.iter().enumerate() {
            if *seq != size + 1 + i as i64 {
                return Err(StoreError::Corrupt(format!(
                    "the chain of {tenant} has no receipt at position {}",
                    size + 1 + i as i64
                )));
            }
            edge.append(leaf(hash)?, &mut made);
        }
        if edge.size() != u64::try_from(until).unwrap_or(0) {
            return Err(StoreError::Corrupt(format!(
                "the chain of {tenant} ends before position {until}"
            )));
        }
        for (node, hash) in made {
            rows.push(tenant, node, hash)?;
        }
        sqlx::query(
            "INSERT INTO receipt_tree_nodes (tenant_id, level, index, hash)
             SELECT * FROM unnest($1::text[], $2::smallint[], $3::bigint[], $4::bytea[])",
        )
        .bind(&rows.tenant)
        .bind(&rows.level)
        .bind(&rows.index)
        .bind(&rows.hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE receipt_chains SET tree_size = $2, tree_edge = $3 WHERE tenant_id = $1",
        )
        .bind(tenant)
        .bind(until)
        .bind(edge.to_bytes())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(hashes.len() as u64)
    }
}

/// A committed tree: its size and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

impl TenantStore<'_> {
    /// The head of the tenant's tree as committed (size 0 before any receipt).
    pub async fn tree_head(&self) -> Result<TreeHead, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT tree_size, tree_edge FROM receipt_chains WHERE tenant_id = $1")
                .bind(self.tenant.as_str())
                .fetch_optional(&self.store.pool)
                .await?;
        let edge = match row {
            Some((size, bytes)) => stored_edge(size, &bytes)?,
            None => Edge::empty(),
        };
        Ok(TreeHead {
            size: edge.size(),
            root: edge.root(),
        })
    }

    /// The heads of `ranges` (`[a, b)`, each within the committed tree), in
    /// order: what RFC 9162's proofs are made of.
    pub async fn range_heads(&self, ranges: &[(u64, u64)]) -> Result<Vec<Hash>, StoreError> {
        let per_range: Vec<Vec<NodeId>> = ranges
            .iter()
            .map(|&(a, b)| rules::range_nodes(a, b))
            .collect();
        let wanted: BTreeSet<NodeId> = per_range.iter().flatten().copied().collect();
        let heads = self.node_heads(&wanted).await?;
        per_range
            .iter()
            .map(|nodes| {
                let hs: Vec<Hash> = nodes
                    .iter()
                    .map(|n| heads.get(n).copied().ok_or_else(|| missing(n)))
                    .collect::<Result<_, _>>()?;
                rules::fold(&hs).ok_or_else(|| StoreError::Corrupt("an empty proof range".into()))
            })
            .collect()
    }

    /// The heads of perfect nodes: leaves from the receipts, stored nodes
    /// from their rows, the others from the ≤ 128 below them.
    pub async fn node_heads(
        &self,
        nodes: &BTreeSet<NodeId>,
    ) -> Result<BTreeMap<NodeId, Hash>, StoreError> {
        let mut leaves: Vec<i64> = Vec::new();
        let mut stored: Vec<NodeId> = Vec::new();
        for node in nodes {
            for base in node.base().nodes() {
                if base.level == 0 {
                    let index = i64::try_from(base.index).map_err(|_| missing(&base))?;
                    leaves.push(index + 1);
                } else {
                    stored.push(base);
                }
            }
        }
        let mut base: BTreeMap<NodeId, Hash> = BTreeMap::new();
        if !leaves.is_empty() {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT seq, receipt_hash FROM receipts WHERE tenant_id = $1 AND seq = ANY($2)",
            )
            .bind(self.tenant.as_str())
            .bind(&leaves)
            .fetch_all(&self.store.pool)
            .await?;
            for (seq, hash) in rows {
                let index = u64::try_from(seq - 1)
                    .map_err(|_| StoreError::Corrupt(format!("receipt position {seq}")))?;
                base.insert(NodeId { level: 0, index }, leaf(&hash)?);
            }
        }
        if !stored.is_empty() {
            base.extend(self.stored_nodes(&stored).await?);
        }
        let mut heads = BTreeMap::new();
        for node in nodes {
            let below: Vec<Hash> = node
                .base()
                .nodes()
                .map(|n| base.get(&n).copied().ok_or_else(|| missing(&n)))
                .collect::<Result<_, _>>()?;
            heads.insert(*node, rules::perfect_head(&below));
        }
        Ok(heads)
    }
}

fn missing(node: &NodeId) -> StoreError {
    StoreError::Corrupt(format!(
        "tree node at level {} index {} is missing",
        node.level, node.index
    ))
}

impl TenantStore<'_> {
    /// The stored nodes among `nodes` that have a row, as stored.
    pub async fn stored_nodes(
        &self,
        nodes: &[NodeId],
    ) -> Result<BTreeMap<NodeId, Hash>, StoreError> {
        let levels: Vec<i16> = nodes.iter().map(|n| i16::from(n.level)).collect();
        let indexes: Vec<i64> = nodes
            .iter()
            .map(|n| i64::try_from(n.index).map_err(|_| missing(n)))
            .collect::<Result<_, _>>()?;
        let rows: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT n.level, n.index, n.hash FROM receipt_tree_nodes n
             JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, index)
               ON n.level = w.level AND n.index = w.index
             WHERE n.tenant_id = $1",
        )
        .bind(self.tenant.as_str())
        .bind(&levels)
        .bind(&indexes)
        .fetch_all(&self.store.pool)
        .await?;
        let mut out = BTreeMap::new();
        for (level, index, hash) in rows {
            let node = NodeId {
                level: u8::try_from(level)
                    .map_err(|_| StoreError::Corrupt(format!("node level {level}")))?,
                index: u64::try_from(index)
                    .map_err(|_| StoreError::Corrupt(format!("node index {index}")))?,
            };
            let hash: Hash = hash
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("the hash of {node:?}")))?;
            out.insert(node, hash);
        }
        Ok(out)
    }

    /// The id of the receipt at chain position `seq`.
    pub async fn receipt_id_at(&self, seq: u64) -> Result<Option<uuid::Uuid>, StoreError> {
        let seq = i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("position {seq}")))?;
        Ok(
            sqlx::query_scalar("SELECT receipt_id FROM receipts WHERE tenant_id = $1 AND seq = $2")
                .bind(self.tenant.as_str())
                .bind(seq)
                .fetch_optional(&self.store.pool)
                .await?,
        )
    }

    /// The leaf index (chain position − 1) of the tenant's receipt `receipt_id`.
    pub async fn leaf_index(&self, receipt_id: uuid::Uuid) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM receipts WHERE tenant_id = $1 AND receipt_id = $2")
                .bind(self.tenant.as_str())
                .bind(receipt_id)
                .fetch_optional(&self.store.pool)
                .await?;
        seq.map(|s| {
            u64::try_from(s - 1).map_err(|_| StoreError::Corrupt(format!("receipt position {s}")))
        })
        .transpose()
    }
}
