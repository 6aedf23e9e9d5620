//! The Merkle tree of each tenant's receipts (RFC 9162) as rows: the right
//! edge beside the chain head in `receipt_chains`, a stored node every eight
//! levels in `receipt_tree_nodes` (`audit::tree` says what and why). The
//! receipt writer keeps both in each batch's transaction
//! (`receipts::commit`); this module reads them back as tree heads and
//! inclusion and consistency proofs, each from O(log n) rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use audit::merkle::Hash;
use audit::tree::{self as rules, Edge, NodeId};
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Postgres};

use crate::{StoreError, TenantStore};

/// A tree edge as stored (`tree_size`, `tree_edge`).
pub(crate) fn stored_edge(size: i64, bytes: Vec<u8>) -> Result<Edge, StoreError> {
    let size = u64::try_from(size).map_err(|_| StoreError::Corrupt(format!("tree size {size}")))?;
    Edge::from_bytes(size, &bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
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

/// The trees of one receipt batch: each chain's edge as it grows, and the
/// stored nodes it completes, as columns for the batch's statement.
#[derive(Default)]
pub(crate) struct TreeRows {
    pub(crate) edges: HashMap<String, Edge>,
    tenant: Vec<String>,
    level: Vec<i16>,
    index: Vec<i64>,
    hash: Vec<Vec<u8>>,
}

impl TreeRows {
    /// Adds the receipt whose hash is `receipt_hash` to `tenant`'s tree.
    pub(crate) fn append(&mut self, tenant: &str, receipt_hash: &str) -> Result<(), StoreError> {
        let leaf = leaf(receipt_hash)?;
        let edge = self
            .edges
            .get_mut(tenant)
            .ok_or_else(|| StoreError::Corrupt(format!("no tree edge for {tenant}")))?;
        let mut made = Vec::new();
        edge.append(leaf, &mut made);
        for (node, hash) in made {
            self.push(tenant, node, hash)?;
        }
        Ok(())
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

    /// Binds the new stored nodes as parameters 16–19 of the batch's
    /// statement (`receipts::commit`), which inserts them (none: empty arrays).
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

/// `edge` brought up to the chain's `length` from the receipts it does not
/// cover yet (a chain written before the tree existed, or by an older
/// replica); its new stored nodes go into `rows`. The chain row is locked.
pub(crate) async fn caught_up(
    conn: &mut PgConnection,
    tenant: &str,
    mut edge: Edge,
    length: u64,
    rows: &mut TreeRows,
) -> Result<Edge, StoreError> {
    if edge.size() == length {
        return Ok(edge);
    }
    if edge.size() > length {
        return Err(StoreError::Corrupt(format!(
            "the tree of {tenant} covers {} receipts, its chain {length}",
            edge.size()
        )));
    }
    let from = size(&edge)?;
    let mut hashes = sqlx::query_as::<_, (i64, String)>(
        "SELECT seq, receipt_hash FROM receipts WHERE tenant_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(tenant)
    .bind(from)
    .fetch(&mut *conn);
    let mut made = Vec::new();
    let mut expected = from + 1;
    while let Some((seq, hash)) = hashes.try_next().await? {
        if seq != expected || edge.size() >= length {
            break;
        }
        edge.append(leaf(&hash)?, &mut made);
        expected += 1;
    }
    drop(hashes);
    if edge.size() != length {
        return Err(StoreError::Corrupt(format!(
            "the chain of {tenant} has {length} receipts but position {expected} is missing"
        )));
    }
    for (node, hash) in made {
        rows.push(tenant, node, hash)?;
    }
    Ok(edge)
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
            Some((size, bytes)) => stored_edge(size, bytes)?,
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
    async fn node_heads(
        &self,
        nodes: &BTreeSet<NodeId>,
    ) -> Result<BTreeMap<NodeId, Hash>, StoreError> {
        let mut leaves: Vec<i64> = Vec::new();
        let mut stored_level: Vec<i16> = Vec::new();
        let mut stored_index: Vec<i64> = Vec::new();
        for node in nodes {
            for base in node.base().nodes() {
                let index = i64::try_from(base.index).map_err(|_| missing(&base))?;
                if base.level == 0 {
                    leaves.push(index + 1);
                } else {
                    stored_level.push(i16::from(base.level));
                    stored_index.push(index);
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
        if !stored_level.is_empty() {
            let rows: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT n.level, n.index, n.hash FROM receipt_tree_nodes n
                 JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, index)
                   ON n.level = w.level AND n.index = w.index
                 WHERE n.tenant_id = $1",
            )
            .bind(self.tenant.as_str())
            .bind(&stored_level)
            .bind(&stored_index)
            .fetch_all(&self.store.pool)
            .await?;
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
                base.insert(node, hash);
            }
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
