//! Namespaces and their signing keys: `/api/v1/namespaces[/{namespace}[/keys…]]`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceStatus {
    #[cfg_attr(feature = "openapi", schema(example = "x.alice"))]
    pub namespace: String,
    /// `available`, `yours`, `taken`, `reserved`, `pending` (your claim awaits
    /// the operator) or `invalid`.
    #[cfg_attr(feature = "openapi", schema(example = "available"))]
    pub status: String,
    /// Why it is invalid, reserved or taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimNamespace {
    #[cfg_attr(feature = "openapi", schema(example = "x.alice"))]
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceView {
    pub namespace: String,
    /// `claimed`, `pending` or `reserved`.
    pub status: String,
    /// The holder (absent for reservations).
    pub tenant_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceList {
    pub namespaces: Vec<NamespaceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReserveNamespace {
    #[cfg_attr(feature = "openapi", schema(example = "trademark of Acme Corp"))]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransferNamespace {
    /// The tenant that receives the claim.
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub tenant_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddNamespaceKey {
    /// Ed25519 public key: 32 bytes as base64 (standard or URL-safe) or 64 hex characters.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=")
    )]
    pub public_key: String,
    #[cfg_attr(feature = "openapi", schema(example = "release signing key 2026"))]
    pub label: String,
    /// Proof of possession (required): the key's Ed25519 signature (64
    /// bytes, base64 or hex) over the canonical JSON statement
    /// `{"kid":"<kid>","namespace":"<namespace>","purpose":"hall-registry/namespace-key/v1","tenant_id":"<your tenant>"}`
    /// (keys sorted, no whitespace). `hallctl namespace key add --key-file`
    /// and the Python client make it from the private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceKeyView {
    /// Key id, derived from the key (`nsk_` + 16 hex).
    #[cfg_attr(feature = "openapi", schema(example = "nsk_3f2a9c1d0b8e7a65"))]
    pub kid: String,
    pub namespace: String,
    /// Standard base64.
    pub public_key: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceKeyList {
    pub keys: Vec<NamespaceKeyView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForceRelease {
    /// Why (required; recorded in the namespace's history).
    #[cfg_attr(
        feature = "openapi",
        schema(example = "squatted: trademark of Acme Corp")
    )]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForceTransfer {
    /// The tenant that receives the claim.
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub tenant_id: String,
    /// Why (required; recorded in the namespace's history).
    #[cfg_attr(
        feature = "openapi",
        schema(example = "squatted: trademark of Acme Corp")
    )]
    pub reason: String,
}

/// One release or transfer of a namespace by the operator, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceChangeView {
    pub id: i64,
    pub namespace: String,
    /// `release` or `transfer`.
    #[cfg_attr(feature = "openapi", schema(example = "transfer"))]
    pub action: String,
    /// Forced: the active workers and keys under it were revoked first.
    pub forced: bool,
    /// The holder before (absent for a reservation).
    pub from_tenant: Option<String>,
    /// The new holder (transfers).
    pub to_tenant: Option<String>,
    /// Why (always given for a forced change).
    pub reason: Option<String>,
    /// The operator credential that did it: its tenant and API key id.
    pub actor_tenant: String,
    pub actor_key_id: String,
    /// Workers and signing keys this change revoked.
    pub revoked_workers: i64,
    pub revoked_keys: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceHistory {
    /// Oldest first.
    pub changes: Vec<NamespaceChangeView>,
}
