//! The verifiable log (issue 14, docs/audit.md): each tenant's receipts are
//! the leaves of an RFC 9162 Merkle tree (kept by the receipt writer,
//! `registry::tree`); this issues signed checkpoints of it (C2SP
//! `tlog-checkpoint` in a C2SP signed note, with the receipt key) and
//! answers inclusion and consistency proofs.

use std::time::Duration;

use audit::merkle::Hash;
use audit::note::{Checkpoint, NoteSigner, NoteVerifier};
use audit::tree::{consistency_ranges, inclusion_ranges};
use registry::checkpoints::StoredCheckpoint;
use registry::StoreError;
use uuid::Uuid;
use wcp::TenantId;

use crate::Hall;

/// The name of the registry's log (`HALL_LOG_ORIGIN`): a schema-less URL
/// such as `registry.example.com/hall`, one line, no space and no `+` (it
/// is also the key name checkpoints are signed under, C2SP signed-note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOrigin(String);

impl Default for LogOrigin {
    fn default() -> Self {
        LogOrigin("hall-registry".to_string())
    }
}

/// Why a log origin is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a log origin is 1–200 printable characters without spaces or '+' (e.g. registry.example.com/hall), not {0:?}")]
pub struct BadLogOrigin(pub String);

impl LogOrigin {
    pub fn parse(s: &str) -> Result<Self, BadLogOrigin> {
        let ok =
            !s.is_empty() && s.len() <= 200 && s.chars().all(|c| c.is_ascii_graphic() && c != '+');
        if ok {
            Ok(LogOrigin(s.to_string()))
        } else {
            Err(BadLogOrigin(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin line of `tenant`'s checkpoints.
    pub fn of(&self, tenant: &TenantId) -> String {
        format!("{}/{}", self.0, tenant)
    }
}

/// Which checkpoint "latest" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Witnessed<'a> {
    /// The latest issued.
    Any,
    /// The latest one of the tenant's trusted witnesses cosigned.
    ByOneOf,
    /// The latest this trusted witness cosigned.
    By(&'a str),
}

/// The checkpoint with only the cosignatures of `trusted` witness keys: a
/// removed witness's lines are kept in the table, not served.
fn keep_trusted(mut c: StoredCheckpoint, trusted: &[(String, [u8; 4])]) -> StoredCheckpoint {
    c.cosignatures.retain(|s| {
        trusted
            .iter()
            .any(|(n, id)| *n == s.witness && *id == s.key_id)
    });
    c
}

/// How many trees one round checkpoints at most.
const TREES_PER_ROUND: i64 = 500;

/// An inclusion proof (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
}

/// A consistency proof (RFC 9162 §2.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub hashes: Vec<Hash>,
}

/// Why no proof.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("no receipt {0} in your chain")]
    UnknownReceipt(Uuid),
    #[error("tree size {asked} is beyond your tree, which has {size} receipts")]
    BeyondTree { asked: u64, size: u64 },
    #[error("receipt {receipt} is leaf {leaf_index}, not in the tree of size {tree_size}; ask for a larger tree_size (the next checkpoint will cover it)")]
    NotYetIncluded {
        receipt: Uuid,
        leaf_index: u64,
        tree_size: u64,
    },
    #[error("receipt {receipt} is newer than your latest checkpoint (of {tree_size}); the next one, within HALL_CHECKPOINT_INTERVAL, covers it — or ask for a tree_size")]
    NotYetCheckpointed { receipt: Uuid, tree_size: u64 },
    #[error("from must be 1 to `to` ({to}), not {from}")]
    BadSizes { from: u64, to: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Hall {
    /// The verifier key (C2SP `vkey`) checkpoints are signed with now.
    pub fn log_verifier(&self) -> Result<NoteVerifier, audit::note::NoteError> {
        let key = self.receipts.key();
        NoteVerifier::new(self.log_origin.as_str(), key.key.verifying_key())
    }

    /// Signs and stores a checkpoint of every tree that has grown since its
    /// last one; how many were stored.
    pub async fn issue_checkpoints(&self) -> Result<usize, StoreError> {
        let grown = self.store.trees_to_checkpoint(TREES_PER_ROUND).await?;
        if grown.is_empty() {
            return Ok(0);
        }
        let key = self.receipts.key();
        let signer = NoteSigner::new(self.log_origin.as_str(), key.key.clone())
            .map_err(|e| StoreError::Corrupt(format!("the log's signing key: {e}")))?;
        let mut stored = 0;
        for (tenant, head) in grown {
            let note = match Checkpoint::new(&self.log_origin.of(&tenant), head.size, head.root)
                .and_then(|c| signer.sign(&c.to_text()))
            {
                Ok(note) => note,
                // One tenant's trouble does not hold up the others' checkpoints.
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = %e, "cannot sign a checkpoint");
                    continue;
                }
            };
            if self
                .store
                .tenant(&tenant)
                .insert_checkpoint(&head, &note, &key.kid)
                .await?
            {
                stored += 1;
            }
        }
        Ok(stored)
    }

    /// The tenant's latest checkpoint, with the cosignatures of the
    /// witnesses it trusts now. With `witnessed`, the latest one one of
    /// them cosigned — or, naming one (`Some(name)`), the latest that one
    /// cosigned (`None` when it trusts no witness of that name).
    pub async fn latest_checkpoint(
        &self,
        tenant: &TenantId,
        witnessed: Witnessed<'_>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let trusted = self.trusted_witness_keys(tenant).await?;
        let by: Option<Vec<(String, [u8; 4])>> = match witnessed {
            Witnessed::Any => None,
            Witnessed::ByOneOf => Some(trusted.clone()),
            Witnessed::By(name) => {
                let one: Vec<_> = trusted.iter().filter(|(n, _)| n == name).cloned().collect();
                if one.is_empty() {
                    return Ok(None);
                }
                Some(one)
            }
        };
        let latest = self
            .store
            .tenant(tenant)
            .latest_checkpoint(by.as_deref())
            .await?;
        Ok(latest.map(|c| keep_trusted(c, &trusted)))
    }

    /// The tenant's checkpoints, largest first (of `size` only, when given).
    pub async fn checkpoints(
        &self,
        tenant: &TenantId,
        size: Option<u64>,
        before: Option<u64>,
        limit: wcp::PageLimit,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let trusted = self.trusted_witness_keys(tenant).await?;
        let list = self
            .store
            .tenant(tenant)
            .checkpoints(size.map(signed), before.map(signed), limit.as_i64())
            .await?;
        Ok(list
            .into_iter()
            .map(|c| keep_trusted(c, &trusted))
            .collect())
    }

    /// The size proofs are made against when none is asked for: the latest
    /// checkpoint's (so the proof checks against a signed head), or the
    /// committed tree's before the first checkpoint.
    async fn default_tree_size(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        match self.store.tenant(tenant).latest_checkpoint(None).await? {
            Some(c) => Ok(c.tree_size),
            None => Ok(self.store.tenant(tenant).tree_head().await?.size),
        }
    }

    /// The inclusion proof of the tenant's receipt `receipt_id` in its tree
    /// of `tree_size` (default: the latest checkpoint's).
    pub async fn inclusion_proof(
        &self,
        tenant: &TenantId,
        receipt_id: Uuid,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, ProofError> {
        let store = self.store.tenant(tenant);
        let leaf_index = store
            .leaf_index(receipt_id)
            .await?
            .ok_or(ProofError::UnknownReceipt(receipt_id))?;
        // The default before the tree head: a checkpoint issued in between
        // is then still within the head read after it.
        let (tree_size, asked) = match tree_size {
            Some(t) => (t, true),
            None => (self.default_tree_size(tenant).await?, false),
        };
        let size = store.tree_head().await?.size;
        if tree_size > size {
            return Err(ProofError::BeyondTree {
                asked: tree_size,
                size,
            });
        }
        let Some(ranges) = inclusion_ranges(leaf_index, tree_size) else {
            return Err(if asked {
                ProofError::NotYetIncluded {
                    receipt: receipt_id,
                    leaf_index,
                    tree_size,
                }
            } else {
                ProofError::NotYetCheckpointed {
                    receipt: receipt_id,
                    tree_size,
                }
            });
        };
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            hashes: store.range_heads(&ranges).await?,
        })
    }

