//! Signed capability cards (WCP §5.10): a namespace key holder's statement
//! that a worker, with these capabilities, is exactly this package.
//!
//! ```json
//! {"worker_id": "x.acme.summarizer", "worker_species_id": "wrk.doc.summarizer",
//!  "capabilities": ["cap.doc.summarize"], "sha256": "<64 hex>",
//!  "issued_at": "2026-11-24T12:00:00Z", "expires_at": "2027-11-24T12:00:00Z",
//!  "kid": "nsk_3f2a9c1d0b8e7a65"}
//! ```
//!
//! The signature is Ed25519 over the card's canonical bytes: the card object
//! as sent, keys sorted, no whitespace, non-ASCII as `\uXXXX`
//! ([`wcp::canonical::to_canonical_json`]), UTF-8.

use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use serde_json::Value;
use wcp::canonical::to_canonical_json;
use wcp::{CapabilityId, SpeciesId, WorkerId};

use crate::keys::NamespacePublicKey;
use crate::package::is_sha256_hex;

const CARD_FIELDS: [&str; 7] = [
    "worker_id",
    "worker_species_id",
    "capabilities",
    "sha256",
    "issued_at",
    "expires_at",
    "kid",
];
/// How far in the future `issued_at` may be (clock skew).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card: {0}")]
    Malformed(String),
    #[error("signature must be 64 bytes of Ed25519 signature, base64 or hex")]
    SignatureEncoding,
}

/// A well-formed card (its signature not yet checked).
#[derive(Debug, Clone, PartialEq)]
pub struct CapabilityCard {
    pub worker_id: WorkerId,
    pub species: Option<SpeciesId>,
    pub capabilities: Vec<CapabilityId>,
    pub sha256: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub kid: String,
    raw: Value,
}

fn malformed(msg: impl Into<String>) -> CardError {
    CardError::Malformed(msg.into())
}

fn time_field(
    obj: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, CardError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| malformed(format!("{field} must be an RFC 3339 time: {e}"))),
        Some(_) => Err(malformed(format!("{field} must be a string"))),
    }
}

impl CapabilityCard {
    pub fn parse(card: &Value) -> Result<Self, CardError> {
        let obj = card
            .as_object()
            .ok_or_else(|| malformed("must be a JSON object"))?;
        if let Some(unknown) = obj.keys().find(|k| !CARD_FIELDS.contains(&k.as_str())) {
            return Err(malformed(format!(
                "unknown field {unknown:?}; a card has exactly {}",
                CARD_FIELDS.join(", ")
            )));
        }
        let text = |field: &str| -> Result<Option<&str>, CardError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(malformed(format!("{field} must be a string"))),
            }
        };
        let worker_id =
            WorkerId::parse(text("worker_id")?.ok_or_else(|| malformed("worker_id is required"))?)
                .map_err(|e| malformed(format!("worker_id: {e}")))?;
        let species = text("worker_species_id")?
            .map(|s| SpeciesId::parse(s).map_err(|e| malformed(format!("worker_species_id: {e}"))))
            .transpose()?;
        let caps = obj
            .get("capabilities")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("capabilities must be a non-empty array"))?;
        let mut capabilities = caps
            .iter()
            .map(|c| {
                c.as_str()
                    .ok_or_else(|| malformed("capabilities must hold strings"))
                    .and_then(|s| {
                        CapabilityId::parse(s).map_err(|e| malformed(format!("capabilities: {e}")))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        capabilities.sort();
        capabilities.dedup();
        if capabilities.is_empty() {
            return Err(malformed("capabilities must be a non-empty array"));
        }
        let sha256 = text("sha256")?.ok_or_else(|| malformed("sha256 is required"))?;
        if !is_sha256_hex(sha256) {
            return Err(malformed("sha256 must be 64 lowercase hex characters"));
        }
        let issued_at =
            time_field(obj, "issued_at")?.ok_or_else(|| malformed("issued_at is required"))?;
        let expires_at = time_field(obj, "expires_at")?;
        if expires_at.is_some_and(|e| e <= issued_at) {
            return Err(malformed("expires_at must be after issued_at"));
        }
        let kid = text("kid")?
            .ok_or_else(|| malformed("kid is required"))?
            .to_string();
        Ok(Self {
            worker_id,
            species,
            capabilities,
            sha256: sha256.to_string(),
            issued_at,
            expires_at,
            kid,
            raw: card.clone(),
        })
    }

    /// The bytes the signature covers.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical_card_bytes(&self.raw)
    }

    /// The card as sent.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Checks `signature` (base64 or hex) over the canonical bytes.
    pub fn signature_valid(&self, signature: &Signature, key: &NamespacePublicKey) -> bool {
        key.verifying_key()
            .verify(&self.canonical_bytes(), signature)
            .is_ok()
    }
}

/// Canonical bytes of a card object.
pub fn canonical_card_bytes(card: &Value) -> Vec<u8> {
    to_canonical_json(card).into_bytes()
}

/// Parses a signature given as base64 (any common alphabet) or hex.
pub fn parse_signature(text: &str) -> Result<Signature, CardError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    let bytes = if text.len() == 128 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..64)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| CardError::SignatureEncoding)?
    } else {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(text).ok())
            .ok_or(CardError::SignatureEncoding)?
    };
    let array: [u8; 64] = bytes.try_into().map_err(|_| CardError::SignatureEncoding)?;
    Ok(Signature::from_bytes(&array))
}

