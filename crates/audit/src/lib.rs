//! Audit receipts (WCP §5.7): canonical serialisation, the per-tenant hash
//! chain, Ed25519 signing and offline verification. Pure, so `hallctl` can
//! verify an export with nothing but the registry's published public keys.
//!
//! - `receipt_hash` = SHA-256 (hex) of the canonical JSON of the receipt
//!   without `receipt_hash` and `signature` (keys sorted, compact, non-ASCII
//!   escaped — [`wcp::canonical::to_canonical_json`]); the pinned WCP spec
//!   version is inside (`spec_version`).
//! - `signature` = Ed25519 over the 32 raw bytes of that hash, base64.
//! - `prev_receipt_hash` = the previous receipt's hash in the tenant's chain
//!   (null for the first).
//! - `receipt_version` = the format ([`ReceiptVersion`]): absent on version
//!   1, `2` on receipts that record the acting API key (`acting_key_id`),
//!   `3` on the router's receipts, which add the route evidence
//!   (`matched_rule_id`, `rules_version`, `rules_sha256`,
//!   `selected_worker_species_id`). All verify; the hash covers whichever
//!   fields the receipt has.
//!
//! A chain grows only through [`ChainHead::append`]: the head (the last
//! receipt's hash and the chain's length, or [`ChainHead::GENESIS`]), a
//! receipt's content and a [`ReceiptKey`] give the sealed receipt — linked,
//! stamped with the key's id, hashed and signed — and the new head. It does
//! no I/O: the registry's receipt writer reads the heads and stores the
//! rows; how a receipt is linked and sealed is decided here, next to the
//! verifier that checks it.

pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod tree;

use std::collections::{HashMap, HashSet};

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A sealed receipt: its content, the hash of that content and the
/// signature over the hash. On the wire the three are one flat object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    #[serde(flatten)]
    pub content: UnsignedReceipt,
    pub receipt_hash: String,
    pub signature: String,
}

/// What was decided: serialized `"ALLOW"` / `"DENY"`, as receipts always
/// were, so their canonical bytes, hashes and signatures do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Allow,
    Deny,
}

impl Outcome {
    /// `Deny` when `denied`, else `Allow`.
    pub fn of(denied: bool) -> Self {
        if denied {
            Self::Deny
        } else {
            Self::Allow
        }
    }

    pub fn is_deny(self) -> bool {
        self == Self::Deny
    }

    /// The wire spelling: `"ALLOW"` or `"DENY"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "ALLOW",
            Self::Deny => "DENY",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The receipt format (`receipt_version`). Version 1 is every receipt from
/// before the acting key was recorded: it has no `receipt_version` field at
/// all, so those receipts hash exactly as they were sealed. Version 2
/// (`"receipt_version": 2`) adds `acting_key_id`; version 3 (the router's
/// receipts) adds the route evidence. A verifier reads all three; a
/// version it does not know fails to parse, naming the version, rather than
/// failing its hash over fields it would drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub enum ReceiptVersion {
    /// No `receipt_version` field, no `acting_key_id`.
    #[default]
    V1,
    /// `"receipt_version": 2`, with `acting_key_id`.
    V2,
    /// `"receipt_version": 3`: a route decision's receipt, with the route
    /// evidence. A verifier that knows only 1 and 2 refuses it by version
    /// instead of failing its hash over the fields it would drop.
    V3,
}

impl ReceiptVersion {
    /// The version the registry seals new receipts in.
    pub const CURRENT: ReceiptVersion = ReceiptVersion::V2;

    /// Version 1 is written by leaving the field out.
    pub fn is_v1(&self) -> bool {
        *self == ReceiptVersion::V1
    }
}

/// A `receipt_version` this code does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "receipt_version {0} is not one this verifier knows (1, 2 or 3); a newer hallctl or client reads it"
)]
pub struct UnknownReceiptVersion(pub u64);

impl TryFrom<u64> for ReceiptVersion {
    type Error = UnknownReceiptVersion;

    fn try_from(v: u64) -> Result<Self, Self::Error> {
        match v {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            3 => Ok(Self::V3),
            other => Err(UnknownReceiptVersion(other)),
        }
    }
}

impl From<ReceiptVersion> for u64 {
    fn from(v: ReceiptVersion) -> u64 {
        match v {
            ReceiptVersion::V1 => 1,
            ReceiptVersion::V2 => 2,
            ReceiptVersion::V3 => 3,
        }
    }
}

/// The receipt's content before it is hashed and signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnsignedReceipt {
    /// The format; absent (version 1) on receipts from before
    /// `acting_key_id`, so they hash as they always did.
    #[serde(default, skip_serializing_if = "ReceiptVersion::is_v1")]
    pub receipt_version: ReceiptVersion,
    pub receipt_id: String,
    pub spec_version: String,
    pub tenant_id: String,
    pub correlation_id: String,
    pub decided_at: String,
    pub worker_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
    pub outcome: Outcome,
    pub deny_code: Option<String>,
    pub tier: u8,
    pub policy_version: String,
    pub controls_verified: Vec<String>,
    pub request_hash: Option<String>,
    pub dry_run: bool,
    pub prev_receipt_hash: Option<String>,
    pub signing_key_id: String,
    /// The human approval (WCP §5.8) this decision used, or the pending one
    /// it opened. Absent otherwise, so receipts without one hash as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Version 2 on: the public id (a UUID, as `GET /api/v1/api-keys` lists
    /// it) of the API key that asked for the decision — a session's key for
    /// a session. Signed like every other field. Absent on version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_key_id: Option<String>,
    /// Version 3 on (route decisions): the routing rule that matched, or
    /// `NO_MATCH`. Absent on decisions about a named worker, so their
    /// receipts hash as before; likewise the three fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_rule_id: Option<String>,
    /// The version of the tenant's routing rules in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_version: Option<String>,
    /// SHA-256 (hex) of that rules version's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_sha256: Option<String>,
    /// The species of the worker the router selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_worker_species_id: Option<String>,
}

use wcp::canonical::hex;

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let v: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect();
    v?.try_into().ok()
}

/// The canonical bytes that `receipt_hash` covers.
pub fn canonical_bytes(content: &UnsignedReceipt) -> Vec<u8> {
    canonical_json(content).into_bytes()
}

/// The canonical JSON of `content`: what [`wcp::canonical::to_canonical_json`]
/// makes of its `serde_json` value (a property test holds the two equal),
/// written field by field because every receipt is sealed with it.
fn canonical_json(content: &UnsignedReceipt) -> String {
    // Every field, so one added to the receipt does not compile until it is
    // written here too.
    let UnsignedReceipt {
        receipt_version,
        receipt_id,
        spec_version,
        tenant_id,
        correlation_id,
        decided_at,
        worker_id,
        capability_id,
        env,
        data_label,
        outcome,
        deny_code,
        tier,
        policy_version,
        controls_verified,
        request_hash,
        dry_run,
        prev_receipt_hash,
        signing_key_id,
        approval_id,
        acting_key_id,
        matched_rule_id,
        rules_version,
        rules_sha256,
        selected_worker_species_id,
    } = content;
    let mut out = String::with_capacity(1024);
    let mut o = wcp::canonical::CanonicalObject::start(&mut out);
    // Keys in code-point order, as the canonical form sorts them.
    o.string_if_some("acting_key_id", acting_key_id.as_deref())
        .string_if_some("approval_id", approval_id.as_deref())
        .string("capability_id", capability_id)
        .strings("controls_verified", controls_verified)
        .string("correlation_id", correlation_id)
        .string("data_label", data_label)
        .string("decided_at", decided_at)
        .string_or_null("deny_code", deny_code.as_deref())
        .boolean("dry_run", *dry_run)
        .string("env", env)
        .string_if_some("matched_rule_id", matched_rule_id.as_deref())
        .string("outcome", outcome.as_str())
        .string("policy_version", policy_version)
        .string_or_null("prev_receipt_hash", prev_receipt_hash.as_deref())
        .string("receipt_id", receipt_id);
    if !receipt_version.is_v1() {
        o.unsigned("receipt_version", u64::from(*receipt_version));
    }
    o.string_or_null("request_hash", request_hash.as_deref())
        .string_if_some("rules_sha256", rules_sha256.as_deref())
        .string_if_some("rules_version", rules_version.as_deref())
        .string_if_some(
            "selected_worker_species_id",
            selected_worker_species_id.as_deref(),
        )
        .string("signing_key_id", signing_key_id)
        .string("spec_version", spec_version)
        .string("tenant_id", tenant_id)
        .unsigned("tier", u64::from(*tier))
        .string("worker_id", worker_id);
    o.end();
    out
}

