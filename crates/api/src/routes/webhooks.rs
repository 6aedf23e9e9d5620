//! A tenant's webhook endpoints and their delivery log (all `admin`). The
//! use cases are `service::webhooks`; what a delivery carries is
//! docs/events.md.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use api_types::webhooks::{
    CreateWebhook, DeliveryList, DeliveryView, UpdateWebhook, WebhookList, WebhookView,
    WebhookWithSecret,
};
use registry::webhooks::{Delivery, Endpoint};
use registry::Scope;
use serde::Deserialize;
use service::webhooks::{UpdateWebhook as Change, WithSecret};
use service::WebhookError;
use utoipa::IntoParams;
use webhooks::{DeliveryId, EndpointId};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{resource, text_field, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/webhooks", &["GET", "POST"])
            .route(web::get().to(list_webhooks))
            .route(web::post().to(create_webhook)),
    )
    .service(
        resource("/api/v1/webhooks/{id}", &["GET", "PATCH", "DELETE"])
            .route(web::get().to(get_webhook))
            .route(web::patch().to(update_webhook))
            .route(web::delete().to(delete_webhook)),
    )
    .service(
        resource("/api/v1/webhooks/{id}/secret/rotate", &["POST"])
            .route(web::post().to(rotate_webhook_secret)),
    )
    .service(
        resource("/api/v1/webhooks/{id}/deliveries", &["GET"])
            .route(web::get().to(list_deliveries)),
    )
    .service(
        resource(
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            &["POST"],
        )
        .route(web::post().to(redeliver_delivery)),
    );
}

/// Longest description of an endpoint.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// The one mapping of this resource's refusals.
fn refused(e: WebhookError) -> ApiError {
    let unprocessable =
        |code, msg: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, msg);
    match e {
        WebhookError::InvalidUrl(e) => unprocessable("invalid_url", e.to_string()),
        WebhookError::InvalidEventTypes(e) => unprocessable("invalid_event_types", e.to_string()),
        WebhookError::EndpointNotFound(id) => {
            ApiError::not_found(format!("webhook endpoint {id} not found"))
        }
        WebhookError::DeliveryNotFound(id) => {
            ApiError::not_found(format!("delivery {id} not found"))
        }
        e @ WebhookError::TooManyEndpoints(_) => {
            ApiError::new(StatusCode::CONFLICT, "too_many_webhooks", e.to_string())
        }
        WebhookError::Random(e) => ApiError::internal(e),
        WebhookError::Store(e) => e.into(),
    }
}

fn view(e: Endpoint) -> WebhookView {
    WebhookView {
        id: e.id.to_string(),
        url: e.url,
        event_types: e.subscription.names(),
        description: e.description,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason,
        failing_since: e.failing_since,
        previous_secret_expires_at: e.previous_secret.map(|(_, until)| until),
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

fn with_secret(w: WithSecret) -> WebhookWithSecret {
    WebhookWithSecret {
        secret: w.secret.expose(),
        endpoint: view(w.endpoint),
    }
}

fn delivery_view(d: Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        event_id: d.event_id,
        event_type: d.event_type,
        state: d.state.as_str().to_string(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_attempt_at: d.last_attempt_at,
        status_code: d.last_status,
        latency_ms: d.last_latency_ms,
        error: d.last_error,
        response_prefix: d.last_response,
        created_at: d.created_at,
    }
}

/// A malformed id in the path names no endpoint.
fn endpoint_in_path(raw: &str) -> Result<EndpointId, ApiError> {
    EndpointId::parse(raw)
        .map_err(|_| ApiError::not_found(format!("webhook endpoint {raw} not found")))
}

fn delivery_in_path(raw: &str) -> Result<DeliveryId, ApiError> {
    DeliveryId::parse(raw).map_err(|_| ApiError::not_found(format!("delivery {raw} not found")))
}

fn description(d: Option<&str>) -> Result<Option<String>, ApiError> {
    d.map(|d| text_field("description", d, MAX_DESCRIPTION_LEN))
        .transpose()
}

/// Register an endpoint (`admin`). The answer carries its signing secret,
/// shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhook, security(("bearer" = [])),
    responses((status = 201, description = "Registered; `secret` is shown this once", body = WebhookWithSecret),
        (status = 400, description = "`invalid_request`: the description is empty, too long or has control characters", body = ErrorBody),
        (status = 409, description = "`too_many_webhooks`: the tenant has 20 endpoints already, the most it may have", body = ErrorBody),
        (status = 422, description = "`invalid_url`: not https, a private, loopback or link-local host without the operator's HALL_WEBHOOK_ALLOW_PRIVATE, credentials or a fragment in it; or `invalid_event_types`: an unknown event type or none", body = ErrorBody)))]
