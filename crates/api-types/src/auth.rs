//! Session tokens and "who am I": `/api/v1/auth/token`, `/api/v1/auth/whoami`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How the caller proved who it is (`WhoAmI::credential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    ApiKey,
    Session,
}

impl Credential {
    /// The name the answer carries (`api_key`, `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Narrow the session to these scopes (default: all of the key's).
    pub scopes: Option<Vec<String>>,
    /// Lifetime in seconds, 1 to 86400 (default: the server's HALL_SESSION_TTL_SECS).
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// A signed session token (JWT). Send it as `Authorization: Bearer` or the `pyhall_session` cookie.
    pub token: String,
    #[cfg_attr(feature = "openapi", schema(example = "Bearer"))]
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub tenant_id: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoAmI {
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub tenant_id: String,
    pub key_id: Uuid,
    pub key_name: String,
    pub scopes: Vec<String>,
    /// True for the registry operator.
    pub operator: bool,
    /// `api_key` or `session`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "api_key"))]
    pub credential: Credential,
    /// When this credential stops working, if it expires.
    pub expires_at: Option<DateTime<Utc>>,
}