/// Hashes and signs a receipt.
pub fn seal(content: UnsignedReceipt, key: &SigningKey) -> Receipt {
    seal_with_json(content, key).0
}

/// [`seal`], with the sealed receipt's JSON text: its canonical content
/// with `receipt_hash` and `signature` added as its last two fields (so
/// the text is not itself canonical; the hash covers the content only).
/// The registry stores this text, written once rather than serialized
/// again from the receipt.
fn seal_with_json(content: UnsignedReceipt, key: &SigningKey) -> (Receipt, String) {
    let mut json = canonical_json(&content);
    let digest: [u8; 32] = Sha256::digest(json.as_bytes()).into();
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&digest).to_bytes());
    let receipt_hash = hex(&digest);
    // Hex and base64 need no escaping.
    json.pop();
    json.push_str(",\"receipt_hash\":\"");
    json.push_str(&receipt_hash);
    json.push_str("\",\"signature\":\"");
    json.push_str(&signature);
    json.push_str("\"}");
    let receipt = Receipt {
        content,
        receipt_hash,
        signature,
    };
    (receipt, json)
}

/// A receipt signing key and its id (`kid`, the `signing_key_id` receipts
/// sealed with it carry; [`key_id`] of its public key).
#[derive(Clone)]
pub struct ReceiptKey {
    pub kid: String,
    pub key: SigningKey,
}

impl ReceiptKey {
    /// The key, named by [`key_id`].
    pub fn new(key: SigningKey) -> Self {
        Self {
            kid: key_id(&key.verifying_key()),
            key,
        }
    }
}

/// Where a tenant's chain ends: the hash of its last receipt and how many
/// receipts it holds. A chain without receipts is [`ChainHead::GENESIS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainHead {
    /// The last receipt's `receipt_hash`; `None` before the first.
    pub hash: Option<String>,
    /// The number of receipts in the chain: the last one's position (from 1).
    pub length: u64,
}

impl ChainHead {
    /// The head of a chain with no receipts yet.
    pub const GENESIS: ChainHead = ChainHead {
        hash: None,
        length: 0,
    };

    /// Appends `content` to the chain ending here, sealed with `key`: links
    /// it to this head (`prev_receipt_hash`), stamps the key's id
    /// (`signing_key_id`), hashes and signs it (as [`seal`]). The head moves
    /// onto the new receipt, whose position is the new `length`. Whatever
    /// `content` said of its link and key is replaced.
    pub fn append(&mut self, content: UnsignedReceipt, key: &ReceiptKey) -> Receipt {
        self.append_with_json(content, key).0
    }

    /// [`ChainHead::append`], with the sealed receipt's JSON text (its
    /// canonical content, then `receipt_hash` and `signature`): what the
    /// registry stores, so the receipt is not serialized a second time.
    pub fn append_with_json(
        &mut self,
        mut content: UnsignedReceipt,
        key: &ReceiptKey,
    ) -> (Receipt, String) {
        content.prev_receipt_hash = self.hash.take();
        content.signing_key_id.clone_from(&key.kid);
        let (receipt, json) = seal_with_json(content, &key.key);
        self.hash = Some(receipt.receipt_hash.clone());
        self.length += 1;
        (receipt, json)
    }
}

/// Why a chain does not verify, naming the first broken receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("receipt {index} ({receipt_id}): receipt_hash does not match its content (expected {computed})")]
    HashMismatch {
        index: usize,
        receipt_id: String,
        computed: String,
    },
    #[error("receipt {index} ({receipt_id}): prev_receipt_hash {found:?} does not link to the previous receipt ({expected:?})")]
    BrokenLink {
        index: usize,
        receipt_id: String,
        expected: Option<String>,
        found: Option<String>,
    },
    #[error("receipt {index} ({receipt_id}): signed with unknown key {kid}")]
    UnknownKey {
        index: usize,
        receipt_id: String,
        kid: String,
    },
    #[error("receipt {index} ({receipt_id}): the signature does not verify with key {kid}")]
    BadSignature {
        index: usize,
        receipt_id: String,
        kid: String,
    },
    #[error("receipt {index} ({receipt_id}): belongs to tenant {found}, not {expected}")]
    WrongTenant {
        index: usize,
        receipt_id: String,
        expected: String,
        found: String,
    },
    /// The store has no receipt at this position although the chain is
    /// longer: a receipt was deleted, or the chain cut short.
    #[error("receipt {index}: missing (the chain is {length} long but has no receipt here)")]
    Missing { index: usize, length: u64 },
    /// The store holds something at this position that is not a receipt.
    #[error("receipt {index}: not a well-formed receipt ({reason})")]
    Unreadable { index: usize, reason: String },
    /// The chain's recorded head (its length and last hash) is not where
    /// its verified receipts end: the head was rewritten, or receipts were
    /// removed from the end.
    #[error("receipt {index}: the chain's head records {recorded_length} receipts ending {recorded_hash:?}, but its verified receipts are {verified_length} ending {verified_hash:?}")]
    HeadMismatch {
        index: usize,
        recorded_length: u64,
        recorded_hash: Option<String>,
        verified_length: u64,
        verified_hash: Option<String>,
    },
    /// A receipt is stored past the chain's recorded end: the head was
    /// wound back over receipts that are still there.
    #[error("receipt {index}: stored past the chain's recorded end ({length} receipts)")]
    BeyondHead { index: usize, length: u64 },
    /// A column stored beside the receipt (what lookups and the decision
    /// log read) says something else than the signed receipt.
    #[error(
        "receipt {index} ({receipt_id}): its stored {column} is not what the signed receipt says"
    )]
    ColumnMismatch {
        index: usize,
        receipt_id: String,
        column: &'static str,
    },
    /// The receipt tree (a stored node, or the head a signed checkpoint
    /// names) is not what the receipts make: the tree was changed beside
    /// the chain. `index` is the first receipt the differing part covers.
    #[error("receipt {index} ({receipt_id}): {what}")]
    TreeMismatch {
        index: usize,
        receipt_id: String,
        what: String,
    },
}

impl ChainError {
    /// The chain position (from 0) of the receipt that broke the chain.
    pub fn index(&self) -> usize {
        match self {
            ChainError::HashMismatch { index, .. }
            | ChainError::BrokenLink { index, .. }
            | ChainError::UnknownKey { index, .. }
            | ChainError::BadSignature { index, .. }
            | ChainError::WrongTenant { index, .. }
            | ChainError::Missing { index, .. }
            | ChainError::Unreadable { index, .. }
            | ChainError::HeadMismatch { index, .. }
            | ChainError::BeyondHead { index, .. }
            | ChainError::ColumnMismatch { index, .. }
            | ChainError::TreeMismatch { index, .. } => *index,
        }
    }

