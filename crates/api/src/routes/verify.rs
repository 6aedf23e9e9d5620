//! `GET /api/v1/verify/{worker_id}`, exactly as the PyHall clients read it.

use actix_web::web;
use serde::Serialize;
use service::Verified;
use utoipa::ToSchema;

use crate::auth::MaybePrincipal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::resource;
use crate::routes::worker_ref;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/verify/{worker_id}", &["GET"]).route(web::get().to(verify)));
}

/// All ten keys are always present (the Python client builds its record
/// from exactly these).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    #[schema(example = "x.test.worker1")]
    pub worker_id: String,
    /// `active`, `revoked` or `banned`.
    #[schema(example = "active")]
    pub status: String,
    /// SHA-256 (64 lowercase hex) of the latest accepted attestation; null until one exists.
    pub current_hash: Option<String>,
    pub banned: bool,
    pub ban_reason: Option<String>,
    pub attested_at: Option<String>,
    pub ai_generated: bool,
    pub ai_service: Option<String>,
    pub ai_model: Option<String>,
    pub ai_session_fingerprint: Option<String>,
}

/// Verify a worker (public). Unknown workers, and private workers of other
/// tenants, answer 404 alike (the SDKs report `unknown`).
#[utoipa::path(get, path = "/api/v1/verify/{worker_id}", tag = "contract",
    params(("worker_id" = String, Path, description = "WCP worker id (URL-encoded) or `wrk_…`")),
    responses((status = 200, body = VerifyResponse),
        (status = 404, description = "Unknown (or not visible to you)", body = ErrorBody)))]
pub async fn verify(
    caller: MaybePrincipal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<VerifyResponse>, ApiError> {
    let not_found = || ApiError::not_found(format!("worker {} not found", path.as_str()));
    let id = worker_ref(&path).map_err(|_| not_found())?;
    let viewer = caller.0.as_ref().map(|p| &p.tenant_id);
    let Verified {
        worker,
        current,
        ban_reason,
        status,
    } = state
        .hall
        .verify_worker(&id, viewer)
        .await?
        .ok_or_else(not_found)?;
    Ok(web::Json(VerifyResponse {
        worker_id: worker.record.worker_id.to_string(),
        status: status.as_str().into(),
        banned: ban_reason.is_some(),
        ban_reason,
        current_hash: current.as_ref().map(|a| a.sha256.clone()),
        attested_at: current.as_ref().map(|a| {
            a.accepted_at()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }),
        ai_generated: current.as_ref().is_some_and(|a| a.ai_generated),
        ai_service: current.as_ref().and_then(|a| a.ai_service.clone()),
        ai_model: current.as_ref().and_then(|a| a.ai_model.clone()),
        ai_session_fingerprint: current
            .as_ref()
            .and_then(|a| a.ai_session_id.as_deref())
            .map(service::verify::session_fingerprint),
    }))
}
