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

use std::collections::HashMap;

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// The receipt's content before it is hashed and signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnsignedReceipt {
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
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
    let value = serde_json::to_value(content).unwrap_or(Value::Null);
    wcp::canonical::to_canonical_json(&value).into_bytes()
}

/// Hashes and signs a receipt.
pub fn seal(content: UnsignedReceipt, key: &SigningKey) -> Receipt {
    let digest: [u8; 32] = Sha256::digest(canonical_bytes(&content)).into();
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&digest).to_bytes());
    Receipt {
        content,
        receipt_hash: hex(&digest),
        signature,
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
}

/// Verifies a tenant's receipts in chain order: every hash, every link and
/// every signature, against `keys` (kid → public key). Returns how many
/// receipts verified.
pub fn verify_chain(
    receipts: &[Receipt],
    keys: &HashMap<String, VerifyingKey>,
) -> Result<usize, ChainError> {
    let mut prev: Option<String> = None;
    let tenant = receipts.first().map(|r| r.content.tenant_id.clone());
    for (index, r) in receipts.iter().enumerate() {
        let receipt_id = r.content.receipt_id.clone();
        if Some(&r.content.tenant_id) != tenant.as_ref() {
            return Err(ChainError::WrongTenant {
                index,
                receipt_id,
                expected: tenant.unwrap_or_default(),
                found: r.content.tenant_id.clone(),
            });
        }
        check_hash(index, r)?;
        if r.content.prev_receipt_hash != prev {
            return Err(ChainError::BrokenLink {
                index,
                receipt_id,
                expected: prev,
                found: r.content.prev_receipt_hash.clone(),
            });
        }
        check_signature(index, r, keys)?;
        prev = Some(r.receipt_hash.clone());
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
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&r.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b));
    let valid = match (signature, unhex32(&r.receipt_hash)) {
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
