//! API keys: `/api/v1/api-keys[/{id}]`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[cfg_attr(feature = "openapi", schema(example = "ci-pipeline"))]
    pub name: String,
    /// Any of `admin`, `workers:write`, `decisions:write`, `read`.
    #[cfg_attr(feature = "openapi", schema(example = json!(["decisions:write", "read"])))]
    pub scopes: Vec<String>,
    /// When the key stops working (RFC 3339, in the future). Never, if absent.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<String>,
    /// Operator only, with `admin`: create the key for this tenant.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    /// The start of the key, for recognising it (`phk_` and 8 characters).
    #[cfg_attr(feature = "openapi", schema(example = "phk_Ab12Cd34"))]
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The secret. Shown this once; store it now.
    #[cfg_attr(feature = "openapi", schema(example = "phk_Ab12Cd34..."))]
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}
