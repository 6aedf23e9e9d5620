//! Witnesses of the verifiable log (issue 14, docs/audit.md): the keys a
//! tenant trusts to cosign its checkpoints (C2SP tlog-cosignature), the
//! operator's trusted for every tenant (`HALL_WITNESS_KEYS`), and the
//! cosignatures they send, checked against the checkpoint this registry
//! issued before they are stored and served with it.

use audit::cosignature::{cosignatures, WitnessKey};
use audit::note::{Checkpoint, NoteError};
use registry::checkpoints::{StoredCheckpoint, StoredCosignature, StoredWitness, WitnessInsert};
use registry::StoreError;
use wcp::TenantId;

use crate::Hall;

/// How far in the future a cosignature's time may be (clock skew).
const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Most witnesses a tenant may register: each adds a line to every
/// checkpoint it cosigns, and a note carries at most 100 (C2SP signed-note
/// readers cap them).
pub const MAX_WITNESSES: usize = 20;

/// A witness as the tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub key: WitnessKey,
    /// Registered by the tenant (with when), or configured by the operator.
    pub registered: Registered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    Tenant(chrono::DateTime<chrono::Utc>),
    Operator,
}

/// Why a witness is not registered or removed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("you have a witness named {0:?}, or one with this key, already (a key is one witness: a cosignature does not name its witness); remove it first to change it")]
    Exists(String),
    #[error("you have {MAX_WITNESSES} witnesses, the most a tenant may have; remove one first")]
    TooMany,
    #[error("{0:?} (or its key) is one of the operator's witnesses (HALL_WITNESS_KEYS), trusted for every tenant already")]
    Operator(String),
    #[error("you have no witness named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a cosignature is refused.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    #[error("not a cosigned checkpoint: {0}")]
    Malformed(NoteError),
    #[error("the cosignature of witness {0:?} does not verify over this checkpoint")]
    BadCosignature(String),
    #[error("a checkpoint of another log ({0:?}); yours is {1:?}")]
    OtherLog(String, String),
    #[error("no checkpoint of size {0} was issued for your tree")]
    UnknownCheckpoint(u64),
    #[error("the checkpoint of size {0} differs from the one this registry issued for that size — a witness holding it has seen another history")]
    Differs(u64),
    #[error("no cosignature by one of your witnesses (GET /api/v1/audit/witnesses): {0}")]
    NoWitness(String),
    #[error(
        "witness {0:?} dated its cosignature {1}, more than {MAX_CLOCK_SKEW_SECS} s in the future"
    )]
    FromTheFuture(String, u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn tenant_witness(w: StoredWitness) -> Result<Witness, StoreError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&w.public_key)
        .map_err(|_| StoreError::Corrupt(format!("the key of witness {}", w.name)))?;
    let key = WitnessKey::new(&w.name, key)
        .map_err(|e| StoreError::Corrupt(format!("witness {}: {e}", w.name)))?;
    if key.key_id() != w.key_id {
        return Err(StoreError::Corrupt(format!(
            "the key id of witness {}",
            w.name
        )));
    }
    Ok(Witness {
        key,
        registered: Registered::Tenant(w.created_at),
    })
}

