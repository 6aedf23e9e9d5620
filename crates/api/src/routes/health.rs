//! Liveness, readiness and metrics.

use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

pub use api_types::health::{ChainsReadiness, HealthResponse, ReadyResponse};

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

/// How long one readiness check answers `/readyz`.
pub const READY_FRESH_FOR: Duration = Duration::from_secs(1);

/// The last readiness check: what it found (the answer, or why not ready)
/// and when. Held under an async lock, so concurrent probes wait for the
/// one check in flight instead of each asking PostgreSQL.
#[derive(Default)]
pub struct Readiness(tokio::sync::Mutex<Option<(Instant, Result<ReadyResponse, String>)>>);

/// Readiness: PostgreSQL answers. 503 while it does not. Checked at most
/// once a second per process; probes in between get the last answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve (checked within the last second)", body = ReadyResponse),
        (status = 503, description = "PostgreSQL is unreachable", body = ErrorBody)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<ReadyResponse>, ApiError> {
    let mut last = state.readiness.0.lock().await;
    let answer = match &*last {
        Some((at, answer)) if at.elapsed() < READY_FRESH_FOR => answer.clone(),
        _ => {
            let answer = check(&state).await;
            *last = Some((Instant::now(), answer.clone()));
            answer
        }
    };
    drop(last);
    answer.map(web::Json).map_err(ApiError::unavailable)
}

/// One readiness check: a round trip to PostgreSQL, then to the cache.
async fn check(state: &AppState) -> Result<ReadyResponse, String> {
    state.metrics.readiness_checked();
    match tokio::time::timeout(READY_TIMEOUT, state.hall.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("not ready: {e}")),
        Err(_) => {
            return Err(format!(
                "not ready: PostgreSQL did not answer within {READY_TIMEOUT:?}"
            ))
        }
    }
    let cache = match state.cache.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("degraded: {e}"),
    };
    Ok(ReadyResponse {
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
        chains: chains_readiness(&state.hall.chain_checks),
    })
}

/// The chain verifier's state as `/readyz` reports it. A broken chain does
/// not make the replica unready: it keeps serving every tenant (and keeps
/// the evidence); the break is a sev1 alert through its event, the log and
/// `/metrics`, and shows here.
fn chains_readiness(status: &service::chain_check::ChainCheckStatus) -> ChainsReadiness {
    let Some(look) = status.last_look() else {
        return ChainsReadiness {
            state: if status.is_running() {
                "starting"
            } else {
                "off"
            }
            .into(),
            ..ChainsReadiness::default()
        };
    };
    let s = look.summary;
    ChainsReadiness {
        state: if s.broken > 0 {
            "broken"
        } else if status.is_stale(&look, chrono::Utc::now()) {
            "stale"
        } else if s.verified < s.receipts {
            "checking"
        } else {
            "ok"
        }
        .into(),
        receipts: s.receipts,
        verified: s.verified,
        broken_chains: s.broken,
        checked_at: Some(look.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    }
}

/// Prometheus metrics: request counts and latency histograms per route.
/// Public unless `HALL_METRICS_TOKEN` is set; then it needs
/// `Authorization: Bearer <that token>`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "HALL_METRICS_TOKEN is set and the request does not present it",
            body = ErrorBody)))]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = &state.metrics_token {
        if !presents_token(&req, expected) {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs `Authorization: Bearer <HALL_METRICS_TOKEN>`",
            )
            .error_response();
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return resp;
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(
            crate::VERSION,
            state.hall.facts.stats(),
            &state.hall.chain_checks,
            &state.hall.dispatch_stats,
        ))
}

/// Whether `req` carries `Authorization: Bearer <expected>`, compared in
/// constant time (over digests, so the length does not show either).
fn presents_token(req: &HttpRequest, expected: &str) -> bool {
    let Some(token) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return false;
    };
    let a = Sha256::digest(token.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
