//! Receipt signing keys: `GET /api/v1/keys`, `POST /api/v1/keys/rotate`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKeyView {
    pub kid: String,
    /// Ed25519 public key, standard base64.
    pub public_key: String,
    #[cfg_attr(feature = "openapi", schema(example = "Ed25519"))]
    pub algorithm: String,
    /// `active` (signing now) or `retired` (still verifies old receipts).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyList {
    pub keys: Vec<PublicKeyView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedKey {
    /// The kid receipts are signed with from now on.
    pub kid: String,
    /// The kid it replaced (still published: its receipts verify).
    pub retired_kid: String,
    pub keys: Vec<PublicKeyView>,
}
