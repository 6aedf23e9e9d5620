//! API keys: create (the secret is shown once), list (never the secret),
//! revoke. Keys act within their tenant; the operator may name another.
//! The handlers parse the request into the use case's command, call it once
//! (`service::api_keys`) and map its [`ApiKeyError`] here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use registry::{ApiKey, Scope, Scopes};
use service::api_keys::{ApiKeyError, NewApiKey};
use uuid::Uuid;

pub use api_types::api_keys::{ApiKeyList, ApiKeyView, CreateApiKey, CreatedApiKey};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{acting_tenant, resource, text_field, JsonBody, TenantQuery};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/api-keys", &["GET", "POST"])
            .route(web::get().to(list_api_keys))
            .route(web::post().to(create_api_key)),
    )
    .service(
        resource("/api/v1/api-keys/{key_id}", &["DELETE"]).route(web::delete().to(revoke_api_key)),
    );
}

/// An API key as the API shows it (never its secret).
fn view(k: ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        tenant_id: k.tenant_id.to_string(),
        name: k.name,
        prefix: k.prefix,
        scopes: k.scopes.names(),
        created_at: k.created_at,
        expires_at: k.expires_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::ExpiresInThePast => {
                ApiError::bad_request("invalid_request", e.to_string())
            }
            ApiKeyError::TenantNotFound(_) | ApiKeyError::NotFound(_) => {
                ApiError::not_found(e.to_string())
            }
            ApiKeyError::NameTaken { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            ApiKeyError::Generate(_) => ApiError::internal(e),
            ApiKeyError::Store(e) => e.into(),
        }
    }
}

/// Create an API key (`admin`). The response carries the secret once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedApiKey),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A live key with this name exists", body = ErrorBody)))]
pub async fn create_api_key(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let body = body.into_inner();
    let new = NewApiKey {
        tenant: acting_tenant(&principal, body.tenant_id.as_deref())?,
        name: text_field("name", &body.name, 100)?,
        scopes: Scopes::parse(&body.scopes)?,
        expires_at: body.expires_at.as_deref().map(rfc3339).transpose()?,
    };
    let created = state.hall.create_api_key(new).await?;
    Ok(HttpResponse::Created().json(CreatedApiKey {
        api_key: view(created.key),
        key: created.secret.expose().to_string(),
    }))
}

fn rfc3339(at: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_request",
                format!("expires_at {at:?} is not an RFC 3339 time such as 2030-01-31T00:00:00Z"),
            )
        })
}

/// List the tenant's API keys (`admin`); secrets are never shown.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(TenantQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list_api_keys(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<TenantQuery>,
) -> Result<web::Json<ApiKeyList>, ApiError> {
    principal.require(Scope::Admin)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let keys = state.hall.api_keys(&tenant).await?;
    Ok(web::Json(ApiKeyList {
        api_keys: keys.into_iter().map(view).collect(),
    }))
}

/// Revoke an API key (`admin`). Its session tokens stop working with it.
#[utoipa::path(delete, path = "/api/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = Uuid, Path), TenantQuery), security(("bearer" = [])),
    responses((status = 200, description = "The revoked key", body = ApiKeyView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<web::Json<ApiKeyView>, ApiError> {
    principal.require(Scope::Admin)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    // The id as it was sent, in every not-found message.
    let not_found = || ApiError::not_found(format!("API key {} not found", path.as_str()));
    let id = Uuid::parse_str(&path).map_err(|_| not_found())?;
    let key = state
        .hall
        .revoke_api_key(&tenant, id)
        .await
        .map_err(|e| match e {
            ApiKeyError::NotFound(_) => not_found(),
            other => other.into(),
        })?;
    Ok(web::Json(view(key)))
}