impl Hall {
    /// The (name, key id) of every witness the tenant trusts now.
    pub(crate) async fn trusted_witness_keys(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(String, [u8; 4])>, StoreError> {
        let mut keys: Vec<(String, [u8; 4])> = self
            .operator_witnesses
            .iter()
            .map(|w| (w.name().to_string(), w.key_id()))
            .collect();
        for w in self.store.tenant(tenant).witnesses().await? {
            keys.push((w.name, w.key_id));
        }
        Ok(keys)
    }

    /// The tenant's witnesses: the operator's, then its own by name.
    pub async fn witnesses(&self, tenant: &TenantId) -> Result<Vec<Witness>, StoreError> {
        let mut all: Vec<Witness> = self
            .operator_witnesses
            .iter()
            .map(|key| Witness {
                key: key.clone(),
                registered: Registered::Operator,
            })
            .collect();
        for w in self.store.tenant(tenant).witnesses().await? {
            all.push(tenant_witness(w)?);
        }
        Ok(all)
    }

    /// Registers a witness the tenant trusts to cosign its checkpoints.
    pub async fn register_witness(
        &self,
        tenant: &TenantId,
        key: WitnessKey,
    ) -> Result<Witness, WitnessError> {
        if self
            .operator_witnesses
            .iter()
            .any(|w| w.name() == key.name() || w.public_key() == key.public_key())
        {
            return Err(WitnessError::Operator(key.name().to_string()));
        }
        let stored = match self
            .store
            .tenant(tenant)
            .insert_witness(key.name(), key.key_id(), key.public_key(), MAX_WITNESSES)
            .await?
        {
            WitnessInsert::Inserted(stored) => stored,
            WitnessInsert::Exists => return Err(WitnessError::Exists(key.name().to_string())),
            WitnessInsert::Full => return Err(WitnessError::TooMany),
        };
        Ok(Witness {
            key,
            registered: Registered::Tenant(stored.created_at),
        })
    }

    /// Removes one of the tenant's witnesses (its cosignatures stay).
    pub async fn remove_witness(&self, tenant: &TenantId, name: &str) -> Result<(), WitnessError> {
        if self.operator_witnesses.iter().any(|w| w.name() == name) {
            return Err(WitnessError::Operator(name.to_string()));
        }
        if self.store.tenant(tenant).delete_witness(name).await? {
            Ok(())
        } else {
            Err(WitnessError::NotFound(name.to_string()))
        }
    }

    /// Takes the cosignatures on `note` (a checkpoint this registry issued,
    /// with one or more witnesses' signature lines) by the tenant's
    /// witnesses, verified over the checkpoint as issued, and stores them;
    /// the checkpoint with every cosignature it has now.
    pub async fn cosign_checkpoint(
        &self,
        tenant: &TenantId,
        note: &str,
        now: u64,
    ) -> Result<StoredCheckpoint, CosignError> {
        let witnesses: Vec<WitnessKey> = self
            .witnesses(tenant)
            .await?
            .into_iter()
            .map(|w| w.key)
            .collect();
        let (text, found) = cosignatures(note, &witnesses).map_err(|e| match e {
            NoteError::BadSignature(name) => CosignError::BadCosignature(name),
            e => CosignError::Malformed(e),
        })?;
        let checkpoint = Checkpoint::parse(&text).map_err(CosignError::Malformed)?;
        let store = self.store.tenant(tenant);
        let size = i64::try_from(checkpoint.size).unwrap_or(i64::MAX);
        let Some(issued) = store.checkpoints(Some(size), None, 1).await?.pop() else {
            let ours = self.log_origin.of(tenant);
            return Err(if checkpoint.origin != ours {
                CosignError::OtherLog(checkpoint.origin, ours)
            } else {
                CosignError::UnknownCheckpoint(checkpoint.size)
            });
        };
        let issued_text = issued.note.split_once("\n\n").map(|(t, _)| t);
        if issued_text.map(|t| format!("{t}\n")) != Some(text) {
            let signed_origin = issued.note.lines().next().unwrap_or_default();
            return Err(if checkpoint.origin != signed_origin {
                CosignError::OtherLog(checkpoint.origin, signed_origin.to_string())
            } else {
                CosignError::Differs(checkpoint.size)
            });
        }
        if found.is_empty() {
            let names: Vec<&str> = witnesses.iter().map(WitnessKey::name).collect();
            return Err(CosignError::NoWitness(if names.is_empty() {
                "you have registered none".to_string()
            } else {
                format!("yours are {}", names.join(", "))
            }));
        }
        if let Some(c) = found
            .iter()
            .find(|c| c.timestamp > now + MAX_CLOCK_SKEW_SECS)
        {
            return Err(CosignError::FromTheFuture(c.witness.clone(), c.timestamp));
        }
        let rows: Vec<StoredCosignature> = found
            .into_iter()
            .map(|c| StoredCosignature {
                witness: c.witness,
                key_id: c.key_id,
                signed_at: c.timestamp,
                line: c.line,
            })
            .collect();
        store.insert_cosignatures(checkpoint.size, &rows).await?;
        Ok(store
            .checkpoints(Some(size), None, 1)
            .await?
            .pop()
            .unwrap_or(issued))
    }
}
