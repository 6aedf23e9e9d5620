//! The error envelope every 4xx and 5xx answer carries.

use serde::{Deserialize, Serialize};

// `{"error": {"code", "message"}}` (no doc comment: it would become the
// schema's description in the OpenAPI document).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `not_found`, `invalid_json`.
    #[cfg_attr(feature = "openapi", schema(example = "not_found"))]
    pub code: String,
    /// What went wrong, for people.
    #[cfg_attr(feature = "openapi", schema(example = "no route for GET /api/v1/nope"))]
    pub message: String,
}
