//! Request middleware: request ids, structured access logs and metrics
//! ([`observe`]), and the one JSON error shape for responses the framework
//! makes on its own ([`normalize_errors`]).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request id a caller sent, when it is short and plain enough to log
/// verbatim; otherwise a fresh UUIDv7.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}

/// Gives every request an id (echoed in `X-Request-Id`, present on every log
/// line the request causes), logs its outcome and records its metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    // The path only: query strings may carry things that must not be logged.
    let path = req.path().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);

    let mut res = next.call(req).instrument(span.clone()).await?;

    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    if let Some(state) = state {
        state.metrics.observe(&method, &route, status, elapsed);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if matches!(route.as_str(), "/health" | "/readyz" | "/metrics") && status < 400 {
            tracing::debug!(status, latency_ms, route = %route, "request completed");
        } else if status >= 500 {
            tracing::error!(status, latency_ms, route = %route, "request failed");
        } else {
            tracing::info!(status, latency_ms, route = %route, "request completed");
        }
    });
    Ok(res)
}

/// Rewrites any error response that is not already JSON (the framework's own
/// 404 / 405 / 413 …) into `{"error": {"code", "message"}}`, keeping headers
/// such as `Allow` and `Retry-After`.
pub async fn normalize_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let method = req.method().to_string();
    let path = req.path().to_string();
    // No clone of the request may be held across the call: routing needs it unshared.
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res);
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return Ok(res);
    }
    let (req, old) = res.into_parts();
    let mut new = ApiError::for_status(status, &method, &path).error_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, new))
}