    /// What kind of break it is, as one stable word for machines
    /// (`hash_mismatch`, `broken_link`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ChainError::HashMismatch { .. } => "hash_mismatch",
            ChainError::BrokenLink { .. } => "broken_link",
            ChainError::UnknownKey { .. } => "unknown_key",
            ChainError::BadSignature { .. } => "bad_signature",
            ChainError::WrongTenant { .. } => "wrong_tenant",
            ChainError::Missing { .. } => "missing",
            ChainError::Unreadable { .. } => "unreadable",
            ChainError::HeadMismatch { .. } => "head_mismatch",
            ChainError::BeyondHead { .. } => "beyond_head",
            ChainError::ColumnMismatch { .. } => "column_mismatch",
            ChainError::TreeMismatch { .. } => "tree_mismatch",
        }
    }

    /// The id of the receipt that broke the chain, when there is one to name.
    pub fn receipt_id(&self) -> Option<&str> {
        match self {
            ChainError::HashMismatch { receipt_id, .. }
            | ChainError::BrokenLink { receipt_id, .. }
            | ChainError::UnknownKey { receipt_id, .. }
            | ChainError::BadSignature { receipt_id, .. }
            | ChainError::WrongTenant { receipt_id, .. }
            | ChainError::ColumnMismatch { receipt_id, .. }
            | ChainError::TreeMismatch { receipt_id, .. } => Some(receipt_id),
            ChainError::Missing { .. }
            | ChainError::Unreadable { .. }
            | ChainError::HeadMismatch { .. }
            | ChainError::BeyondHead { .. } => None,
        }
    }
}

/// A chain verified up to some receipt, to go on from there: the position
/// and hash of the last receipt checked ([`ChainHead`]) and the tenant the
/// chain belongs to. The registry's background verifier keeps one per
/// tenant, so each receipt is checked once however long the chain grows;
/// [`verify_chain`] is one that starts at [`ChainHead::GENESIS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCursor {
    tenant: String,
    verified: ChainHead,
}

impl ChainCursor {
    /// A cursor on `tenant`'s chain, verified up to `verified` (GENESIS:
    /// nothing verified yet).
    pub fn new(tenant: impl Into<String>, verified: ChainHead) -> Self {
        Self {
            tenant: tenant.into(),
            verified,
        }
    }

    /// How far the chain has verified: the last verified receipt's hash
    /// and position.
    pub fn verified(&self) -> &ChainHead {
        &self.verified
    }

    /// The chain position (from 0) of the next receipt to verify.
    pub fn next_index(&self) -> usize {
        usize::try_from(self.verified.length).unwrap_or(usize::MAX)
    }

    /// Verifies the next receipt of the chain — its tenant, hash, link to
    /// the last verified one and signature, against `keys` — and moves on
    /// to it. On a break, the cursor stays where it was.
    pub fn verify_next(
        &mut self,
        r: &Receipt,
        keys: &HashMap<String, VerifyingKey>,
    ) -> Result<(), ChainError> {
        self.verify_next_with(r, keys, &VerifiedSignatures::default())
    }

    /// As [`ChainCursor::verify_next`], but a signature `checked` holds (one
    /// [`VerifiedSignatures::check`] verified with the others of its run)
    /// is not verified again; any other is.
    pub fn verify_next_with(
        &mut self,
        r: &Receipt,
        keys: &HashMap<String, VerifyingKey>,
        checked: &VerifiedSignatures,
    ) -> Result<(), ChainError> {
        let index = self.next_index();
        if r.content.tenant_id != self.tenant {
            return Err(ChainError::WrongTenant {
                index,
                receipt_id: r.content.receipt_id.clone(),
                expected: self.tenant.clone(),
                found: r.content.tenant_id.clone(),
            });
        }
        check_hash(index, r)?;
        if r.content.prev_receipt_hash != self.verified.hash {
            return Err(ChainError::BrokenLink {
                index,
                receipt_id: r.content.receipt_id.clone(),
                expected: self.verified.hash.clone(),
                found: r.content.prev_receipt_hash.clone(),
            });
        }
        if !checked.holds(r, keys) {
            check_signature(index, r, keys)?;
        }
        self.verified.hash = Some(r.receipt_hash.clone());
        self.verified.length += 1;
        Ok(())
    }

    /// Checks that the chain's head as recorded (`recorded`: the receipt
    /// writer's length and last hash) is where the verified receipts end.
    /// Called once the cursor has reached the recorded length, or when the
    /// recorded length is shorter than what was already verified.
    pub fn verify_head(&self, recorded: &ChainHead) -> Result<(), ChainError> {
        if *recorded == self.verified {
            return Ok(());
        }
        let index = if recorded.length < self.verified.length {
            // The first verified receipt the head no longer counts.
            recorded.length
        } else {
            self.verified.length.saturating_sub(1)
        };
        Err(ChainError::HeadMismatch {
            index: usize::try_from(index).unwrap_or(usize::MAX),
            recorded_length: recorded.length,
            recorded_hash: recorded.hash.clone(),
            verified_length: self.verified.length,
            verified_hash: self.verified.hash.clone(),
        })
    }
}

/// Verifies a tenant's receipts in chain order, from the first: every
/// hash, every link and every signature, against `keys` (kid → public
/// key). Returns how many receipts verified.
pub fn verify_chain(
    receipts: &[Receipt],
    keys: &HashMap<String, VerifyingKey>,
) -> Result<usize, ChainError> {
    let Some(first) = receipts.first() else {
        return Ok(0);
    };
    let mut cursor = ChainCursor::new(first.content.tenant_id.clone(), ChainHead::GENESIS);
    for r in receipts {
        cursor.verify_next(r, keys)?;
    }
    Ok(receipts.len())
}

/// Verifies one receipt on its own: its hash and its signature, against
/// `keys`. Its link is not checked — one receipt cannot show what came
/// before it; [`verify_chain`] checks links. Errors carry index 0.
pub fn verify_receipt(
    receipt: &Receipt,
    keys: &HashMap<String, VerifyingKey>,
) -> Result<(), ChainError> {
    check_hash(0, receipt)?;
    check_signature(0, receipt, keys)
}

fn check_hash(index: usize, r: &Receipt) -> Result<(), ChainError> {
    let digest: [u8; 32] = Sha256::digest(canonical_bytes(&r.content)).into();
    let computed = hex(&digest);
    if computed != r.receipt_hash {
        return Err(ChainError::HashMismatch {
            index,
            receipt_id: r.content.receipt_id.clone(),
            computed,
        });
    }
    Ok(())
}

/// Receipt signatures verified together (Ed25519 batch verification,
/// several times cheaper per signature than one by one), for a chain
/// verifier that reads receipts in runs ([`ChainCursor::verify_next_with`]).
///
/// ed25519-dalek checks one random linear combination of the run's
/// verification equations, its coefficients derived from all the inputs.
/// No one without the private key can make a signature pass it that fails
/// alone; the key's holder could grind one whose `R` carries a small-order
/// part past it (the one-by-one check refuses such a signature), which a
/// registry signing with its own key has no reason to do and gains nothing
/// by. All or nothing: if any signature of the run fails, has an unknown key
/// or does not parse, none is held and the cursor checks each alone, naming
/// the bad one as before. Each signature is held with the key it was checked
/// against, so a set is no use with another set of keys.
#[derive(Debug, Default)]
pub struct VerifiedSignatures(HashSet<(String, String, [u8; 32])>);

impl VerifiedSignatures {
    /// Verifies the signatures of `receipts` over their `receipt_hash`, with
    /// `keys` by `signing_key_id`, all at once.
    pub fn check(receipts: &[&Receipt], keys: &HashMap<String, VerifyingKey>) -> Self {
        let mut hashes = Vec::with_capacity(receipts.len());
        let mut signatures = Vec::with_capacity(receipts.len());
        let mut signers = Vec::with_capacity(receipts.len());
        for r in receipts {
            let parts = keys.get(&r.content.signing_key_id).and_then(|key| {
                Some((
                    unhex32(&r.receipt_hash)?,
                    decode_signature(&r.signature)?,
                    *key,
                ))
            });
            let Some((hash, signature, key)) = parts else {
                return Self::default();
            };
            hashes.push(hash);
            signatures.push(signature);
            signers.push(key);
        }
        let messages: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        if receipts.is_empty()
            || ed25519_dalek::verify_batch(&messages, &signatures, &signers).is_err()
        {
            return Self::default();
        }
        Self(
            receipts
                .iter()
                .zip(&signers)
                .map(|(r, key)| Self::entry(r, key))
                .collect(),
        )
    }

