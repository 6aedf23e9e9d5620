//! Capability cards, signatures and namespace keys from arbitrary input: no
//! panic, and a signed card verifies only while it means what was signed.
#![no_main]

use attestation::card::{parse_signature, sign_card, CapabilityCard};
use attestation::keys::NamespacePublicKey;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_signature(text);
        let _ = NamespacePublicKey::parse(text);
    }
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let public = NamespacePublicKey::from_bytes(key.verifying_key().as_bytes()).unwrap();
    let signed = json!({
        "worker_id": "x.acme.summarizer", "worker_species_id": "wrk.doc.summarizer",
        "capabilities": ["cap.doc.summarize"], "sha256": "a".repeat(64),
        "issued_at": "2026-11-24T12:00:00Z", "expires_at": "2027-11-24T12:00:00Z",
        "kid": "nsk_0011223344556677",
    });
    let signature = parse_signature(&sign_card(&signed, &key)).unwrap();
    // The input as a card of its own.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        if let Ok(card) = CapabilityCard::parse(&value) {
            assert!(!card.capabilities.is_empty());
            assert_eq!(card.signature_valid(&signature, &public), value == signed);
        }
    }
    // The input as edits of the signed card's bytes: (position, XOR mask) pairs.
    let mut bytes = serde_json::to_vec(&signed).unwrap();
    for edit in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] ^= edit[2];
    }
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        if let Ok(card) = CapabilityCard::parse(&value) {
            assert_eq!(card.signature_valid(&signature, &public), value == signed);
        }
    }
});
