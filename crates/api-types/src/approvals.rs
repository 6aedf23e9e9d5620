//! Human approvals (WCP §5.8): `/wcp/approvals/pending`, `/resolve`,
//! `/escalate`, and one approval by id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalView {
    /// `pending_approval_id` of the decision that opened it.
    pub id: String,
    pub tenant_id: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// `gatekeeper`, or `incident_commander` once escalated.
    pub supervisor_level: String,
    pub worker_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
    /// Why a human is needed.
    pub reason: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub escalation_context: serde_json::Value,
    /// The decision (receipt id) that opened it.
    pub decision_id: String,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    /// Pending: the deadline for a human; approved: the deadline for using it.
    pub expires_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The key that resolved or escalated it.
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    /// The decision that used it.
    pub used_by_decision: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingApprovals {
    pub pending: Vec<ApprovalView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResolveApproval {
    pub approval_id: String,
    /// `approve`, `deny` or `escalate`.
    #[cfg_attr(feature = "openapi", schema(example = "approve"))]
    pub resolution: String,
    /// Why (kept with the approval).
    pub note: Option<String>,
    /// Operator only, with `admin`: another tenant's approval.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EscalateApproval {
    pub approval_id: String,
    pub note: Option<String>,
    /// Operator only, with `admin`: another tenant's approval.
    pub tenant_id: Option<String>,
}
