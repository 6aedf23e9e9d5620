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
    /// The background verifier of every tenant's receipt chain.
    #[serde(default)]
    pub chains: ChainsReadiness,
}

/// How far the background verifier has checked every tenant's receipt
/// chain (hash, link, signature, head), as of its last look.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainsReadiness {
    /// `ok`: every receipt verified; `checking`: receipts still to verify;
    /// `broken`: at least one chain has a recorded break (sev1: a
    /// `chain.integrity_failure` was sent); `stale`: no look has finished
    /// for three intervals (at least a minute) — the verifier keeps
    /// failing, the log says why; `starting`: no look has
    /// finished since this replica started; `off`: this process does not
    /// run the verifier. A broken chain does not make the replica unready.
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub state: String,
    /// Receipts in all chains.
    pub receipts: u64,
    /// Receipts verified (a broken chain's up to its break).
    pub verified: u64,
    /// Chains with a recorded break.
    pub broken_chains: u64,
    /// When the last look finished (RFC 3339); absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}
