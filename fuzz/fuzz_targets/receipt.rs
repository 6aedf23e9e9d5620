//! Receipt verification of arbitrary input: no panic, and no edit of a
//! sealed receipt verifies unless it changed nothing.
#![no_main]

use std::collections::HashMap;

use audit::{
    verify_chain, verify_receipt, ChainHead, Outcome, Receipt, ReceiptKey, ReceiptVersion,
    UnsignedReceipt,
};
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fn content() -> UnsignedReceipt {
    UnsignedReceipt {
        receipt_id: "0193a1b2-0000-7000-8000-000000000001".into(),
        spec_version: "0.2".into(),
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
        controls_verified: vec!["ctrl.obs.audit-log-append-only".into()],
        request_hash: None,
        dry_run: false,
        prev_receipt_hash: None,
        signing_key_id: String::new(),
        approval_id: Some("é".into()),
        // A route decision's receipt (format 3): every optional field set.
        receipt_version: ReceiptVersion::V3,
        acting_key_id: Some("0193a1b2-5555-7000-8000-00000000000a".into()),
        matched_rule_id: Some("rr_doc".into()),
        rules_version: Some("7".into()),
        rules_sha256: Some("c".repeat(64)),
        selected_worker_species_id: Some("wrk.doc.summarizer".into()),
    }
}

fuzz_target!(|data: &[u8]| {
    let key = ReceiptKey::new(SigningKey::from_bytes(&[5u8; 32]));
    let keys = HashMap::from([(key.kid.clone(), key.key.verifying_key())]);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = audit::parse_seed(text);
    }
    // The input as an export: one receipt or a chain.
    if let Ok(r) = serde_json::from_slice::<Receipt>(data) {
        let _ = verify_receipt(&r, &keys);
    }
    if let Ok(chain) = serde_json::from_slice::<Vec<Receipt>>(data) {
        if let Ok(n) = verify_chain(&chain, &keys) {
            assert_eq!(n, chain.len());
        }
    }
    // The input as edits of a sealed receipt's bytes: (position, XOR mask) pairs.
    let sealed = ChainHead::default().append(content(), &key);
    let mut bytes = serde_json::to_vec(&sealed).unwrap();
    for edit in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] ^= edit[2];
    }
    if let Ok(read) = serde_json::from_slice::<Receipt>(&bytes) {
        if read != sealed {
            assert!(
                verify_receipt(&read, &keys).is_err(),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
});
