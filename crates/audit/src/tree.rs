//! The Merkle tree of a tenant's receipts, as it is stored: the rules that
//! let the receipt writer keep the tree current in O(1) per receipt, and let
//! proofs be answered from O(log n) stored hashes at any size. Pure; the
//! hashing is [`crate::merkle`]'s (RFC 9162), and every result here equals
//! the in-memory reference there (tests).
//!
//! What is stored, in the manner of C2SP `tlog-tiles` with tiles of height
//! [`TILE_HEIGHT`]:
//! - level 0 (the leaves) is not stored again: leaf `i` is
//!   `leaf_hash(receipt_hash)` of the receipt at chain position `i + 1`;
//! - every complete node at a level that is a multiple of [`TILE_HEIGHT`]
//!   (8, 16, 24, …) is one stored hash: one row per 256 receipts, a
//!   65,536th of that above, and so on;
//! - the [`Edge`] — the heads of the perfect subtrees the tree of `size`
//!   leaves is made of (one per set bit of `size`) — is kept with the
//!   chain's head, so the tree head of the committed chain is always at hand.
//!
//! Any perfect node ([`NodeId`]) is then one stored hash, one leaf, or the
//! head of at most 2^(TILE_HEIGHT−1) = 128 of them ([`NodeId::base`]); any
//! range the RFC 9162 proofs use is a handful of perfect nodes
//! ([`range_nodes`]).

use crate::merkle::{self, node_hash, Hash};

/// Levels between stored nodes (C2SP tlog-tiles' height).
pub const TILE_HEIGHT: u8 = 8;

/// The perfect subtree at `level` and `index`: leaves
/// `[index·2^level, (index+1)·2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    /// Whether this node is stored (a level that is a positive multiple of
    /// [`TILE_HEIGHT`]) — leaves are read from the receipts.
    pub fn is_stored(&self) -> bool {
        self.level > 0 && self.level.is_multiple_of(TILE_HEIGHT)
    }

    /// The nodes this one is the head of, at the stored level (or the leaf
    /// level) at or below it: itself when it is stored or a leaf, otherwise
    /// at most 128 nodes, left to right.
    pub fn base(&self) -> Base {
        let base_level = self.level - self.level % TILE_HEIGHT;
        let span = self.level - base_level;
        let first = self.index << span;
        Base {
            level: base_level,
            first,
            count: 1u64 << span,
        }
    }

    /// The first leaf and the number of leaves it covers.
    pub fn leaves(&self) -> (u64, u64) {
        (self.index << self.level, 1u64 << self.level)
    }

    /// The 256 nodes one tile height below a stored node (leaves for level
    /// 8): what its head is made of, so what it is checked against.
    pub fn tile_below(&self) -> Base {
        let level = self.level.saturating_sub(TILE_HEIGHT);
        let span = self.level - level;
        Base {
            level,
            first: self.index << span,
            count: 1u64 << span,
        }
    }
}

/// The stored nodes a tree completes while it grows from `from` to `to`
/// leaves (those whose last leaf is in `(from, to]`), lowest level first.
pub fn stored_nodes_completed(from: u64, to: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut level = TILE_HEIGHT;
    while level < 64 && (1u64 << level) <= to {
        let span = 1u64 << level;
        // (index + 1)·span in (from, to]
        out.extend((from / span..to / span).map(|index| NodeId { level, index }));
        level += TILE_HEIGHT;
    }
    out
}

/// `count` consecutive nodes of `level` from index `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base {
    pub level: u8,
    pub first: u64,
    pub count: u64,
}

impl Base {
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (self.first..self.first + self.count).map(|index| NodeId {
            level: self.level,
            index,
        })
    }
}

/// A SHA-256 hash written as 64 lower-case hex digits (as receipts and
/// proofs write them). `None` when it is not one.
pub fn hex_hash(hex: &str) -> Option<Hash> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    };
    let mut raw = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        raw[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(raw)
}

/// A receipt's leaf hash: its `receipt_hash` (64 hex digits) as 32 raw
/// bytes, hashed as a leaf. `None` when it is not such a hash.
pub fn receipt_leaf(receipt_hash: &str) -> Option<Hash> {
    hex_hash(receipt_hash).map(|raw| merkle::leaf_hash(&raw))
}

