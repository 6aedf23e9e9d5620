//! Tenants: `/api/v1/tenants[/{tenant_id}[/suspend|/reactivate]]`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// WCP-style dotted id, chosen now and never changed (`org.acme`, `x.alice`).
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(example = "Acme Corp"))]
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantView {
    #[cfg_attr(feature = "openapi", schema(example = "org.acme"))]
    pub id: String,
    pub display_name: String,
    /// `active` or `suspended`.
    #[cfg_attr(feature = "openapi", schema(example = "active"))]
    pub status: String,
    /// True for the registry operator's own tenant.
    pub operator: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
}
