//! Routing rules, their versions and golden snapshots:
//! `/api/v1/routing/rules[/versions[/{version}[/activate]]|/test]` and
//! `/api/v1/routing/snapshots`. The rules document itself is PyHall's rules
//! JSON (`{"rules": [...]}`, see docs/routing.md), carried as it is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One stored version of the tenant's rules, without the document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesVersionSummary {
    /// 1, 2, 3 … per tenant.
    #[cfg_attr(feature = "openapi", schema(example = 3, minimum = 1))]
    pub version: u32,
    /// Hex SHA-256 of the stored canonical JSON document.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    )]
    pub sha256: String,
    pub rule_count: u32,
    pub created_at: DateTime<Utc>,
    /// The id of the API key that stored it.
    pub created_by: Uuid,
    pub comment: Option<String>,
    /// Whether it is the version in force.
    pub active: bool,
}

/// The tenant's versions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesVersionList {
    pub versions: Vec<RulesVersionSummary>,
}

/// One stored version with its document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesVersionView {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: u32,
    pub sha256: String,
    pub rule_count: u32,
    pub created_at: DateTime<Utc>,
    pub created_by: Uuid,
    pub comment: Option<String>,
    pub active: bool,
    /// The rules document as it was stored (PyHall rules JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: serde_json::Value,
}

/// The version in force with its document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveRulesView {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: u32,
    pub sha256: String,
    pub activated_at: DateTime<Utc>,
    /// The rules document in force (PyHall rules JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: serde_json::Value,
}

/// The answer to activating a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesActivated {
    /// The version now in force.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: u32,
    /// False when it already was in force (nothing changed).
    pub changed: bool,
}

/// One difference between what the rules give a snapshot case and what the
/// case expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotDifference {
    /// The case's name.
    pub case: String,
    /// `matched_rule_id`, `candidate_workers_ranked` or `required_controls_effective`.
    #[cfg_attr(feature = "openapi", schema(example = "matched_rule_id"))]
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object, nullable = true))]
    pub expected: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object, nullable = true))]
    pub actual: serde_json::Value,
}

/// A snapshot run: the candidate rules (absent: the set in force) and the
/// cases (absent: the tenant's stored snapshots).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulesTestRequest {
    /// A candidate rules document (PyHall rules JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<serde_json::Value>,
    /// Snapshot cases (`{"name", "input", "expect"}`, see docs/routing.md).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>, max_items = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<Vec<serde_json::Value>>,
}

/// What a snapshot run found; nothing is written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesTestReport {
    /// True when there is no difference.
    pub passed: bool,
    /// How many cases ran.
    pub cases: usize,
    pub differences: Vec<SnapshotDifference>,
}

/// The tenant's golden snapshot cases.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Snapshots {
    /// Each `{"name", "input", "expect"}`; names unique; at most 1000.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>, max_items = 1000))]
    pub cases: Vec<serde_json::Value>,
    /// When they were last replaced (absent in a request; null when never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A 422 of `PUT /api/v1/routing/rules`: the error envelope; with
/// `snapshots_failed` it also lists the differences.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotsFailedBody {
    pub error: SnapshotsFailedDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotsFailedDetail {
    /// `invalid_rules` or `snapshots_failed`.
    #[cfg_attr(feature = "openapi", schema(example = "snapshots_failed"))]
    pub code: String,
    pub message: String,
    /// With `snapshots_failed`: what the stored snapshots expected and got.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<SnapshotDifference>,
}