/// The head of a perfect subtree from its base nodes, left to right.
pub fn perfect_head(base: &[Hash]) -> Hash {
    merkle::root(base)
}

/// The perfect nodes whose heads, folded right to left
/// ([`fold`]), are MTH(D[a:b]) — for the ranges RFC 9162's tree heads and
/// proofs use (where `a` is a multiple of the largest power of two not
/// above `b − a`, which every range of a tree starting at 0 is). Empty when
/// `a ≥ b`.
pub fn range_nodes(a: u64, b: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = a;
    while at < b {
        let room = b - at;
        // The largest power of two that fits and to which `at` is aligned.
        let mut level = 63 - room.leading_zeros() as u8;
        if at != 0 {
            level = level.min(at.trailing_zeros() as u8);
        }
        out.push(NodeId {
            level,
            index: at >> level,
        });
        at += 1u64 << level;
    }
    out
}

/// MTH of a range from the heads of its [`range_nodes`]: folded right to
/// left, as RFC 6962 splits at the largest power of two. `None` for none.
pub fn fold(heads: &[Hash]) -> Option<Hash> {
    let (last, rest) = heads.split_last()?;
    Some(rest.iter().rev().fold(*last, |r, l| node_hash(l, &r)))
}

/// The ranges `[a, b)` whose tree heads are the inclusion proof of leaf
/// `index` in the tree of `size` (RFC 9162 §2.1.3.1), in proof order;
/// `None` when there is no such leaf.
pub fn inclusion_ranges(index: u64, size: u64) -> Option<Vec<(u64, u64)>> {
    if index >= size {
        return None;
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    Some(out)
}

fn split(n: u64) -> u64 {
    // The largest power of two smaller than n (n ≥ 2).
    1u64 << (63 - (n - 1).leading_zeros())
}

fn path(m: u64, a: u64, b: u64, out: &mut Vec<(u64, u64)>) {
    let n = b - a;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, a, a + k, out);
        out.push((a + k, b));
    } else {
        path(m - k, a + k, b, out);
        out.push((a, a + k));
    }
}

/// The ranges whose tree heads are the consistency proof from the tree of
/// `old` to the tree of `new` (RFC 9162 §2.1.4.1), in proof order; `None`
/// when `old` is 0 or beyond `new`; empty when they are equal.
pub fn consistency_ranges(old: u64, new: u64) -> Option<Vec<(u64, u64)>> {
    if old == 0 || old > new {
        return None;
    }
    let mut out = Vec::new();
    subproof(old, 0, new, true, &mut out);
    Some(out)
}

fn subproof(m: u64, a: u64, b: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    let n = b - a;
    if m == n {
        if !whole {
            out.push((a, b));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, a, a + k, whole, out);
        out.push((a + k, b));
    } else {
        subproof(m - k, a + k, b, false, out);
        out.push((a, a + k));
    }
}

/// Why a chain of receipts is not the tree a checkpoint signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTheCheckpointsTree {
    #[error("the chain has {have} receipts but the checkpoint signed a tree of {size}: receipts were dropped (a truncated history)")]
    Truncated { have: u64, size: u64 },
    #[error("the chain's first {size} receipts do not make the checkpoint's tree head: one of them was changed, removed or reordered (a rewritten history)")]
    RootDiffers { size: u64 },
    #[error("receipt {index} has no SHA-256 receipt_hash")]
    BadHash { index: u64 },
}

/// Checks that the chain whose receipt hashes are `receipt_hashes` (in
/// chain order, from the first) holds the tree of `size` leaves with head
/// `root` — a checkpoint's: its first `size` receipts make that head. A
/// longer chain is a later history of the same log and passes.
pub fn check_against_checkpoint<'a>(
    receipt_hashes: impl IntoIterator<Item = &'a str>,
    size: u64,
    root: &Hash,
) -> Result<(), NotTheCheckpointsTree> {
    let mut have = 0u64;
    let counted = receipt_hashes.into_iter().inspect(|_| have += 1);
    let head = match heads_at(counted, &[size])?.first() {
        Some((_, head)) => *head,
        None if size == 0 => Edge::empty().root(),
        None => return Err(NotTheCheckpointsTree::Truncated { have, size }),
    };
    if head != *root {
        return Err(NotTheCheckpointsTree::RootDiffers { size });
    }
    Ok(())
}

