//! What several resources read from a request the same way: a worker named
//! in the path, and the operator's `tenant_id` query parameter.

use registry::workers::WorkerRef;
use serde::Deserialize;
use utoipa::IntoParams;
use wcp::TenantId;

use crate::auth::Principal;
use crate::error::ApiError;

/// Parses a path id in either form; a malformed one is simply not found.
pub fn worker_ref(raw: &str) -> Result<WorkerRef, ApiError> {
    WorkerRef::parse(raw).map_err(|e| ApiError::not_found(e.field("worker").to_string()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Operator only, with `admin`: act on this tenant instead of the
    /// caller's own (another key gets 404, the operator's key without
    /// `admin` 403).
    pub tenant_id: Option<String>,
}

/// The tenant a request acts on (`service::Caller::acts_on`), from the
/// `tenant_id` query parameter when there is one.
pub fn acting_tenant(principal: &Principal, requested: Option<&str>) -> Result<TenantId, ApiError> {
    let requested = requested
        .map(|t| {
            TenantId::parse(t).map_err(|e| {
                ApiError::bad_request("invalid_tenant_id", e.field("tenant_id").to_string())
            })
        })
        .transpose()?;
    principal.acting_tenant(requested.as_ref())
}
