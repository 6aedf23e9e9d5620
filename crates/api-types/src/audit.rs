//! The receipt export: `GET /api/v1/audit/receipts`.

use ::audit::Receipt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptExport {
    /// Receipts in chain order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<ReceiptSchema>))]
    pub receipts: Vec<Receipt>,
    /// Pass as `after` for the next page; null at the end of the chain.
    pub next_after: Option<i64>,
}

/// The signed receipt as the OpenAPI document describes it (the type is
/// `audit::Receipt`; this shape only documents it). WCP §5.7.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(as = Receipt)]
#[allow(dead_code)]
pub struct ReceiptSchema {
    /// The format: absent on version-1 receipts (everything sealed before the
    /// acting key was recorded), `2` on receipts with `acting_key_id`, `3`
    /// on the router's receipts (with the route evidence below). Verifiers
    /// read all three; the hash covers whichever fields are present.
    #[schema(minimum = 2, maximum = 3, example = 2)]
    receipt_version: Option<u8>,
    /// The decision id (UUIDv7).
    receipt_id: String,
    /// The WCP spec version the registry implements.
    spec_version: String,
    /// The tenant whose chain holds the receipt.
    tenant_id: String,
    correlation_id: String,
    /// RFC 3339, microseconds, UTC.
    decided_at: String,
    worker_id: String,
    capability_id: String,
    env: String,
    data_label: String,
    /// `ALLOW` or `DENY`.
    #[schema(example = "ALLOW")]
    outcome: String,
    deny_code: Option<String>,
    tier: u8,
    policy_version: String,
    controls_verified: Vec<String>,
    /// SHA-256 (hex) of the caller's request, when it sent one.
    request_hash: Option<String>,
    dry_run: bool,
    /// The previous receipt's hash in the tenant's chain; null for the first.
    prev_receipt_hash: Option<String>,
    /// The kid of the receipt key that signed (`GET /api/v1/keys`).
    signing_key_id: String,
    /// The human approval used or opened (WCP §5.8); absent otherwise.
    approval_id: Option<String>,
    /// Version 2: the id of the API key that asked for the decision (a
    /// session's key for a session), as `GET /api/v1/api-keys` lists it;
    /// never its secret. Signed with the rest. Absent on version 1.
    #[schema(format = Uuid)]
    acting_key_id: Option<String>,
    /// Version 3 (route decisions): the routing rule that matched, or
    /// `NO_MATCH`. Absent on other receipts, as are the three below.
    matched_rule_id: Option<String>,
    /// The version of the tenant's routing rules in force.
    rules_version: Option<String>,
    /// SHA-256 (hex) of that version's rules document.
    rules_sha256: Option<String>,
    /// The species of the worker the router selected.
    selected_worker_species_id: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of every other field but `signature`.
    receipt_hash: String,
    /// Ed25519 over the 32 raw bytes of `receipt_hash`, standard base64.
    signature: String,
}

/// A signed checkpoint of your receipt tree (`GET /api/v1/audit/checkpoint`
/// with `Accept: application/json`, and `GET /api/v1/audit/checkpoints`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointView {
    /// The signed note (C2SP tlog-checkpoint in a C2SP signed note): origin
    /// line, tree size, base64 tree head, a blank line, the log's signature
    /// line, then one line per witness cosignature it has (C2SP
    /// tlog-cosignature).
    pub checkpoint: String,
    /// `<registry log origin>/<tenant id>`.
    pub origin: String,
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub tree_size: u64,
    /// The tree head (RFC 9162 MTH), 64 hex digits.
    pub root: String,
    /// The receipt key that signed it (`GET /api/v1/keys`).
    pub key_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The witnesses' cosignatures (also signature lines of `checkpoint`).
    pub cosignatures: Vec<CosignatureView>,
}

/// A witness's cosignature of a checkpoint (C2SP tlog-cosignature, Ed25519
/// cosignature/v1): the witness checked it is consistent with every earlier
/// checkpoint it saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CosignatureView {
    /// The witness's key name.
    pub witness: String,
    /// Its 4-byte key id, 8 hex digits.
    pub key_id: String,
    /// When the witness signed, POSIX seconds (signed).
    pub timestamp: u64,
    /// The signature line, as in the note.
    pub line: String,
}

/// A witness trusted to cosign your checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WitnessView {
    /// The witness's key name (a schema-less URL, say).
    pub name: String,
    /// Its verifier key, `<name>+<key id>+<base64(0x04 ‖ Ed25519 key)>`.
    pub vkey: String,
    /// 8 hex digits.
    pub key_id: String,
    /// `tenant` (yours, registered by an admin) or `operator` (the
    /// registry's, `HALL_WITNESS_KEYS`, trusted for every tenant).
    #[cfg_attr(feature = "openapi", schema(example = "tenant"))]
    pub registered_by: String,
    /// When you registered it; null for the operator's.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WitnessList {
    pub witnesses: Vec<WitnessView>,
}

/// `POST /api/v1/audit/witnesses`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterWitness {
    /// The witness's verifier key (C2SP signed-note vkey with signature
    /// type 0x04, Ed25519 cosignature/v1), as `hallctl audit witness-key`
    /// prints it.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 400,
            pattern = r"^[^\s+\x00-\x1f\x7f-\x9f]+\+[0-9a-fA-F]{8}\+[A-Za-z0-9+/]{44}$",
            example = "witness.example.com/w1+4bdc7eaa+BP0XJDhaoMdbZPt4zWAvodmR/ev3axPFjtcC6sg16fYY"
        )
    )]
    pub vkey: String,
}

/// `POST /api/v1/audit/checkpoint/cosign`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CosignCheckpoint {
    /// One of your checkpoints as issued (its text unchanged), with the
    /// witness's cosignature line(s) among its signature lines; the log's
    /// own line may stay or go.
    #[cfg_attr(feature = "openapi", schema(max_length = 16384))]
    pub checkpoint: String,
}

/// Checkpoints, largest tree first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointList {
    pub checkpoints: Vec<CheckpointView>,
}

/// An inclusion proof (RFC 9162 §2.1.3): the receipt's leaf — SHA-256 of
/// 0x00 and the 32 bytes of its `receipt_hash` — at `leaf_index` of the
/// tree of `tree_size`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProofView {
    /// The receipt's chain position − 1.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The audit path, leaf to root, each 64 hex digits.
    pub hashes: Vec<String>,
}

/// A consistency proof (RFC 9162 §2.1.4) that the tree of `from` is a
/// prefix of the tree of `to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProofView {
    pub from: u64,
    pub to: u64,
    /// Each 64 hex digits; empty when `from` equals `to`.
    pub hashes: Vec<String>,
}
