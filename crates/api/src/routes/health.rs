//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{web, HttpResponse};

pub use api_types::health::{HealthResponse, ReadyResponse};

use crate::error::{ApiError, ErrorBody};
use crate::routes::resource;
use crate::state::AppState;

/// Readiness waits at most this long for PostgreSQL.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health", &["GET"]).route(web::get().to(health)))
        .service(resource("/readyz", &["GET"]).route(web::get().to(readyz)))
        .service(resource("/metrics", &["GET"]).route(web::get().to(metrics)));
}

/// Liveness: the process answers. Public; the PyHall SDKs' `health()` reads it.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The server is up", body = HealthResponse)))]
pub async fn health() -> web::Json<HealthResponse> {
    web::Json(HealthResponse {
        ok: true,
        version: crate::VERSION.to_string(),
    })
}

/// Readiness: PostgreSQL answers. 503 while it does not.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyResponse),
        (status = 503, description = "PostgreSQL is unreachable", body = ErrorBody)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<ReadyResponse>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.hall.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ApiError::unavailable(format!("not ready: {e}"))),
        Err(_) => {
            return Err(ApiError::unavailable(format!(
                "not ready: PostgreSQL did not answer within {READY_TIMEOUT:?}"
            )))
        }
    }
    let cache = match state.cache.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("degraded: {e}"),
    };
    Ok(web::Json(ReadyResponse {
        ready: true,
        database: "ok".into(),
        cache,
        bans: if state.hall.bans.is_subscribed() {
            "subscribed"
        } else {
            "direct"
        }
        .into(),
        facts: if state.hall.facts.is_listening() {
            "subscribed"
        } else {
            "direct"
        }
        .into(),
    }))
}

/// Prometheus metrics: request counts and latency histograms per route.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(
            state
                .metrics
                .render(crate::VERSION, state.hall.facts.stats()),
        )
}
