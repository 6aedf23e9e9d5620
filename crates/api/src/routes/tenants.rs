//! Tenants: operator-only administration (create, list, suspend, reactivate);
//! a tenant may read its own record. The handlers parse the request, call
//! the use case once (`service::tenants`) and map its [`TenantError`] here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use registry::{Tenant, TenantStatus};
use service::tenants::{NewTenant, TenantError};
use wcp::TenantId;

pub use api_types::tenants::{CreateTenant, TenantList, TenantView};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{resource, text_field, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/tenants", &["GET", "POST"])
            .route(web::get().to(list_tenants))
            .route(web::post().to(create_tenant)),
    )
    .service(resource("/api/v1/tenants/{tenant_id}", &["GET"]).route(web::get().to(get_tenant)))
    .service(
        resource("/api/v1/tenants/{tenant_id}/suspend", &["POST"])
            .route(web::post().to(suspend_tenant)),
    )
    .service(
        resource("/api/v1/tenants/{tenant_id}/reactivate", &["POST"])
            .route(web::post().to(reactivate_tenant)),
    );
}

/// A tenant as the API shows it.
fn view(t: Tenant) -> TenantView {
    TenantView {
        id: t.id.to_string(),
        display_name: t.display_name,
        status: t.status.as_str().to_string(),
        operator: t.is_operator,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

impl From<TenantError> for ApiError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::ReservedFamily => ApiError::bad_request("invalid_request", e.to_string()),
            TenantError::NotFound(_) => ApiError::not_found(e.to_string()),
            TenantError::Exists(_) | TenantError::SuspendOperator => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            TenantError::Store(e) => e.into(),
        }
    }
}

fn tenant_id_param(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::bad_request("invalid_tenant_id", e.to_string()))
}

/// Create a tenant (operator only).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = CreateTenant,
    security(("bearer" = [])),
    responses(
        (status = 201, body = TenantView),
        (status = 400, description = "Invalid or reserved id, or bad display name", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "A tenant with this id exists", body = ErrorBody)))]
pub async fn create_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<CreateTenant>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator()?;
    let new = NewTenant {
        id: TenantId::parse(&body.id)
            .map_err(|e| ApiError::bad_request("invalid_tenant_id", e.field("id").to_string()))?,
        display_name: text_field("display_name", &body.display_name, 200)?,
    };
    let tenant = state.hall.create_tenant(new).await?;
    Ok(HttpResponse::Created().json(view(tenant)))
}

/// List every tenant (operator only).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = TenantList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tenants(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<TenantList>, ApiError> {
    principal.require_operator()?;
    let tenants = state.hall.tenants().await?;
    Ok(web::Json(TenantList {
        tenants: tenants.into_iter().map(view).collect(),
    }))
}

/// Read a tenant (`read`): others only their own; the operator any, with `admin`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = String, Path, example = "org.acme")), security(("bearer" = [])),
    responses((status = 200, body = TenantView), (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks `read`, or the operator's key names another tenant without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "No such tenant, or not yours", body = ErrorBody)))]
pub async fn get_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TenantView>, ApiError> {
    principal.require(registry::Scope::Read)?;
    let id = principal.acting_tenant(Some(&tenant_id_param(&path)?))?;
    Ok(web::Json(view(state.hall.tenant(&id).await?)))
}

/// Suspend a tenant (operator only): its keys stop working; its data stays.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/suspend", tag = "tenants",
    params(("tenant_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = TenantView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The operator tenant cannot be suspended", body = ErrorBody)))]
pub async fn suspend_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TenantView>, ApiError> {
    set_status(principal, state, path, TenantStatus::Suspended).await
}

/// Reactivate a suspended tenant (operator only).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/reactivate", tag = "tenants",
    params(("tenant_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = TenantView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn reactivate_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<TenantView>, ApiError> {
    set_status(principal, state, path, TenantStatus::Active).await
}

async fn set_status(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    status: TenantStatus,
) -> Result<web::Json<TenantView>, ApiError> {
    principal.require_operator()?;
    let id = tenant_id_param(&path)?;
    let tenant = state.hall.set_tenant_status(&id, status).await?;
    Ok(web::Json(view(tenant)))
}
