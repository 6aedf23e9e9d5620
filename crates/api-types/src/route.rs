//! `POST /api/v1/route` (and `POST /api/route` without `worker_id`): the
//! WCP router's request (§4.1) and answer (§4.2); `GET
//! /api/v1/telemetry/events`. The server reads a route request with
//! `routing::RouteInput::parse`; [`RouteRequest`] documents it.

use serde::{Deserialize, Serialize};

use crate::decisions::DecisionView;

/// A tenant's risk (`tenant_risk`), in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum TenantRiskName {
    Low,
    Medium,
    High,
    Critical,
}

/// A QoS class (`qos_class`), in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum QosClassName {
    P0,
    P1,
    P2,
    P3,
}

/// A route input (WCP §4.1). Any other field is refused by name (400), so
/// a misspelt governance field is never silently ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteRequest {
    /// The capability requested (`cap.…`).
    #[cfg_attr(feature = "openapi", schema(example = "cap.doc.summarize"))]
    pub capability_id: String,
    #[cfg_attr(feature = "openapi", schema(example = "dev", value_type = crate::decisions::EnvName))]
    pub env: String,
    /// Omitted: the tenant's default label (`RESTRICTED` unless its policy
    /// sets another). `CONFIDENTIAL` is read as `RESTRICTED`.
    #[cfg_attr(feature = "openapi", schema(example = "INTERNAL", value_type = Option<crate::decisions::DataLabelName>))]
    pub data_label: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "low", value_type = TenantRiskName))]
    pub tenant_risk: String,
    #[cfg_attr(feature = "openapi", schema(example = "P2", value_type = QosClassName))]
    pub qos_class: String,
    /// A UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`), propagated through
    /// every telemetry event. Required here; `POST /api/route` generates one
    /// when it is absent.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    )]
    pub correlation_id: String,
    /// Default: the caller's tenant; another is refused (403) except to the
    /// operator's key with `admin`.
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub tenant_id: Option<String>,
    /// The worker's payload, opaque to routing: at most 64 KiB of JSON. Its
    /// SHA-256 (canonical JSON) is the receipt's `request_hash`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub request: Option<serde_json::Value>,
    /// The chain's earlier blast radius (§6): `{data, network, financial,
    /// time, reversibility}`, each 0–5.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub blast_radius: Option<serde_json::Value>,
    /// The chain's earlier blast score, 0–100 (the larger of it and
    /// `blast_radius`'s sum counts).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub blast_score: Option<u8>,
    /// Opaque, at most 16 KiB of JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub privilege_context: Option<serde_json::Value>,
    /// Decide fully and receipt it, execute nothing, use and open no
    /// approval (§5.5).
    pub dry_run: Option<bool>,
    /// At most 8192 characters.
    pub tenant_credential: Option<String>,
    /// An approved approval (§5.8) for exactly this request: an earlier
    /// decision's `pending_approval_id` (a UUID). Used once.
    pub approval_id: Option<String>,
}

/// The route fields of a decision (§4.2) besides those every decision
/// answer has. `POST /api/v1/route` always sends them (null where the
/// decision has no value); `POST /api/route` sends them when it routed the
/// request (no `worker_id`). (`Option<Option<_>>`: absent, or a value that
/// may be null.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteFields {
    /// When the decision was made (RFC 3339, UTC; the receipt's `decided_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The routing rule that matched, or `NO_MATCH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_rule_id: Option<String>,
    /// The WCP worker id of the enrolled worker selected (null when none was,
    /// and on a deny).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub selected_worker_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_risk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<String>,
    /// pyhall's shape: `{"code", "message", …}` (e.g. `missing` for
    /// `DENY_MISSING_REQUIRED_CONTROLS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>, nullable))]
    pub deny_reason_if_denied: Option<Option<serde_json::Value>>,
    /// The chain's blast score (§6): the selected worker's five dimensions
    /// plus the input's earlier score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u16>, nullable))]
    pub blast_score: Option<Option<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<bool>, nullable))]
    pub blast_gate_passed: Option<Option<bool>>,
    /// Whether the selected worker's privilege envelope is within your
    /// tenant's policy (WCP-Full); null before a worker is selected and
    /// passes its required controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<bool>, nullable))]
    pub privilege_envelope_ok: Option<Option<bool>>,
    /// Sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_controls_effective: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub recommended_profiles_effective: Option<Vec<serde_json::Value>>,
    /// `{policy_gate, msavx_step_up, human_required_default, human_required_if, rationale}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub escalation_effective: Option<serde_json::Value>,
    /// The matched rule's candidates in rank order: `worker_species_id`,
    /// `score_hint`, `requires_controls_minimum`, `skip_reason`
    /// (`no_enrolled_worker`, the deny codes of its workers,
    /// `already_selected`), `worker_id` of the one selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub candidate_workers_ranked: Option<Vec<serde_json::Value>>,
    /// §5.4: `evt.os.task.routed`, `evt.os.worker.selected`,
    /// `evt.os.policy.gated` on an allow; `evt.os.task.denied` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub telemetry_envelopes: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The version of the tenant's routing rules that decided; null when it
    /// has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub rules_version: Option<Option<String>>,
}

/// A route decision: the fields of every decision answer (`decision_id`,
/// `allowed`, `outcome`, `reason`, `artifact_hash`,
/// `selected_worker_species_id`, `denied`, `deny_code`, `proof`, `receipt`,
/// the approval fields, …) and the route's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteAnswer {
    #[serde(flatten)]
    pub decision: DecisionView,
    #[serde(flatten)]
    pub route: RouteFields,
}

/// `GET /api/v1/telemetry/events`: the envelopes of one correlation id,
/// oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TelemetryEvents {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<serde_json::Value>,
}