    /// Whether `r`'s signature, as it stands, was verified here with the
    /// key `keys` names for it.
    fn holds(&self, r: &Receipt, keys: &HashMap<String, VerifyingKey>) -> bool {
        keys.get(&r.content.signing_key_id)
            .is_some_and(|key| self.0.contains(&Self::entry(r, key)))
    }

    fn entry(r: &Receipt, key: &VerifyingKey) -> (String, String, [u8; 32]) {
        (r.receipt_hash.clone(), r.signature.clone(), key.to_bytes())
    }
}

/// A signature as receipts carry it (base64 of 64 bytes).
fn decode_signature(text: &str) -> Option<Signature> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
}

fn check_signature(
    index: usize,
    r: &Receipt,
    keys: &HashMap<String, VerifyingKey>,
) -> Result<(), ChainError> {
    let key = keys
        .get(&r.content.signing_key_id)
        .ok_or_else(|| ChainError::UnknownKey {
            index,
            receipt_id: r.content.receipt_id.clone(),
            kid: r.content.signing_key_id.clone(),
        })?;
    let valid = match (decode_signature(&r.signature), unhex32(&r.receipt_hash)) {
        (Some(sig), Some(h)) => key.verify(&h, &sig).is_ok(),
        _ => false,
    };
    if !valid {
        return Err(ChainError::BadSignature {
            index,
            receipt_id: r.content.receipt_id.clone(),
            kid: r.content.signing_key_id.clone(),
        });
    }
    Ok(())
}

