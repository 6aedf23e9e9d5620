//! Attestations: `/api/v1/workers/{id}/attest[/card]`, `/api/v1/workers/{id}/attestation[s]`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttestationView {
    #[cfg_attr(
        feature = "openapi",
        schema(example = "att_0193a1b2c3d4e5f60718293a4b5c6d7e")
    )]
    pub id: String,
    pub worker_id: String,
    /// The worker's authority namespace (what the Go and TypeScript SDKs read).
    #[cfg_attr(feature = "openapi", schema(example = "x.acme"))]
    pub namespace: String,
    pub sha256: String,
    /// The same hash as `sha256`, under the name the Go and TypeScript SDKs read.
    pub package_hash: String,
    /// `attested`, `pending` or `denied`.
    pub status: String,
    /// Why it is pending or denied.
    pub reason: Option<String>,
    /// `hash` (unsigned) or `card` (signed capability card).
    pub kind: String,
    /// The `kid` of the namespace key that signed the card.
    pub signed_by: Option<String>,
    /// When it was accepted, if it is attested.
    pub attested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub label: Option<String>,
    pub ai_generated: bool,
    pub ai_service: Option<String>,
    pub ai_model: Option<String>,
    /// The species the package was attested as (Go/TypeScript SDKs).
    pub worker_species_id: Option<String>,
    /// The package's version, as reported with the attestation.
    pub worker_version: Option<String>,
    /// The package's manifest path, as reported with the attestation.
    pub manifest_path: Option<String>,
}

/// What the seed SDK's `hall.workers.attest()` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttestationStatusView {
    pub worker_id: String,
    /// `attested`, `pending`, `denied` or `none`.
    pub status: String,
    /// SHA-256 of the attested package (of the latest attestation).
    pub artifact_hash: Option<String>,
    pub attested_at: Option<DateTime<Utc>>,
    pub signed_by: Option<String>,
    pub reason: Option<String>,
}
