//! Liveness and readiness: `/health`, `/readyz`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// Always true when the process answers (the SDK contract).
    pub ok: bool,
    /// Server version.
    #[cfg_attr(feature = "openapi", schema(example = "0.1.0"))]
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadyResponse {
    pub ready: bool,
    /// `ok` when PostgreSQL answered.
    pub database: String,
    /// `ok`, or why the cache is degraded (the server keeps serving without it).
    pub cache: String,
    /// `subscribed`: the ban set is held in memory and kept current;
    /// `direct`: every ban check asks PostgreSQL (the subscription is down).
    pub bans: String,
    /// `subscribed`: keys, workers, policies and attestations are copied in
    /// memory and dropped on every announced change; `direct`: every check
    /// reads PostgreSQL (the change feed is down).
    pub facts: String,
}