/// The tree heads of the chain whose receipt hashes are `receipt_hashes`
/// (in chain order, from the first) at each of `sizes`: `(size, head)` for
/// each size the chain reaches, in the order of `sizes` sorted. What finds
/// where a tree and a chain part, given several checkpoints.
pub fn heads_at<'a>(
    receipt_hashes: impl IntoIterator<Item = &'a str>,
    sizes: &[u64],
) -> Result<Vec<(u64, Hash)>, NotTheCheckpointsTree> {
    let mut wanted: Vec<u64> = sizes.iter().copied().filter(|s| *s > 0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut wanted = wanted.into_iter().peekable();
    let mut heads = Vec::new();
    let mut edge = Edge::empty();
    let mut ignored = Vec::new();
    for (index, hash) in receipt_hashes.into_iter().enumerate() {
        if wanted.peek().is_none() {
            break;
        }
        let leaf = receipt_leaf(hash).ok_or(NotTheCheckpointsTree::BadHash {
            index: index as u64,
        })?;
        edge.append(leaf, &mut ignored);
        ignored.clear();
        if wanted.peek() == Some(&edge.size()) {
            wanted.next();
            heads.push((edge.size(), edge.root()));
        }
    }
    Ok(heads)
}

/// Why a stored edge cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree edge of {size} leaves has {expected} hashes, not {got} bytes' worth")]
pub struct EdgeError {
    pub size: u64,
    pub expected: u32,
    pub got: usize,
}

/// The right edge of the tree of `size` leaves: the heads of its perfect
/// subtrees, largest (leftmost) first — one per set bit of `size`. With it,
/// appending a leaf and the tree head are O(log n) hashes, no reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edge {
    size: u64,
    heads: Vec<Hash>,
}

impl Edge {
    /// The edge of the empty tree.
    pub fn empty() -> Self {
        Edge::default()
    }