/// Parses an Ed25519 private key given as its 32-byte seed, in base64 or hex
/// (the format of `hallctl keygen` files and `HALL_RECEIPT_SIGNING_KEY`).
pub fn parse_seed(text: &str) -> Option<SigningKey> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        unhex32(&text.to_ascii_lowercase())?.to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    let seed: [u8; 32] = bytes.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// A key id for a receipt signing key: `rk_` + the first 16 hex characters
/// of the SHA-256 of the public key.
pub fn key_id(key: &VerifyingKey) -> String {
    format!("rk_{}", &hex(&Sha256::digest(key.as_bytes()))[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(n: usize, prev: Option<String>, kid: &str) -> UnsignedReceipt {
        UnsignedReceipt {
            receipt_id: format!("0193a1b2-0000-7000-8000-{n:012}"),
            spec_version: wcp::SPEC_VERSION.into(),
            tenant_id: "org.acme".into(),
            correlation_id: format!("corr-{n}"),
            decided_at: "2026-11-24T12:00:00.000Z".into(),
            worker_id: "x.acme.w".into(),
            capability_id: "cap.data.read.v1".into(),
            env: "dev".into(),
            data_label: "PUBLIC".into(),
            outcome: Outcome::of(n % 2 == 1),
            deny_code: (n % 2 == 1).then(|| "DENY_ENV_NOT_ALLOWED".into()),
            tier: 2,
            policy_version: "hall-default-policy/1".into(),
            controls_verified: vec![],
            request_hash: None,
            dry_run: false,
            prev_receipt_hash: prev,
            signing_key_id: kid.into(),
            approval_id: None,
            receipt_version: ReceiptVersion::V1,
            acting_key_id: None,
            matched_rule_id: None,
            rules_version: None,
            rules_sha256: None,
            selected_worker_species_id: None,
        }
    }

    #[test]
    fn the_outcome_is_spelled_as_it_always_was() {
        let deny = String::from_utf8(canonical_bytes(&content(1, None, "rk_x"))).unwrap();
        assert!(deny.contains("\"outcome\":\"DENY\""), "{deny}");
        let allow = String::from_utf8(canonical_bytes(&content(2, None, "rk_x"))).unwrap();
        assert!(allow.contains("\"outcome\":\"ALLOW\""), "{allow}");
        assert!(serde_json::from_str::<Outcome>("\"allow\"").is_err());
    }

    #[test]
    fn an_approval_id_is_bound_into_the_hash_only_when_there_is_one() {
        let plain = content(1, None, "rk_x");
        let bytes = String::from_utf8(canonical_bytes(&plain)).unwrap();
        // Receipts from before approvals existed hash exactly as they did.
        assert!(!bytes.contains("approval_id"), "{bytes}");
        let mut approved = plain.clone();
        approved.approval_id = Some("5f0c6b1e-1d2a-4c3b-8e9f-0a1b2c3d4e5f".into());
        let with = String::from_utf8(canonical_bytes(&approved)).unwrap();
        assert!(with.contains("\"approval_id\":\"5f0c6b1e"), "{with}");
        assert_ne!(bytes, with);
    }

    /// One receipt's content, fixed, as the vector below was computed with.
    fn vector_content() -> UnsignedReceipt {
        UnsignedReceipt {
            receipt_id: "0193a1b2-0000-7000-8000-000000000001".into(),
            spec_version: "0.1.0".into(),
            tenant_id: "org.acme".into(),
            correlation_id: "corr-1".into(),
            decided_at: "2026-11-24T12:00:00.000Z".into(),
            worker_id: "x.acme.w".into(),
            capability_id: "cap.data.read.v1".into(),
            env: "dev".into(),
            data_label: "PUBLIC".into(),
            outcome: Outcome::Deny,
            deny_code: Some("DENY_ENV_NOT_ALLOWED".into()),
            tier: 2,
            policy_version: "hall-default-policy/1".into(),
            controls_verified: vec!["sbom".into()],
            request_hash: None,
            dry_run: false,
            prev_receipt_hash: None,
            signing_key_id: String::new(),
            approval_id: None,
            receipt_version: ReceiptVersion::V1,
            acting_key_id: None,
            matched_rule_id: None,
            rules_version: None,
            rules_sha256: None,
            selected_worker_species_id: None,
        }
    }

    /// A version-2 receipt: the vector's content, with the acting key.
    fn v2_content() -> UnsignedReceipt {
        UnsignedReceipt {
            receipt_version: ReceiptVersion::V2,
            acting_key_id: Some("0193a1b2-5555-7000-8000-00000000000a".into()),
            ..vector_content()
        }
    }

    #[test]
    fn a_route_receipt_is_version_3_and_its_route_evidence_is_signed() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let content = UnsignedReceipt {
            receipt_version: ReceiptVersion::V3,
            matched_rule_id: Some("rr_doc".into()),
            rules_version: Some("4".into()),
            rules_sha256: Some("ab".repeat(32)),
            selected_worker_species_id: Some("wrk.doc.summarizer".into()),
            ..v2_content()
        };
        let r = seal(content, &key);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["receipt_version"], 3);
        assert_eq!(json["matched_rule_id"], "rr_doc");
        let back: Receipt = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            hex(&Sha256::digest(canonical_bytes(&back.content))),
            r.receipt_hash
        );
        let mut changed = back.clone();
        changed.content.rules_version = Some("5".into());
        assert_ne!(
            hex(&Sha256::digest(canonical_bytes(&changed.content))),
            r.receipt_hash
        );
        // A decision about a named worker has none of the route fields.
        let v2 = serde_json::to_value(seal(v2_content(), &key)).unwrap();
        assert!(v2.get("matched_rule_id").is_none(), "{v2}");
        assert!(v2.get("rules_version").is_none(), "{v2}");
    }

    #[test]
    fn a_version_1_receipt_as_exported_before_the_acting_key_still_verifies() {
        // The vector above as the registry stored and exported it before
        // receipts had a version: no `receipt_version`, no `acting_key_id`.
        let old = r#"{"receipt_id": "0193a1b2-0000-7000-8000-000000000001",
            "spec_version": "0.1.0", "tenant_id": "org.acme", "correlation_id": "corr-1",
            "decided_at": "2026-11-24T12:00:00.000Z", "worker_id": "x.acme.w",
            "capability_id": "cap.data.read.v1", "env": "dev", "data_label": "PUBLIC",
            "outcome": "DENY", "deny_code": "DENY_ENV_NOT_ALLOWED", "tier": 2,
            "policy_version": "hall-default-policy/1", "controls_verified": ["sbom"],
            "request_hash": null, "dry_run": false,
            "prev_receipt_hash": "abababababababababababababababababababababababababababababababab",
            "signing_key_id": "rk_7599776c3085e3f9",
            "receipt_hash": "10c73152c8800c8d11c489d6c346630cde3e9a852abaac770a3ec19775ee22af",
            "signature": "a5Ai6inLvQTM8QXKv2dWHkLVovzPyDF+o4weqmQFjvwIFiNHk2cOFbyHP8D3j3A9zQbNB2SbXfMSG6vsx8liCg=="}"#;
        let receipt: Receipt = serde_json::from_str(old).unwrap();
        assert_eq!(receipt.content.receipt_version, ReceiptVersion::V1);
        assert_eq!(receipt.content.acting_key_id, None);
        let key = SigningKey::from_bytes(&[5u8; 32]);
        assert_eq!(verify_receipt(&receipt, &keys(&key)), Ok(()));
        // Written back out, it is still a version-1 receipt.
        let json = serde_json::to_value(&receipt).unwrap();
        assert!(json.get("receipt_version").is_none(), "{json}");
        assert!(json.get("acting_key_id").is_none(), "{json}");
    }

    #[test]
    fn a_version_2_receipt_seals_its_version_and_acting_key() {
        // Pinned: the Python client's verifier checks the same bytes
        // (clients/python/tests/test_crypto.py).
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let mut head = ChainHead {
            hash: Some("ab".repeat(32)),
            length: 41,
        };
        let r = head.append(v2_content(), &key);
        let bytes = String::from_utf8(canonical_bytes(&r.content)).unwrap();
        assert!(bytes.contains("\"receipt_version\":2"), "{bytes}");
        assert!(
            bytes.contains("\"acting_key_id\":\"0193a1b2-5555-7000-8000-00000000000a\""),
            "{bytes}"
        );
        assert_eq!(r.receipt_hash, V2_HASH);
        assert_eq!(r.signature, V2_SIGNATURE);
        assert_eq!(verify_receipt(&r, &keys(&key.key)), Ok(()));
    }

    /// A route decision's receipt: version 2's content with the route evidence.
    fn v3_content() -> UnsignedReceipt {
        UnsignedReceipt {
            receipt_version: ReceiptVersion::V3,
            matched_rule_id: Some("rr_doc".into()),
            rules_version: Some("4".into()),
            rules_sha256: Some("cd".repeat(32)),
            selected_worker_species_id: Some("wrk.doc.summarizer".into()),
            ..v2_content()
        }
    }

    #[test]
    fn a_version_3_receipt_seals_its_route_evidence() {
        // Pinned: the Python client's verifier checks the same bytes
        // (clients/python/tests/test_crypto.py).
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let mut head = ChainHead {
            hash: Some("ab".repeat(32)),
            length: 41,
        };
        let r = head.append(v3_content(), &key);
        let bytes = String::from_utf8(canonical_bytes(&r.content)).unwrap();
        assert!(bytes.contains("\"receipt_version\":3"), "{bytes}");
        assert!(bytes.contains("\"rules_version\":\"4\""), "{bytes}");
        assert_eq!(verify_receipt(&r, &keys(&key.key)), Ok(()));
        assert_eq!(
            (r.receipt_hash.as_str(), r.signature.as_str()),
            (V3_HASH, V3_SIGNATURE)
        );
    }

    const V3_HASH: &str = "b25b4248bdf40c1d797e03ba86933fc6c2cc6dabdc9e2ba1db18b5e665d77675";
    const V3_SIGNATURE: &str =
        "//Tksj3AD8nGPnGHUTkMlAU1h+su/FeudRHqJwSiUGbEtBH157gq18iiukYTXAAKb7UFXG8wWQdfoLvquHEfCQ==";

    const V2_HASH: &str = "b34fa6c48fcdf181c7386f435a6f177b96b227f94309ff71851ddb43747e9dd6";
    const V2_SIGNATURE: &str =
        "dWY7C8B9wY13wmNNK5q1cWYfexPyP/Dglt2GqY7FVtAK5NOGnPTYHRhOT8R7pIf/7p9SfgHXJLOI0IMOju0QAg==";

    #[test]
    fn a_changed_acting_key_id_breaks_the_receipt() {
        let key = SigningKey::from_bytes(&[5u8; 32]);
        let mut head = ChainHead::GENESIS;
        let signed = head.append(v2_content(), &ReceiptKey::new(key.clone()));
        let mut changed = signed.clone();
        changed.content.acting_key_id = Some("0193a1b2-6666-7000-8000-00000000000b".into());
        assert!(matches!(
            verify_receipt(&changed, &keys(&key)),
            Err(ChainError::HashMismatch { .. })
        ));
        // Rehashed to match, the registry's signature no longer covers it.
        changed.receipt_hash = hex(&Sha256::digest(canonical_bytes(&changed.content)));
        assert!(matches!(
            verify_receipt(&changed, &keys(&key)),
            Err(ChainError::BadSignature { .. })
        ));
        // Dropped (passed off as a version-1 receipt): the same.
        let mut dropped = signed.clone();
        dropped.content.acting_key_id = None;
        dropped.content.receipt_version = ReceiptVersion::V1;
        dropped.receipt_hash = hex(&Sha256::digest(canonical_bytes(&dropped.content)));
        assert!(matches!(
            verify_receipt(&dropped, &keys(&key)),
            Err(ChainError::BadSignature { .. })
        ));
    }

    #[test]
    fn receipts_of_both_versions_verify_in_one_chain() {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let (mut c, mut head) = appended(2, &key);
        c.push(head.append(v2_content(), &key));
        assert_eq!(verify_chain(&c, &keys(&key.key)), Ok(3));
    }

    #[test]
    fn an_unknown_receipt_version_is_named_when_read() {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let mut head = ChainHead::GENESIS;
        let mut json = serde_json::to_value(head.append(v2_content(), &key)).unwrap();
        json["receipt_version"] = 4.into();
        let refused = serde_json::from_value::<Receipt>(json).unwrap_err();
        assert!(
            refused.to_string().contains("receipt_version 4 is not one"),
            "{refused}"
        );
    }

    #[test]
    fn appending_seals_exactly_as_receipts_always_were_sealed() {
        // Computed with the writer's code before `append` existed: the link
        // and key id set by hand, then `seal`. Receipts stored before and
        // after hash and sign byte for byte alike.
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        assert_eq!(key.kid, "rk_7599776c3085e3f9");
        let mut head = ChainHead {
            hash: Some("ab".repeat(32)),
            length: 41,
        };
        let r = head.append(vector_content(), &key);
        assert_eq!(
            r.receipt_hash,
            "10c73152c8800c8d11c489d6c346630cde3e9a852abaac770a3ec19775ee22af"
        );
        assert_eq!(
            r.signature,
            "a5Ai6inLvQTM8QXKv2dWHkLVovzPyDF+o4weqmQFjvwIFiNHk2cOFbyHP8D3j3A9zQbNB2SbXfMSG6vsx8liCg=="
        );
        assert_eq!(r.content.prev_receipt_hash, Some("ab".repeat(32)));
        assert_eq!(r.content.signing_key_id, key.kid);
        assert_eq!(
            head,
            ChainHead {
                hash: Some(r.receipt_hash.clone()),
                length: 42
            }
        );
    }

    #[test]
    fn append_replaces_whatever_link_and_key_the_content_claimed() {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let mut claimed = vector_content();
        claimed.prev_receipt_hash = Some("cd".repeat(32));
        claimed.signing_key_id = "rk_someone_else".into();
        let mut a = ChainHead::GENESIS;
        let mut b = ChainHead::GENESIS;
        let from_claimed = a.append(claimed, &key);
        let from_blank = b.append(vector_content(), &key);
        assert_eq!(from_claimed, from_blank);
        assert_eq!(from_claimed.content.prev_receipt_hash, None);
        assert_eq!(a, b);
    }

    /// `n` receipts appended from genesis, and the head after them.
    fn appended(n: usize, key: &ReceiptKey) -> (Vec<Receipt>, ChainHead) {
        let mut head = ChainHead::GENESIS;
        let receipts = (0..n)
            .map(|i| head.append(content(i, None, ""), key))
            .collect();
        (receipts, head)
    }

    #[test]
    fn an_appended_chain_verifies_and_its_head_is_its_last_receipt() {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let (c, head) = appended(5, &key);
        assert_eq!(verify_chain(&c, &keys(&key.key)), Ok(5));
        assert_eq!(c[0].content.prev_receipt_hash, None);
        assert_eq!(head.length, 5);
        assert_eq!(head.hash.as_deref(), Some(c[4].receipt_hash.as_str()));
        // The same as sealing each by hand onto its predecessor.
        assert_eq!(c, chain(5, &key.key));
    }

    #[test]
    fn a_receipt_appended_onto_the_wrong_head_breaks_the_chain() {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let (mut c, head) = appended(3, &key);
        // Appended onto the chain as it was one receipt ago: a fork.
        let mut stale = ChainHead {
            hash: Some(c[1].receipt_hash.clone()),
            length: 2,
        };
        c.push(stale.append(content(3, None, ""), &key));
        assert!(matches!(
            verify_chain(&c, &keys(&key.key)),
            Err(ChainError::BrokenLink { index: 3, .. })
        ));
        // Appended onto genesis as if the chain were empty.
        c.pop();
        let mut genesis = ChainHead::GENESIS;
        c.push(genesis.append(content(3, None, ""), &key));
        assert!(matches!(
            verify_chain(&c, &keys(&key.key)),
            Err(ChainError::BrokenLink { index: 3, .. })
        ));
        // Onto the right head it verifies.
        c.pop();
        let mut right = head;
        c.push(right.append(content(3, None, ""), &key));
        assert_eq!(verify_chain(&c, &keys(&key.key)), Ok(4));
        assert_eq!(right.length, 4);
    }

    #[test]
    fn a_rotated_key_appends_onto_the_same_chain() {
        let old = ReceiptKey::new(SigningKey::from_bytes(&[1u8; 32]));
        let new = ReceiptKey::new(SigningKey::from_bytes(&[2u8; 32]));
        let (mut c, mut head) = appended(2, &old);
        c.push(head.append(content(2, None, ""), &new));
        assert_eq!(c[2].content.signing_key_id, new.kid);
        assert_eq!(
            verify_chain(&c, &keys(&old.key)),
            Err(ChainError::UnknownKey {
                index: 2,
                receipt_id: c[2].content.receipt_id.clone(),
                kid: new.kid.clone(),
            })
        );
        let mut both = keys(&old.key);
        both.extend(keys(&new.key));
        assert_eq!(verify_chain(&c, &both), Ok(3));
    }

    #[test]
    fn a_receipt_appended_with_another_key_than_it_names_fails_its_signature() {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
        let impostor = ReceiptKey {
            kid: key.kid.clone(),
            key: SigningKey::from_bytes(&[6u8; 32]),
        };
        let (mut c, mut head) = appended(2, &key);
        c.push(head.append(content(2, None, ""), &impostor));
        assert!(matches!(
            verify_chain(&c, &keys(&key.key)),
            Err(ChainError::BadSignature { index: 2, .. })
        ));
    }

    fn chain(n: usize, key: &SigningKey) -> Vec<Receipt> {
        let kid = key_id(&key.verifying_key());
        let mut out: Vec<Receipt> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|r| r.receipt_hash.clone());
            out.push(seal(content(i, prev, &kid), key));
        }
        out
    }

    fn keys(k: &SigningKey) -> HashMap<String, VerifyingKey> {
        HashMap::from([(key_id(&k.verifying_key()), k.verifying_key())])
    }

    #[test]
    fn a_sealed_chain_verifies_with_only_the_public_key() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(5, &k);
        assert_eq!(c[0].content.prev_receipt_hash, None);
        assert_eq!(verify_chain(&c, &keys(&k)), Ok(5));
        assert!(c[0].receipt_hash.len() == 64);
    }

    #[test]
    fn a_changed_receipt_is_named_by_its_hash() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let mut c = chain(5, &k);
        // Receipt 1 was a DENY; someone rewrote it as an ALLOW.
        c[1].content.outcome = Outcome::Allow;
        c[1].content.deny_code = None;
        assert!(matches!(
            verify_chain(&c, &keys(&k)),
            Err(ChainError::HashMismatch { index: 1, .. })
        ));
    }

    #[test]
    fn a_deleted_receipt_breaks_the_next_link() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let mut c = chain(5, &k);
        c.remove(3);
        assert!(matches!(
            verify_chain(&c, &keys(&k)),
            Err(ChainError::BrokenLink { index: 3, .. })
        ));
    }

    #[test]
    fn a_rehashed_forgery_fails_its_signature_and_unknown_keys_are_named() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let mut c = chain(3, &k);
        let forger = SigningKey::from_bytes(&[6u8; 32]);
        let mut forged = c[2].content.clone();
        forged.outcome = Outcome::Allow;
        let mut resealed = seal(forged, &forger);
        resealed.content.signing_key_id = c[2].content.signing_key_id.clone();
        c[2] = resealed;
        assert!(matches!(
            verify_chain(&c, &keys(&k)),
            Err(ChainError::HashMismatch { .. } | ChainError::BadSignature { .. })
        ));
        let c = chain(2, &forger);
        assert!(matches!(
            verify_chain(&c, &keys(&k)),
            Err(ChainError::UnknownKey { index: 0, .. })
        ));
    }

    #[test]
    fn one_receipt_verifies_alone_without_its_predecessor() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(3, &k);
        // The third receipt links to the second, which is not given.
        assert_eq!(verify_receipt(&c[2], &keys(&k)), Ok(()));
        let mut changed = c[2].clone();
        changed.content.tier = 0;
        assert!(matches!(
            verify_receipt(&changed, &keys(&k)),
            Err(ChainError::HashMismatch { .. })
        ));
        let mut resigned = c[2].clone();
        resigned.signature = c[1].signature.clone();
        assert!(matches!(
            verify_receipt(&resigned, &keys(&k)),
            Err(ChainError::BadSignature { .. })
        ));
        let other = SigningKey::from_bytes(&[6u8; 32]);
        assert!(matches!(
            verify_receipt(&c[2], &keys(&other)),
            Err(ChainError::UnknownKey { .. })
        ));
    }

    #[test]
    fn rotated_keys_verify_their_own_receipts() {
        let old = SigningKey::from_bytes(&[1u8; 32]);
        let new = SigningKey::from_bytes(&[2u8; 32]);
        let mut c = chain(2, &old);
        let prev = c.last().map(|r| r.receipt_hash.clone());
        c.push(seal(content(2, prev, &key_id(&new.verifying_key())), &new));
        let mut both = keys(&old);
        both.extend(keys(&new));
        assert_eq!(verify_chain(&c, &both), Ok(3));
    }

    #[test]
    fn a_cursor_resumed_midway_verifies_the_rest_as_the_whole_chain_would() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(6, &k);
        let mut first = ChainCursor::new("org.acme", ChainHead::GENESIS);
        for r in &c[..4] {
            first.verify_next(r, &keys(&k)).unwrap();
        }
        assert_eq!(first.verified().length, 4);
        assert_eq!(first.verified().hash.as_ref(), Some(&c[3].receipt_hash));
        // A later pass starts from what the first recorded.
        let mut later = ChainCursor::new("org.acme", first.verified().clone());
        for r in &c[4..] {
            later.verify_next(r, &keys(&k)).unwrap();
        }
        assert_eq!(later.next_index(), 6);
        let recorded = ChainHead {
            hash: Some(c[5].receipt_hash.clone()),
            length: 6,
        };
        assert_eq!(later.verify_head(&recorded), Ok(()));
    }

    #[test]
    fn a_resumed_cursor_finds_a_break_at_its_chain_position_and_stays_put() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let mut c = chain(6, &k);
        c[4].content.tier = 0;
        let mut cursor = ChainCursor::new(
            "org.acme",
            ChainHead {
                hash: Some(c[3].receipt_hash.clone()),
                length: 4,
            },
        );
        let e = cursor.verify_next(&c[4], &keys(&k)).unwrap_err();
        assert!(
            matches!(e, ChainError::HashMismatch { index: 4, .. }),
            "{e}"
        );
        assert_eq!(e.index(), 4);
        assert_eq!(cursor.verified().length, 4, "a break does not advance");
        // Resumed from a hash that is not the previous receipt's: the link breaks.
        let mut wrong = ChainCursor::new(
            "org.acme",
            ChainHead {
                hash: Some(c[2].receipt_hash.clone()),
                length: 4,
            },
        );
        assert!(matches!(
            wrong.verify_next(&c[5], &keys(&k)),
            Err(ChainError::BrokenLink { index: 4, .. })
        ));
    }

    /// Verifies `c` from the start with the cursor, signatures checked as `checked` allows.
    fn verify_in(
        c: &[Receipt],
        keys: &HashMap<String, VerifyingKey>,
        checked: &VerifiedSignatures,
    ) -> Result<u64, ChainError> {
        let mut cursor = ChainCursor::new("org.acme", ChainHead::GENESIS);
        for r in c {
            cursor.verify_next_with(r, keys, checked)?;
        }
        Ok(cursor.verified().length)
    }

    #[test]
    fn signatures_verified_together_are_held_and_the_chain_verifies_with_them() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(40, &k);
        let run: Vec<&Receipt> = c.iter().collect();
        let checked = VerifiedSignatures::check(&run, &keys(&k));
        assert!(c.iter().all(|r| checked.holds(r, &keys(&k))));
        assert_eq!(verify_in(&c, &keys(&k), &checked), Ok(40));
    }

    #[test]
    fn one_bad_signature_in_a_run_holds_none_and_is_named_alone() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let mut c = chain(40, &k);
        c[17].signature = c[18].signature.clone();
        let run: Vec<&Receipt> = c.iter().collect();
        let checked = VerifiedSignatures::check(&run, &keys(&k));
        assert!(
            !c.iter().any(|r| checked.holds(r, &keys(&k))),
            "all or nothing"
        );
        assert!(matches!(
            verify_in(&c, &keys(&k), &checked),
            Err(ChainError::BadSignature { index: 17, .. })
        ));
    }

    #[test]
    fn a_signature_changed_after_its_run_was_checked_is_verified_again() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let mut c = chain(10, &k);
        let checked = {
            let run: Vec<&Receipt> = c.iter().collect();
            VerifiedSignatures::check(&run, &keys(&k))
        };
        c[3].signature = c[4].signature.clone();
        assert!(matches!(
            verify_in(&c, &keys(&k), &checked),
            Err(ChainError::BadSignature { index: 3, .. })
        ));
    }

    #[test]
    fn signatures_checked_with_one_key_are_checked_again_under_another() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(5, &k);
        let run: Vec<&Receipt> = c.iter().collect();
        let checked = VerifiedSignatures::check(&run, &keys(&k));
        // Another key published under the same kid: nothing is held for it.
        let other = SigningKey::from_bytes(&[6u8; 32]);
        let swapped = HashMap::from([(key_id(&k.verifying_key()), other.verifying_key())]);
        assert!(!c.iter().any(|r| checked.holds(r, &swapped)));
        assert!(matches!(
            verify_in(&c, &swapped, &checked),
            Err(ChainError::BadSignature { index: 0, .. })
        ));
    }

    #[test]
    fn a_run_with_an_unknown_key_or_unreadable_signature_holds_none() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let other = SigningKey::from_bytes(&[6u8; 32]);
        let c = chain(5, &k);
        let run: Vec<&Receipt> = c.iter().collect();
        let unknown = VerifiedSignatures::check(&run, &keys(&other));
        assert!(!c.iter().any(|r| unknown.holds(r, &keys(&other))));
        assert!(matches!(
            verify_in(&c, &keys(&other), &unknown),
            Err(ChainError::UnknownKey { index: 0, .. })
        ));
        let mut bad = c.clone();
        bad[2].signature = "not base64!".into();
        let run: Vec<&Receipt> = bad.iter().collect();
        let unreadable = VerifiedSignatures::check(&run, &keys(&k));
        assert!(!bad.iter().any(|r| unreadable.holds(r, &keys(&k))));
        assert!(matches!(
            verify_in(&bad, &keys(&k), &unreadable),
            Err(ChainError::BadSignature { index: 2, .. })
        ));
    }

    #[test]
    fn a_receipt_of_another_tenant_is_refused_by_the_cursor() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(1, &k);
        let mut cursor = ChainCursor::new("org.other", ChainHead::GENESIS);
        assert!(matches!(
            cursor.verify_next(&c[0], &keys(&k)),
            Err(ChainError::WrongTenant { index: 0, .. })
        ));
    }

    #[test]
    fn a_head_that_does_not_name_the_last_receipt_is_a_break() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(3, &k);
        let mut cursor = ChainCursor::new("org.acme", ChainHead::GENESIS);
        for r in &c {
            cursor.verify_next(r, &keys(&k)).unwrap();
        }
        let rewritten = ChainHead {
            hash: Some(c[1].receipt_hash.clone()),
            length: 3,
        };
        let e = cursor.verify_head(&rewritten).unwrap_err();
        assert!(
            matches!(e, ChainError::HeadMismatch { index: 2, .. }),
            "{e}"
        );
        assert_eq!(e.kind(), "head_mismatch");
        // Cut back to two receipts after three were verified: the third is named.
        let shrunk = ChainHead {
            hash: Some(c[1].receipt_hash.clone()),
            length: 2,
        };
        assert_eq!(cursor.verify_head(&shrunk).unwrap_err().index(), 2);
    }

    #[test]
    fn seeds_parse_from_base64_or_hex_only_at_32_bytes() {
        let seed = [9u8; 32];
        let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
        let hex_seed = hex(&seed);
        assert_eq!(parse_seed(&b64).unwrap().to_bytes(), seed);
        assert_eq!(
            parse_seed(&format!("{hex_seed}\n")).unwrap().to_bytes(),
            seed
        );
        assert!(parse_seed("c2hvcnQ=").is_none());
        assert!(parse_seed("not a key").is_none());
    }

    #[test]
    fn receipts_round_trip_through_json() {
        let k = SigningKey::from_bytes(&[5u8; 32]);
        let c = chain(2, &k);
        let json = serde_json::to_string(&c).unwrap();
        let back: Vec<Receipt> = serde_json::from_str(&json).unwrap();
        assert_eq!(verify_chain(&back, &keys(&k)), Ok(2));
    }
}

