//! `POST /api/v1/decisions`, `POST /api/route`, `GET /api/v1/decisions[/{id}]`.

use audit::Receipt;
use serde::{Deserialize, Serialize};

// `wcp::Env::parse` reads the field; these two types only document it.

/// An environment as a request gives it: a WCP environment (`dev`, `stage`,
/// `prod`, `edge`) or an alias (`development`, `staging`, `production`),
/// matched in any case. Answers and receipts carry the WCP value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum EnvName {
    Dev,
    Stage,
    Prod,
    Edge,
    Development,
    Staging,
    Production,
}

/// A data label, matched in any case; answers and receipts carry it in
/// capitals. `CONFIDENTIAL` is accepted as an alias of `RESTRICTED` (and
/// recorded as `RESTRICTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "UPPERCASE"))]
pub enum DataLabelName {
    Public,
    Internal,
    Restricted,
    Confidential,
}

/// What a decision came to: `ALLOW`, `DENY`, or `REQUIRE_HUMAN` (denied
/// until a human approves, WCP §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecisionOutcome {
    Allow,
    Deny,
    RequireHuman,
}

/// A decision request. `worker_id`, `capability` (or `capability_id`) and
/// `env` are required: the registry never picks an environment for the
/// caller. Without `data_label` the tenant's default label applies
/// (`RESTRICTED` unless its policy sets another; see docs/decisions.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionRequest {
    /// The registry id (`wrk_` + 32 hex) or the WCP worker id
    /// (`<namespace>.<name>`). Required: routing by capability alone (the
    /// router picking the worker) is not available yet.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "x.myagent.my-agent", required = true, value_type = String)
    )]
    pub worker_id: Option<String>,
    /// The capability to decide on (`cap.…`). Required, here or as `capability_id`.
    #[cfg_attr(feature = "openapi", schema(example = "cap.data.read.v1"))]
    pub capability: Option<String>,
    /// Accepted as a synonym of `capability` (the local Hall server's field).
    pub capability_id: Option<String>,
    /// Required. `dev`, `stage`, `prod` or `edge`, in any case; `development`,
    /// `staging` and `production` are accepted as aliases. The answer and the
    /// receipt record the canonical value.
    #[cfg_attr(feature = "openapi", schema(example = "dev", value_type = EnvName))]
    pub env: String,
    /// `PUBLIC`, `INTERNAL` or `RESTRICTED`, in any case (`CONFIDENTIAL` is
    /// an alias of `RESTRICTED`); the answer and the receipt record the
    /// canonical value in capitals. Omitted: the tenant's
    /// `decisions.default_data_label` (`RESTRICTED` unless set), so an
    /// omitted label never widens access.
    #[cfg_attr(feature = "openapi", schema(example = "PUBLIC", value_type = Option<DataLabelName>))]
    pub data_label: Option<String>,
    /// The requesting tenant. Default: the caller's; omit it or send your
    /// own: another tenant is refused (403) except to the operator's key with `admin` (403
    /// `insufficient_scope` without it), which must name one (400
    /// `tenant_required` without it).
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub tenant_id: Option<String>,
    /// Generated when absent.
    pub correlation_id: Option<String>,
    /// SHA-256 (64 lowercase hex) of the caller's request, bound into the receipt.
    pub request_hash: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// An approved human approval (WCP §5.8) for exactly this request, from
    /// an earlier decision's `pending_approval_id`. Used once.
    pub approval_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    /// The decision id (its receipt id, a UUIDv7).
    pub id: String,
    /// The same as `id` (the name the no-code integrations read).
    pub decision_id: String,
    /// `!denied`.
    pub allowed: bool,
    pub outcome: DecisionOutcome,
    /// Why: the deny reason, or a short sentence for an allow.
    pub reason: String,
    /// The SHA-256 of the worker's current attestation (its package hash);
    /// null when it has none, when the worker is unknown to you, and in
    /// the decision log (`GET /api/v1/decisions`).
    pub artifact_hash: Option<String>,
    /// The worker's species (`wrk.…`); null when its record names none,
    /// when the worker is unknown to you, and in the decision log.
    pub selected_worker_species_id: Option<String>,
    pub decided_at: String,
    pub worker_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
    pub tenant_id: String,
    pub correlation_id: String,
    pub denied: bool,
    pub deny_code: Option<String>,
    pub deny_reason: Option<String>,
    /// Effective policy tier (0–8).
    pub tier: u8,
    /// The receipt hash (hex): verifiable offline with `/api/v1/keys`.
    pub proof: String,
    /// The receipt's leaf in your verifiable log's Merkle tree (its chain
    /// position − 1): `GET /api/v1/audit/proof/inclusion` proves it is in
    /// a signed checkpoint (docs/audit.md).
    pub leaf_index: u64,
    /// The signed receipt (its hash is `proof`).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::audit::ReceiptSchema))]
    pub receipt: Receipt,
    /// True when a human must approve (REQUIRE_HUMAN, WCP §5.8). The decision
    /// is denied (`DENY_REQUIRES_HUMAN_APPROVAL`) until a human approves
    /// `pending_approval_id` and the call is repeated with `approval_id`.
    pub supervisor_required: bool,
    /// `gatekeeper` (a human must approve before execution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor_level: Option<String>,
    /// The approval waiting for a human (none for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_approval_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<String>,
    /// What the human is asked to approve.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub escalation_context: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionPage {
    pub decisions: Vec<DecisionView>,
    pub next_cursor: Option<String>,
}
