//! The Merkle tree of RFC 6962 / RFC 9162 (§2.1), the first step of the
//! verifiable log (issue 14): a tenant's receipts are the leaves, in chain
//! order, each leaf being the 32 raw bytes of the receipt's hash. Pure: the
//! hashes, the tree head of a list of leaves, inclusion and consistency
//! proofs over such a list, and their verification exactly as RFC 9162
//! §2.1.3.2 and §2.1.4.2 describe it — so a proof made here verifies with
//! any implementation of those texts, and one made elsewhere verifies here.
//!
//! Proofs here are made from a whole list of leaf hashes (O(n)): the
//! reference that [`crate::tree`], which answers them from stored nodes in
//! O(log n), is tested against.

use sha2::{Digest, Sha256};

/// A node of the tree: SHA-256.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an inner node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n` ≥ 2): where RFC 6962
/// splits a tree of `n` leaves.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The tree head (MTH) of the leaves whose hashes are `leaves`; the hash of
/// the empty string for none.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof (audit path, RFC 6962 §2.1.1) of leaf `index` in
/// the tree of `leaves`; `None` when there is no such leaf.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// The consistency proof (RFC 6962 §2.1.2) that the tree of the first
/// `old_size` of `leaves` is a prefix of the tree of all of them; `None`
/// when `old_size` is 0 or larger than the tree. Empty when the sizes are
/// equal.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    subproof(old_size, leaves, true, &mut proof);
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], whole, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes for these sizes")]
    WrongLength,
    #[error("the proof does not lead to the root")]
    RootMismatch,
    #[error(
        "tree sizes {old} and {new} cannot be proven consistent (the first must be 1 to {new})"
    )]
    BadSizes { old: u64, new: u64 },
}

/// Shifts `fn_` and `sn` right together until `fn_`'s lowest bit is set
/// or it is 0 (RFC 9162's "right-shift both equally until …").
fn shift_until_odd_or_zero(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Verifies that `leaf` (a leaf hash) is at `index` of the tree of `size`
/// whose head is `root`, by `proof` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_until_odd_or_zero(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `old_size` with head `old_root` is a prefix
/// of the tree of `new_size` with head `new_root`, by `proof` (RFC 9162
/// §2.1.4.2; equal sizes need an empty proof and equal heads).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    // A power-of-two old tree is itself a node of the new one: its head
    // starts the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_until_odd_or_zero(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Hash {
        let v: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    }

    fn hexes(s: &str) -> Vec<Hash> {
        s.split_whitespace().map(unhex).collect()
    }

    /// The leaves of the reference test vectors of RFC 6962's
    /// implementation (certificate-transparency), as leaf hashes.
    fn vector_leaves() -> Vec<Hash> {
        let raw: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        raw.iter().map(|l| leaf_hash(l)).collect()
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn the_tree_heads_are_the_published_vectors() {
        let leaves = vector_leaves();
        for (n, expected) in ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..=n]), unhex(expected), "size {}", n + 1);
        }
        assert_eq!(
            root(&[]),
            unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn inclusion_proofs_are_the_published_vectors_and_verify() {
        let leaves = vector_leaves();
        let cases = [
            (0, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7 5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e 6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            (5, 8, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            (2, 3, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            (1, 5, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d 5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            (0, 1, ""),
        ];
        for (index, size, expected) in cases {
            let proof = inclusion_proof(&leaves[..size], index).unwrap();
            assert_eq!(proof, hexes(expected), "leaf {index} of {size}");
            let head = unhex(ROOTS[size - 1]);
            assert_eq!(
                verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &head),
                Ok(())
            );
        }
    }

    #[test]
    fn consistency_proofs_are_the_published_vectors_and_verify() {
        let leaves = vector_leaves();
        let cases = [
            (1, 1, ""),
            (1, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7 5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e 6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            (6, 8, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            (2, 5, "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ];
        for (old, new, expected) in cases {
            let proof = consistency_proof(&leaves[..new], old).unwrap();
            assert_eq!(proof, hexes(expected), "{old} → {new}");
            let (a, b) = (unhex(ROOTS[old - 1]), unhex(ROOTS[new - 1]));
            assert_eq!(
                verify_consistency(old as u64, new as u64, &a, &b, &proof),
                Ok(())
            );
        }
    }

    /// Leaf hashes of a tree of `n` leaves (any bytes will do).
    fn tree(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies_and_no_changed_one_does() {
        for n in 1..=33usize {
            let leaves = tree(n);
            let head = root(&leaves);
            for i in 0..n {
                let proof = inclusion_proof(&leaves, i).unwrap();
                let (idx, n64) = (i as u64, n as u64);
                assert_eq!(
                    verify_inclusion(&leaves[i], idx, n64, &proof, &head),
                    Ok(())
                );
                // Another leaf, another index, a changed hash, a short proof: refused.
                let other = leaf_hash(b"not in the tree");
                assert!(verify_inclusion(&other, idx, n64, &proof, &head).is_err());
                if n > 1 {
                    let j = (idx + 1) % n64;
                    assert!(verify_inclusion(&leaves[i], j, n64, &proof, &head).is_err());
                    let mut changed = proof.clone();
                    changed[0][0] ^= 1;
                    assert!(verify_inclusion(&leaves[i], idx, n64, &changed, &head).is_err());
                    assert!(verify_inclusion(&leaves[i], idx, n64, &proof[1..], &head).is_err());
                }
                let mut longer = proof.clone();
                longer.push(head);
                assert!(verify_inclusion(&leaves[i], idx, n64, &longer, &head).is_err());
            }
            for m in 1..=n {
                let proof = consistency_proof(&leaves, m).unwrap();
                let old = root(&leaves[..m]);
                let (m64, n64) = (m as u64, n as u64);
                assert_eq!(verify_consistency(m64, n64, &old, &head, &proof), Ok(()));
                // A rewritten history (another old head) is refused.
                let forged = leaf_hash(b"rewritten");
                assert!(verify_consistency(m64, n64, &forged, &head, &proof).is_err());
                if !proof.is_empty() {
                    let mut changed = proof.clone();
                    changed[proof.len() - 1][5] ^= 0x80;
                    assert!(verify_consistency(m64, n64, &old, &head, &changed).is_err());
                }
            }
        }
    }

    #[test]
    fn impossible_sizes_are_refused_not_panicked_on() {
        let leaves = tree(4);
        let head = root(&leaves);
        assert_eq!(inclusion_proof(&leaves, 4), None);
        assert_eq!(consistency_proof(&leaves, 0), None);
        assert_eq!(consistency_proof(&leaves, 5), None);
        assert!(matches!(
            verify_inclusion(&leaves[0], 4, 4, &[], &head),
            Err(ProofError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            verify_consistency(0, 4, &head, &head, &[]),
            Err(ProofError::BadSizes { .. })
        ));
        assert!(matches!(
            verify_consistency(5, 4, &head, &head, &[head]),
            Err(ProofError::BadSizes { .. })
        ));
        assert!(verify_consistency(2, 4, &head, &head, &[]).is_err());
        assert!(verify_inclusion(&leaves[0], 0, u64::MAX, &[head; 70], &head).is_err());
    }
}