/// Properties of sealing and verifying over generated receipts: what is
/// sealed verifies, and no single changed byte of a sealed receipt, of its
/// hash or of its signature goes unnoticed.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9._:-]{0,24}",
            any::<String>(),
            // What canonical JSON escapes: quotes, backslashes, control
            // characters, DEL, non-ASCII and astral characters.
            "[\\\\\"\\x00-\\x1f\\x7f a-z\u{80}-\u{7ff}\u{800}-\u{d7ff}\u{e000}-\u{ffff}\u{10000}-\u{10ffff}]{0,12}",
        ]
    }

    fn content() -> impl Strategy<Value = UnsignedReceipt> {
        (
            (text(), text(), text(), text(), text(), text(), text()),
            (
                text(),
                text(),
                any::<bool>(),
                proptest::option::of(text()),
                any::<u8>(),
            ),
            (
                text(),
                prop::collection::vec(text(), 0..4),
                proptest::option::of("[0-9a-f]{64}"),
                any::<bool>(),
                proptest::option::of(text()),
            ),
            proptest::option::of(text()),
            // A route decision's evidence, its link and its key.
            (
                proptest::option::of((
                    text(),
                    proptest::option::of(text()),
                    proptest::option::of("[0-9a-f]{64}"),
                    proptest::option::of(text()),
                )),
                proptest::option::of("[0-9a-f]{64}"),
                text(),
            ),
        )
            .prop_map(
                |(
                    (
                        receipt_id,
                        spec_version,
                        tenant_id,
                        correlation_id,
                        decided_at,
                        worker_id,
                        capability_id,
                    ),
                    (env, data_label, denied, deny_code, tier),
                    (policy_version, controls_verified, request_hash, dry_run, approval_id),
                    acting_key_id,
                    (route, prev_receipt_hash, signing_key_id),
                )| {
                    let (matched_rule_id, rules_version, rules_sha256, selected_worker_species_id) =
                        match route {
                            Some((rule, version, sha, species)) => {
                                (Some(rule), version, sha, species)
                            }
                            None => (None, None, None, None),
                        };
                    UnsignedReceipt {
                        // Version 3 with route evidence, else 2 exactly when the
                        // acting key is recorded.
                        receipt_version: if matched_rule_id.is_some() {
                            ReceiptVersion::V3
                        } else if acting_key_id.is_some() {
                            ReceiptVersion::V2
                        } else {
                            ReceiptVersion::V1
                        },
                        acting_key_id,
                        matched_rule_id,
                        rules_version,
                        rules_sha256,
                        selected_worker_species_id,
                        receipt_id,
                        spec_version,
                        tenant_id,
                        correlation_id,
                        decided_at,
                        worker_id,
                        capability_id,
                        env,
                        data_label,
                        outcome: Outcome::of(denied),
                        deny_code,
                        tier,
                        policy_version,
                        controls_verified,
                        request_hash,
                        dry_run,
                        prev_receipt_hash,
                        signing_key_id,
                        approval_id,
                    }
                },
            )
    }

    fn receipt_key() -> ReceiptKey {
        ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]))
    }

    fn keys(key: &ReceiptKey) -> HashMap<String, VerifyingKey> {
        HashMap::from([(key.kid.clone(), key.key.verifying_key())])
    }

    /// `text` with the byte at `at` (modulo its length) XORed with `mask`.
    fn flipped(text: &str, at: usize, mask: u8) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        let i = at % bytes.len();
        bytes[i] ^= mask;
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn receipts_are_sealed_over_the_canonical_form_of_their_json_value(
            content in content()
        ) {
            let value = serde_json::to_value(&content).unwrap();
            prop_assert_eq!(
                String::from_utf8(canonical_bytes(&content)).unwrap(),
                wcp::canonical::to_canonical_json(&value)
            );
        }

        #[test]
        fn a_sealed_receipts_json_text_reads_back_as_the_receipt(
            first in content(),
            second in content(),
        ) {
            let key = receipt_key();
            let mut head = ChainHead::default();
            // The second is linked: its text carries a previous hash.
            for content in [first, second] {
                let (sealed, json) = head.append_with_json(content, &key);
                prop_assert_eq!(&serde_json::from_str::<Receipt>(&json).unwrap(), &sealed);
                prop_assert_eq!(
                    serde_json::from_str::<Value>(&json).unwrap(),
                    serde_json::to_value(&sealed).unwrap()
                );
            }
        }

        #[test]
        fn appended_receipts_verify_as_a_chain_and_each_alone(
            contents in prop::collection::vec(content(), 1..5)
        ) {
            let key = receipt_key();
            let mut head = ChainHead::GENESIS;
            let chain: Vec<Receipt> = contents
                .into_iter()
                .map(|mut c| {
                    c.tenant_id = "org.acme".into();
                    head.append(c, &key)
                })
                .collect();
            prop_assert_eq!(verify_chain(&chain, &keys(&key)), Ok(chain.len()));
            for r in &chain {
                prop_assert_eq!(verify_receipt(r, &keys(&key)), Ok(()));
            }
            prop_assert_eq!(head.length, chain.len() as u64);
        }

        #[test]
        fn any_changed_byte_of_an_exported_receipt_fails_verification_or_changes_nothing(
            content in content(),
            at in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let key = receipt_key();
            let sealed = ChainHead::default().append(content, &key);
            let json = serde_json::to_string(&sealed).unwrap();
            let changed = flipped(&json, at, mask);
            if let Ok(read) = serde_json::from_slice::<Receipt>(&changed) {
                // A byte that changed nothing (say, the name of a field that is
                // null either way) may verify; any change of meaning may not.
                if read != sealed {
                    prop_assert!(verify_receipt(&read, &keys(&key)).is_err(), "{}", String::from_utf8_lossy(&changed));
                }
            }
        }

        #[test]
        fn any_changed_byte_of_the_hash_or_signature_fails_verification(
            content in content(),
            at in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let key = receipt_key();
            let sealed = ChainHead::default().append(content, &key);
            let mut bad_hash = sealed.clone();
            bad_hash.receipt_hash = String::from_utf8_lossy(&flipped(&sealed.receipt_hash, at, mask)).into_owned();
            prop_assert!(
                matches!(verify_receipt(&bad_hash, &keys(&key)), Err(ChainError::HashMismatch { .. })),
                "hash {}",
                bad_hash.receipt_hash
            );
            let mut bad_signature = sealed.clone();
            bad_signature.signature = String::from_utf8_lossy(&flipped(&sealed.signature, at, mask)).into_owned();
            prop_assert!(
                matches!(verify_receipt(&bad_signature, &keys(&key)), Err(ChainError::BadSignature { .. })),
                "signature {}",
                bad_signature.signature
            );
        }

        #[test]
        fn any_other_content_under_the_same_seal_fails_its_hash(
            content in content(),
            other in content(),
        ) {
            let key = receipt_key();
            let sealed = ChainHead::default().append(content, &key);
            let mut swapped = sealed.clone();
            swapped.content = UnsignedReceipt {
                prev_receipt_hash: None,
                signing_key_id: key.kid.clone(),
                ..other
            };
            if swapped.content != sealed.content {
                let refused = matches!(
                    verify_receipt(&swapped, &keys(&key)),
                    Err(ChainError::HashMismatch { .. })
                );
                prop_assert!(refused);
            }
        }

        #[test]
        fn seeds_and_receipts_from_arbitrary_text_never_panic(text in any::<String>(), json in any::<Vec<u8>>()) {
            let _ = parse_seed(&text);
            if let Ok(r) = serde_json::from_slice::<Receipt>(&json) {
                let _ = verify_receipt(&r, &keys(&receipt_key()));
            }
            if let Ok(r) = serde_json::from_str::<Receipt>(&text) {
                let _ = verify_receipt(&r, &keys(&receipt_key()));
            }
        }

        #[test]
        fn a_seed_parses_back_from_its_hex_and_its_base64(seed in any::<[u8; 32]>()) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
            prop_assert_eq!(parse_seed(&b64).map(|k| k.to_bytes()), Some(seed));
            prop_assert_eq!(parse_seed(&hex(&seed)).map(|k| k.to_bytes()), Some(seed));
            prop_assert_eq!(parse_seed(&hex(&seed).to_uppercase()).map(|k| k.to_bytes()), Some(seed));
        }
    }
}
