//! Workers: `/api/v1/workers[/{id}[/revoke]]`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerView {
    /// Registry id.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "wrk_0193a1b2c3d4e5f60718293a4b5c6d7e")
    )]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(example = "x.myagent.my-agent"))]
    pub worker_id: String,
    #[cfg_attr(feature = "openapi", schema(example = "x.myagent"))]
    pub namespace: String,
    #[cfg_attr(feature = "openapi", schema(example = "my-agent"))]
    pub name: String,
    pub tenant_id: String,
    /// `active` or `revoked`.
    pub status: String,
    pub policy_tier: u8,
    pub capabilities: Vec<String>,
    pub worker_species_id: Option<String>,
    pub risk_tier: Option<String>,
    pub allowed_environments: Vec<String>,
    pub required_controls: Vec<String>,
    pub currently_implements: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub blast_radius: Option<serde_json::Value>,
    /// Sum of the blast radius dimensions (0–25), when declared.
    pub blast_score: Option<u8>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub privilege_envelope: Option<serde_json::Value>,
    pub owner: String,
    pub contact: Option<String>,
    pub artifact_hash: Option<String>,
    pub max_data_label: String,
    pub visibility: String,
    /// The registration as submitted.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerPage {
    pub workers: Vec<WorkerView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
