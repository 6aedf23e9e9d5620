//! The ban list of package hashes: `/api/v1/ban-list[/report|/reports…|/{sha256}]`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A confirmed entry, exactly as the PyHall clients read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanEntry {
    pub sha256: String,
    pub reason: String,
    pub reported_at: DateTime<Utc>,
    /// `community` (reported by a tenant) or `operator`.
    pub source: String,
    /// Always `approved`: only confirmed entries are listed.
    pub review_status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportHash {
    /// SHA-256 of the package: 64 hex characters (stored lowercase).
    pub sha256: String,
    pub reason: String,
    /// An `https://` (or `http://`) link to the evidence.
    pub evidence_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportView {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "rpt_0193a1b2c3d4e5f60718293a4b5c6d7e")
    )]
    pub id: String,
    pub sha256: String,
    pub reason: String,
    pub evidence_url: Option<String>,
    pub source: String,
    pub reporter_tenant: Option<String>,
    /// `pending`, `confirmed` or `rejected`.
    pub status: String,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportList {
    pub reports: Vec<ReportView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewNote {
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfirmedBan {
    pub report: ReportView,
    pub ban: BanEntry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanRecord {
    pub sha256: String,
    pub reason: String,
    pub source: String,
    pub report_id: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lift_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanHistory {
    pub sha256: String,
    /// Whether a ban on it is live now.
    pub banned: bool,
    pub history: Vec<BanRecord>,
}