    /// The proof that the tenant's tree of `from` is a prefix of its tree
    /// of `to` (default: the latest checkpoint's size).
    pub async fn consistency_proof(
        &self,
        tenant: &TenantId,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProof, ProofError> {
        let store = self.store.tenant(tenant);
        let to = match to {
            Some(t) => t,
            None => self.default_tree_size(tenant).await?,
        };
        let size = store.tree_head().await?.size;
        if to > size {
            return Err(ProofError::BeyondTree { asked: to, size });
        }
        let ranges = consistency_ranges(from, to).ok_or(ProofError::BadSizes { from, to })?;
        Ok(ConsistencyProof {
            from,
            to,
            hashes: store.range_heads(&ranges).await?,
        })
    }
}

/// Issues checkpoints every `every` (`HALL_CHECKPOINT_INTERVAL`) in the
/// background until the store closes: while receipts arrive, a tree's
/// newest checkpoint is at most about `every` behind its committed head.
pub fn issue_checkpoints_forever(hall: Hall, every: Duration) {
    crate::every(
        hall,
        every,
        "issue the audit checkpoints",
        |hall| async move {
            // Trees behind their chains (written before the tree existed) are
            // caught up first, a bounded step per round.
            hall.store.catch_up_trees().await?;
            hall.issue_checkpoints().await.map(|_| ())
        },
    );
}
