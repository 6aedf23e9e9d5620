//! `GET /api/account/standing`, as the reference local Hall server reads it.

use actix_web::web;
use chrono::{DateTime, Utc};
use registry::TenantStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AnyStanding;
use crate::error::ErrorBody;
use crate::routes::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/account/standing", &["GET"]).route(web::get().to(standing)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Standing {
    /// `ok` for an active tenant, `suspended` for a suspended one.
    #[schema(example = "ok")]
    pub standing: String,
    /// The plan: always `self-hosted` on this registry.
    #[schema(example = "self-hosted")]
    pub tier_id: String,
    /// No GitHub identity on a self-hosted registry.
    pub github_login: Option<String>,
    pub checked_at: DateTime<Utc>,
    #[schema(example = "org.acme")]
    pub tenant_id: String,
}

/// The caller's account standing. Answers for suspended tenants too (with
/// `suspended`), so a local Hall can tell why it must stay offline.
#[utoipa::path(get, path = "/api/account/standing", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Standing), (status = 401, body = ErrorBody)))]
pub async fn standing(caller: AnyStanding) -> web::Json<Standing> {
    let p = caller.0;
    web::Json(Standing {
        standing: match p.tenant_status {
            TenantStatus::Active => "ok",
            TenantStatus::Suspended => "suspended",
        }
        .into(),
        tier_id: "self-hosted".into(),
        github_login: None,
        checked_at: Utc::now(),
        tenant_id: p.tenant_id.to_string(),
    })
}