/// Signs a card object; returns the signature as standard base64 (used by
/// `hallctl attest` and tests).
pub fn sign_card(card: &Value, key: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(key.sign(&canonical_card_bytes(card)).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn card() -> Value {
        json!({"worker_id": "x.acme.summarizer", "capabilities": ["cap.doc.summarize"],
               "sha256": "a".repeat(64), "issued_at": "2026-11-24T12:00:00Z", "kid": "nsk_0011223344556677",
               "worker_species_id": "wrk.doc.summarizer"})
    }

    #[test]
    fn canonical_bytes_sort_keys_and_drop_whitespace() {
        let bytes = canonical_card_bytes(&json!({"b": 1, "a": ["x", "é"]}));
        assert_eq!(bytes, br#"{"a":["x","\u00e9"],"b":1}"#.to_vec());
    }

    #[test]
    fn a_signed_card_verifies_and_any_change_breaks_it() {
        let sk = SigningKey::from_bytes(&[3u8; 32]);
        let pk = NamespacePublicKey::from_bytes(sk.verifying_key().as_bytes()).unwrap();
        let raw = card();
        let sig = parse_signature(&sign_card(&raw, &sk)).unwrap();
        assert!(CapabilityCard::parse(&raw)
            .unwrap()
            .signature_valid(&sig, &pk));

        let mut changed = raw.clone();
        changed["capabilities"] = json!(["cap.doc.summarize", "cap.web.fetch"]);
        assert!(!CapabilityCard::parse(&changed)
            .unwrap()
            .signature_valid(&sig, &pk));

        let other = NamespacePublicKey::from_bytes(
            SigningKey::from_bytes(&[4u8; 32])
                .verifying_key()
                .as_bytes(),
        )
        .unwrap();
        assert!(!CapabilityCard::parse(&raw)
            .unwrap()
            .signature_valid(&sig, &other));
    }

    #[test]
    fn malformed_cards_say_what_is_wrong() {
        let mut c = card();
        c["extra"] = json!(1);
        assert!(CapabilityCard::parse(&c)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        let mut c = card();
        c["sha256"] = json!("ABC");
        assert!(CapabilityCard::parse(&c)
            .unwrap_err()
            .to_string()
            .contains("sha256"));
        let mut c = card();
        c["worker_id"] = json!("wrk.doc.x");
        assert!(CapabilityCard::parse(&c).is_err());
        let mut c = card();
        c["issued_at"] = json!("yesterday");
        assert!(CapabilityCard::parse(&c)
            .unwrap_err()
            .to_string()
            .contains("issued_at"));
        let mut c = card();
        c["expires_at"] = json!("2020-01-01T00:00:00Z");
        assert!(CapabilityCard::parse(&c)
            .unwrap_err()
            .to_string()
            .contains("expires_at"));
        assert_eq!(
            parse_signature("xyz").unwrap_err(),
            CardError::SignatureEncoding
        );
    }
}

/// Properties over generated cards: a signed card verifies, no other card
/// does under its signature, and nothing a client sends makes parsing panic.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9._-]{0,16}", any::<String>()]
    }

    /// A well-formed card; optional fields absent or null.
    fn card() -> impl Strategy<Value = Value> {
        (
            "(x|org)\\.[a-z0-9-]{1,12}\\.[a-z0-9-]{1,12}",
            proptest::option::of("wrk\\.[a-z]{1,8}\\.[a-z-]{1,8}"),
            prop::collection::vec("cap\\.[a-z]{1,8}\\.[a-z-]{1,8}", 1..4),
            "[0-9a-f]{64}",
            (
                0i64..4_000_000_000,
                proptest::option::of(1i64..1_000_000_000),
            ),
            text(),
        )
            .prop_map(|(worker, species, caps, sha, (issued, lifetime), kid)| {
                let at = |secs: i64| {
                    DateTime::from_timestamp(secs, 0)
                        .unwrap_or_default()
                        .to_rfc3339()
                };
                let mut card = serde_json::json!({
                    "worker_id": worker, "capabilities": caps, "sha256": sha,
                    "issued_at": at(issued), "kid": kid,
                });
                if let Some(s) = species {
                    card["worker_species_id"] = Value::String(s);
                }
                if let Some(l) = lifetime {
                    card["expires_at"] = Value::String(at(issued + l));
                }
                card
            })
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        prop::sample::select(CARD_FIELDS.to_vec()).prop_map(String::from),
                        text()
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[3u8; 32])
    }

    fn public_key() -> NamespacePublicKey {
        NamespacePublicKey::from_bytes(signing_key().verifying_key().as_bytes()).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_signed_card_parses_and_verifies_in_every_signature_encoding(card in card()) {
            let parsed = CapabilityCard::parse(&card).unwrap();
            let signature = sign_card(&card, &signing_key());
            let sig = parse_signature(&signature).unwrap();
            prop_assert!(parsed.signature_valid(&sig, &public_key()));
            let hex: String = sig.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(parse_signature(&hex).unwrap(), sig);
            prop_assert_eq!(parse_signature(&hex.to_uppercase()).unwrap(), sig);
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.to_bytes());
            prop_assert_eq!(parse_signature(&format!(" {url}\n")).unwrap(), sig);
        }

        #[test]
        fn a_card_with_any_byte_changed_verifies_only_if_it_still_means_the_same(
            card in card(),
            at in any::<usize>(),
            mask in 1u8..=255,
        ) {
            let sig = parse_signature(&sign_card(&card, &signing_key())).unwrap();
            let mut bytes = serde_json::to_vec(&card).unwrap();
            let i = at % bytes.len();
            bytes[i] ^= mask;
            if let Ok(changed) = serde_json::from_slice::<Value>(&bytes) {
                if let Ok(parsed) = CapabilityCard::parse(&changed) {
                    prop_assert_eq!(
                        parsed.signature_valid(&sig, &public_key()),
                        changed == card,
                        "{}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
            }
        }

        #[test]
        fn any_changed_signature_byte_fails(card in card(), at in 0usize..64, mask in 1u8..=255) {
            let parsed = CapabilityCard::parse(&card).unwrap();
            let mut bytes = parse_signature(&sign_card(&card, &signing_key())).unwrap().to_bytes();
            bytes[at] ^= mask;
            prop_assert!(!parsed.signature_valid(&Signature::from_bytes(&bytes), &public_key()));
        }

        #[test]
        fn arbitrary_json_and_signature_text_never_panic(value in json_value(), text in any::<String>()) {
            if let Ok(card) = CapabilityCard::parse(&value) {
                // Whatever parses holds only valid ids, a sha256 and ordered times.
                prop_assert!(!card.capabilities.is_empty());
                prop_assert!(crate::package::is_sha256_hex(&card.sha256));
                prop_assert!(card.expires_at.is_none_or(|e| e > card.issued_at));
            }
            let _ = parse_signature(&text);
        }
    }
}
