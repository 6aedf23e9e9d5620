//! `GET /api/dispatches/recent`: the tenant's latest route decisions, which
//! the PyHall MCP server shows as recent dispatches. The decision log
//! (`service::decision_log`) restricted to the router's receipts.

use actix_web::web;
use registry::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::decisions::{view, DecisionView};
use crate::routes::resource;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/dispatches/recent", &["GET"]).route(web::get().to(recent_dispatches)),
    );
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DispatchesQuery {
    /// 1–500 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dispatches {
    /// Newest first; each with its receipt, whose `matched_rule_id`,
    /// `rules_version` and `selected_worker_species_id` say how it was routed.
    pub dispatches: Vec<DecisionView>,
}

/// Your tenant's latest route decisions — `POST /api/v1/route`, and
/// `POST /api/route` without a worker — newest first (`read`).
#[utoipa::path(get, path = "/api/dispatches/recent", tag = "contract", params(DispatchesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Dispatches),
        (status = 400, description = "`limit` is out of range (`invalid_query`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks `read` (`insufficient_scope`)", body = ErrorBody)))]
pub async fn recent_dispatches(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<DispatchesQuery>,
) -> Result<web::Json<Dispatches>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = wcp::PageLimit::parse(query.limit, wcp::PageSize::DECISIONS)?;
    let dispatches = state
        .hall
        .recent_dispatches(&principal.tenant_id, limit)
        .await?;
    Ok(web::Json(Dispatches {
        dispatches: dispatches.into_iter().map(view).collect(),
    }))
}
