//! The receipt export auditors verify offline (`GET /api/v1/audit/receipts`):
//! a tenant's receipts in chain order.

use actix_web::{web, HttpResponse};
use registry::Scope;
use serde::Deserialize;
use utoipa::IntoParams;

pub use api_types::audit::ReceiptExport;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::resource;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/audit/receipts", &["GET"]).route(web::get().to(export_receipts)));
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Continue after this chain position (default 0: from the start).
    pub after: Option<i64>,
    /// 1–5000 (default 1000).
    pub limit: Option<i64>,
}

/// Your tenant's receipts in chain order, for offline verification (`read`).
#[utoipa::path(get, path = "/api/v1/audit/receipts", tag = "decisions", params(ExportQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReceiptExport), (status = 400, body = ErrorBody)))]
pub async fn export_receipts(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let limit = wcp::PageLimit::parse(query.limit, wcp::PageSize::RECEIPT_EXPORT)?;
    let page = state
        .hall
        .export_receipts(&principal.tenant_id, query.after.unwrap_or(0), limit)
        .await?;
    Ok(HttpResponse::Ok().json(ReceiptExport {
        receipts: page.items,
        next_after: page.next,
    }))
}
