//! Request middleware: request ids, structured access logs and metrics
//! ([`observe`]), and the one JSON error shape for responses the framework
//! makes on its own ([`normalize_errors`]).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
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

/// The largest request body the server reads, decoded (`HALL_MAX_BODY_BYTES`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Decodes a compressed request body (`Content-Encoding: gzip` or
/// `deflate`) before any handler reads it, reading at most the body limit
/// of it compressed and inflating at most the limit: a small body that
/// would inflate beyond it (a "zip bomb") is refused 413 with no more than
/// the limit inflated. (The framework's own decoder inflates each received
/// chunk whole before any limit is checked.) Other encodings are 415.
pub async fn inflate_bounded(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(encoding) = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|e| e != "identity")
    else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let limit = req.app_data::<BodyLimit>().map_or(256 * 1024, |l| l.0);
    let mut payload = req.take_payload();
    match inflate(&mut payload, &encoding, limit).await {
        Ok(body) => {
            let headers = req.headers_mut();
            headers.remove(header::CONTENT_ENCODING);
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            req.set_payload(actix_web::dev::Payload::from(web::Bytes::from(body)));
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

/// The decoded body: at most `limit` bytes read, at most `limit` inflated.
async fn inflate(
    payload: &mut actix_web::dev::Payload,
    encoding: &str,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    use std::io::Read;
    let too_large = || {
        ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the {limit}-byte limit (decoded)"),
        )
    };
    if !matches!(encoding, "gzip" | "x-gzip" | "deflate") {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Encoding {encoding:?} is not supported; send gzip, deflate or none"),
        ));
    }
    let mut compressed = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("invalid_request", format!("the request body: {e}"))
        })?;
        if compressed.len() + chunk.len() > limit {
            return Err(too_large());
        }
        compressed.extend_from_slice(&chunk);
    }
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut body = Vec::new();
    let read = if encoding == "deflate" {
        flate2::read::ZlibDecoder::new(&compressed[..])
            .take(cap)
            .read_to_end(&mut body)
    } else {
        flate2::read::MultiGzDecoder::new(&compressed[..])
            .take(cap)
            .read_to_end(&mut body)
    };
    read.map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("the request body is not valid {encoding}: {e}"),
        )
    })?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}