pub async fn create_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let body = body.into_inner();
    let command = service::webhooks::CreateWebhook {
        tenant: principal.tenant_id.clone(),
        url: body.url,
        event_types: body.event_types,
        description: description(body.description.as_deref())?,
        enabled: body.enabled.unwrap_or(true),
    };
    let created = state.hall.create_webhook(command).await.map_err(refused)?;
    Ok(HttpResponse::Created().json(with_secret(created)))
}

/// The tenant's endpoints, oldest first (`admin`).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])), responses((status = 200, body = WebhookList)))]
pub async fn list_webhooks(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let list = state
        .hall
        .webhooks(&principal.tenant_id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: list.into_iter().map(view).collect(),
    }))
}

/// One endpoint (`admin`).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "`whep_…`")), security(("bearer" = [])),
    responses((status = 200, body = WebhookView),
        (status = 404, description = "The tenant has no such endpoint", body = ErrorBody)))]
pub async fn get_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let id = endpoint_in_path(&path)?;
    let e = state
        .hall
        .webhook(&principal.tenant_id, &id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(view(e)))
}

/// Change an endpoint (`admin`): absent fields stay; `enabled: true`
/// enables a disabled one again.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "`whep_…`")),
    request_body = UpdateWebhook, security(("bearer" = [])),
    responses((status = 200, body = WebhookView),
        (status = 400, description = "`invalid_request`: the description is empty, too long or has control characters", body = ErrorBody),
        (status = 404, description = "The tenant has no such endpoint", body = ErrorBody),
        (status = 422, description = "`invalid_url` or `invalid_event_types`, as for POST", body = ErrorBody)))]
pub async fn update_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let id = endpoint_in_path(&path)?;
    let body = body.into_inner();
    let change = Change {
        url: body.url,
        event_types: body.event_types,
        description: body
            .description
            .map(|d| description(d.as_deref()))
            .transpose()?,
        enabled: body.enabled,
    };
    let e = state
        .hall
        .update_webhook(&principal.tenant_id, &id, change)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(view(e)))
}

/// Remove an endpoint and its delivery log (`admin`).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "`whep_…`")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "The tenant has no such endpoint", body = ErrorBody)))]
pub async fn delete_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let id = endpoint_in_path(&path)?;
    state
        .hall
        .delete_webhook(&principal.tenant_id, &id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Give an endpoint a new signing secret (`admin`), shown this once. The
/// secret replaced keeps signing beside it for the overlap (24 hours by
/// default, `HALL_WEBHOOK_SECRET_OVERLAP_SECS`): deliveries meanwhile carry
/// two signatures.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/secret/rotate", tag = "webhooks",
    params(("id" = String, Path, description = "`whep_…`")), security(("bearer" = [])),
    responses((status = 200, description = "The new secret, shown this once", body = WebhookWithSecret),
        (status = 404, description = "The tenant has no such endpoint", body = ErrorBody)))]
pub async fn rotate_webhook_secret(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let id = endpoint_in_path(&path)?;
    let rotated = state
        .hall
        .rotate_webhook_secret(&principal.tenant_id, &id)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(with_secret(rotated)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An endpoint's delivery log, newest first (`admin`): each delivery's
/// state, attempts, next attempt and its last attempt's status, latency and
/// first 1024 bytes of the answer.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "`whep_…`"), DeliveriesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DeliveryList),
        (status = 400, description = "`invalid_query`: the limit is out of range or the cursor malformed", body = ErrorBody),
        (status = 404, description = "The tenant has no such endpoint", body = ErrorBody)))]
pub async fn list_deliveries(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let id = endpoint_in_path(&path)?;
    let limit = wcp::PageLimit::parse(query.limit, wcp::PageSize::WEBHOOK_DELIVERIES)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            DeliveryId::parse(c).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    "cursor must be the next_cursor of an earlier page",
                )
            })
        })
        .transpose()?;
    let page = state
        .hall
        .webhook_deliveries(&principal.tenant_id, &id, after.as_ref(), limit)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: page.items.into_iter().map(delivery_view).collect(),
        next_cursor: page.next.map(|d| d.to_string()),
    }))
}

/// Send a delivery again (`admin`), from the start of the retry schedule,
/// with the same `webhook-id`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "`whep_…`"),
        ("delivery_id" = String, Path, description = "`whdl_…`")),
    security(("bearer" = [])),
    responses((status = 202, description = "Queued: sent at once while the endpoint is enabled (a disabled endpoint's deliveries wait until it is enabled again)", body = DeliveryView),
        (status = 404, description = "The endpoint has no such delivery", body = ErrorBody)))]
pub async fn redeliver_delivery(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let (id, delivery) = path.into_inner();
    let id = endpoint_in_path(&id)?;
    let delivery = delivery_in_path(&delivery)?;
    let d = state
        .hall
        .redeliver(&principal.tenant_id, &id, &delivery)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Accepted().json(delivery_view(d)))
}