    /// An edge as stored: `size` and the concatenated heads.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Result<Self, EdgeError> {
        let expected = size.count_ones();
        if bytes.len() != expected as usize * 32 {
            return Err(EdgeError {
                size,
                expected,
                got: bytes.len(),
            });
        }
        let heads = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(Edge { size, heads })
    }

    /// The heads, concatenated (what [`Edge::from_bytes`] reads).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.heads.concat()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree head (MTH) of the `size` leaves.
    pub fn root(&self) -> Hash {
        fold(&self.heads).unwrap_or_else(|| merkle::root(&[]))
    }

    /// Appends the leaf whose hash is `leaf`; the complete nodes this makes
    /// at stored levels ([`NodeId::is_stored`]) are pushed onto `stored`.
    pub fn append(&mut self, leaf: Hash, stored: &mut Vec<(NodeId, Hash)>) {
        let merges = self.size.trailing_ones();
        let mut head = leaf;
        self.size += 1;
        for level in 1..=merges {
            // The subtree left of it is complete and as large: they join.
            let Some(left) = self.heads.pop() else {
                break;
            };
            head = node_hash(&left, &head);
            let level = level as u8;
            let node = NodeId {
                level,
                index: (self.size >> level) - 1,
            };
            if node.is_stored() {
                stored.push((node, head));
            }
        }
        self.heads.push(head);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_nodes_a_tree_completes_as_it_grows() {
        assert!(stored_nodes_completed(0, 255).is_empty());
        assert_eq!(
            stored_nodes_completed(0, 256),
            [NodeId { level: 8, index: 0 }]
        );
        assert_eq!(
            stored_nodes_completed(255, 512),
            [NodeId { level: 8, index: 0 }, NodeId { level: 8, index: 1 }]
        );
        assert!(stored_nodes_completed(256, 511).is_empty());
        let big = stored_nodes_completed(65_300, 65_536);
        assert_eq!(
            big,
            [
                NodeId {
                    level: 8,
                    index: 255
                },
                NodeId {
                    level: 16,
                    index: 0
                }
            ]
        );
        // Every stored node is completed exactly once, in any steps.
        let mut all = Vec::new();
        let mut at = 0;
        for step in [1, 300, 17, 1000, 65_536, 4_000, 200_000] {
            all.extend(stored_nodes_completed(at, at + step));
            at += step;
        }
        assert_eq!(all.len() as u64, at / 256 + at / 65_536);
        assert_eq!(
            NodeId {
                level: 16,
                index: 2
            }
            .tile_below(),
            Base {
                level: 8,
                first: 512,
                count: 256
            }
        );
        assert_eq!(
            NodeId { level: 8, index: 3 }.tile_below(),
            Base {
                level: 0,
                first: 768,
                count: 256
            }
        );
    }

    #[test]
    fn heads_at_gives_the_tree_head_of_each_prefix_asked_for() {
        let hashes: Vec<String> = (0u8..20).map(|i| wcp::canonical::hex(&[i; 32])).collect();
        let leaves: Vec<Hash> = hashes.iter().map(|h| receipt_leaf(h).unwrap()).collect();
        let heads = heads_at(hashes.iter().map(String::as_str), &[7, 1, 20, 7, 25, 0]).unwrap();
        let sizes: Vec<u64> = heads.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            sizes,
            [1, 7, 20],
            "sorted, once each, none beyond the chain"
        );
        for (size, head) in heads {
            assert_eq!(head, crate::merkle::root(&leaves[..size as usize]));
        }
    }
    use crate::merkle::{consistency_proof, inclusion_proof, leaf_hash, root};
    use std::collections::HashMap;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// A node's head the way the server finds it: stored nodes from the
    /// map the edge filled, leaves from the list, others from their base.
    fn head(node: NodeId, leaves: &[Hash], stored: &HashMap<NodeId, Hash>) -> Hash {
        let get = |n: NodeId| -> Hash {
            if n.level == 0 {
                leaves[n.index as usize]
            } else {
                *stored.get(&n).expect("a stored node the edge recorded")
            }
        };
        if node.level == 0 || node.is_stored() {
            return get(node);
        }
        let base: Vec<Hash> = node.base().nodes().map(get).collect();
        assert!(base.len() <= 128);
        perfect_head(&base)
    }

    fn heads_of(
        ranges: &[(u64, u64)],
        leaves: &[Hash],
        stored: &HashMap<NodeId, Hash>,
    ) -> Vec<Hash> {
        ranges
            .iter()
            .map(|&(a, b)| {
                let heads: Vec<Hash> = range_nodes(a, b)
                    .into_iter()
                    .map(|n| head(n, leaves, stored))
                    .collect();
                fold(&heads).unwrap()
            })
            .collect()
    }

    fn grown(all: &[Hash]) -> (Edge, HashMap<NodeId, Hash>) {
        let mut edge = Edge::empty();
        let mut stored = Vec::new();
        for l in all {
            edge.append(*l, &mut stored);
        }
        (edge, stored.into_iter().collect())
    }

    #[test]
    fn the_edge_gives_the_tree_head_at_every_size_and_reads_back_as_written() {
        let all = leaves(600);
        let mut edge = Edge::empty();
        assert_eq!(edge.root(), root(&[]));
        let mut stored = Vec::new();
        for (i, l) in all.iter().enumerate() {
            edge.append(*l, &mut stored);
            assert_eq!(edge.root(), root(&all[..=i]), "size {}", i + 1);
            let again = Edge::from_bytes(edge.size(), &edge.to_bytes()).unwrap();
            assert_eq!(again, edge);
        }
        assert!(Edge::from_bytes(3, &[0u8; 32]).is_err());
        assert!(Edge::from_bytes(0, &[0u8; 32]).is_err());
    }

    #[test]
    fn stored_nodes_are_made_once_when_complete_and_are_their_subtrees_heads() {
        let all = leaves(70_000);
        let (_, stored) = grown(&all);
        // 273 level-8 nodes (70,000 / 256) and one level-16 node.
        assert_eq!(stored.len(), 273 + 1);
        for (node, hash) in &stored {
            let (first, count) = node.leaves();
            let slice = &all[first as usize..(first + count) as usize];
            assert_eq!(*hash, root(slice), "{node:?}");
        }
    }

    #[test]
    fn ranges_decompose_into_aligned_perfect_nodes_whose_fold_is_the_tree_head() {
        let all = leaves(300);
        for n in 1..=300u64 {
            let nodes = range_nodes(0, n);
            assert_eq!(nodes.len(), n.count_ones() as usize);
            let heads: Vec<Hash> = nodes
                .iter()
                .map(|node| {
                    let (first, count) = node.leaves();
                    root(&all[first as usize..(first + count) as usize])
                })
                .collect();
            assert_eq!(fold(&heads).unwrap(), root(&all[..n as usize]));
        }
        assert!(range_nodes(5, 5).is_empty());
        assert_eq!(fold(&[]), None);
    }

    #[test]
    fn proofs_from_stored_nodes_are_the_reference_proofs() {
        let all = leaves(1_100);
        let (_, stored) = grown(&all);
        for size in [1u64, 2, 3, 7, 255, 256, 257, 511, 512, 513, 1000, 1_100] {
            let prefix = &all[..size as usize];
            for index in [0, 1, size / 2, size.saturating_sub(2), size - 1] {
                if index >= size {
                    continue;
                }
                let ranges = inclusion_ranges(index, size).unwrap();
                assert_eq!(
                    heads_of(&ranges, &all, &stored),
                    inclusion_proof(prefix, index as usize).unwrap(),
                    "inclusion of {index} in {size}"
                );
            }
            for old in [1, 2, size / 3 + 1, size / 2 + 1, size - 1, size] {
                if old == 0 || old > size {
                    continue;
                }
                let ranges = consistency_ranges(old, size).unwrap();
                assert_eq!(
                    heads_of(&ranges, &all, &stored),
                    consistency_proof(prefix, old as usize).unwrap(),
                    "consistency {old} → {size}"
                );
            }
        }
        assert_eq!(inclusion_ranges(5, 5), None);
        assert_eq!(consistency_ranges(0, 5), None);
        assert_eq!(consistency_ranges(6, 5), None);
        assert_eq!(consistency_ranges(5, 5), Some(vec![]));
    }

    #[test]
    fn a_receipts_leaf_is_its_hash_as_raw_bytes_and_nothing_else_is_one() {
        let hex = "0e620e3eaa3b09085bdbf4590dd7e38907870abc74708d16231321247238dcc6";
        let mut raw = [0u8; 32];
        for i in 0..32 {
            raw[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        assert_eq!(receipt_leaf(hex), Some(leaf_hash(&raw)));
        assert_eq!(
            receipt_leaf(&hex.to_uppercase()),
            None,
            "lower-case only, as stored"
        );
        assert_eq!(receipt_leaf(&hex[2..]), None);
        assert_eq!(receipt_leaf(&format!("{}zz", &hex[2..])), None);
    }

    #[test]
    fn a_chain_matches_its_checkpoint_and_a_truncated_or_rewritten_one_does_not() {
        let hashes: Vec<String> = (0u8..10)
            .map(|i| wcp::canonical::hex(&crate::merkle::leaf_hash(&[i])))
            .collect();
        let leaves: Vec<Hash> = hashes.iter().map(|h| receipt_leaf(h).unwrap()).collect();
        let head = root(&leaves[..7]);
        let all = || hashes.iter().map(String::as_str);
        assert_eq!(check_against_checkpoint(all().take(7), 7, &head), Ok(()));
        // A later, longer history of the same log passes.
        assert_eq!(check_against_checkpoint(all(), 7, &head), Ok(()));
        assert_eq!(
            check_against_checkpoint(all().take(6), 7, &head),
            Err(NotTheCheckpointsTree::Truncated { have: 6, size: 7 })
        );
        let mut rewritten = hashes.clone();
        rewritten[3] = hashes[4].clone();
        assert_eq!(
            check_against_checkpoint(rewritten.iter().map(String::as_str), 7, &head),
            Err(NotTheCheckpointsTree::RootDiffers { size: 7 })
        );
        assert_eq!(
            check_against_checkpoint(["nothex"], 1, &head),
            Err(NotTheCheckpointsTree::BadHash { index: 0 })
        );
    }

    #[test]
    fn a_node_between_stored_levels_is_the_head_of_at_most_128_below_it() {
        let n = NodeId {
            level: 15,
            index: 3,
        };
        assert_eq!(
            n.base(),
            Base {
                level: 8,
                first: 3 * 128,
                count: 128
            }
        );
        let leafy = NodeId { level: 3, index: 5 };
        assert_eq!(
            leafy.base(),
            Base {
                level: 0,
                first: 40,
                count: 8
            }
        );
        let stored = NodeId {
            level: 16,
            index: 2,
        };
        assert!(stored.is_stored());
        assert_eq!(stored.base().count, 1);
        assert!(!NodeId { level: 0, index: 0 }.is_stored());
    }
}
