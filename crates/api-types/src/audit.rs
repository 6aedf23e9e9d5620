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
