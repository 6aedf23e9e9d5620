//! The WCP catalog: `POST /api/v1/catalog/import`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportResult {
    pub inserted: u64,
    pub updated: u64,
    pub catalog_version: Option<String>,
}
