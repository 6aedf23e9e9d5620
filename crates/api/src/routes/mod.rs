//! HTTP handlers, one module per resource. Handlers parse the request, call
//! one use case (`service`) and map its error; nothing else. What several
//! resources parse the same way is here and in `params.rs` and `body.rs`.

pub mod account;
pub mod api_keys;
pub mod approvals;
pub mod attestations;
pub mod audit;
pub mod auth;
pub mod banlist;
pub mod body;
pub mod decisions;
pub mod discovery;
pub mod dispatches;
pub mod health;
pub mod keys;
pub mod namespaces;
mod params;
pub mod policy;
pub mod route;
pub mod routing_rules;
pub mod telemetry;
pub mod tenants;
pub mod verify;
pub mod webhooks;
pub mod workers;

use actix_web::{web, HttpRequest, Resource};

use crate::error::ApiError;
pub use body::{JsonBody, JsonObject};
pub use params::{acting_tenant, worker_ref, TenantQuery};

/// A resource whose unsupported methods get a JSON 405 with an `Allow` header.
pub fn resource(path: &str, allow: &'static [&'static str]) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed(
            req.method().as_str(),
            req.path(),
            allow,
        ))
    }))
}

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Routes are tried in this order and every pattern with a `{…}` costs a
    // regex match: the hot paths come first.
    decisions::configure(cfg);
    route::configure(cfg);
    dispatches::configure(cfg);
    keys::configure(cfg);
    audit::configure(cfg);
    verify::configure(cfg);
    health::configure(cfg);
    tenants::configure(cfg);
    api_keys::configure(cfg);
    auth::configure(cfg);
    account::configure(cfg);
    namespaces::configure(cfg);
    workers::configure(cfg);
    discovery::configure(cfg);
    attestations::configure(cfg);
    policy::configure(cfg);
    routing_rules::configure(cfg);
    banlist::configure(cfg);
    approvals::configure(cfg);
    telemetry::configure(cfg);
    webhooks::configure(cfg);
}

/// A required free-text field: at most `max` characters as sent (the
/// `maxLength` the OpenAPI document declares), not blank, no control
/// characters; kept trimmed.
pub fn text_field(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("{field} must be at most {max} characters"),
        ));
    }
    // Control characters are looked for as sent, so that a trailing newline
    // is refused as the document's pattern says, not trimmed away.
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("{field} must not contain control characters"),
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("{field} must not be empty"),
        ));
    }
    Ok(value.to_string())
}

/// An optional JSON body: `None` when empty; otherwise it must be a JSON
/// object (415 for another content type, 400 for malformed JSON or another
/// value), read as [`JsonBody`] reads one.
pub fn optional_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    // Only an empty body is absent: white space alone is not JSON.
    if body.is_empty() {
        return Ok(None);
    }
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            let ct = ct.trim();
            ct.eq_ignore_ascii_case("application/json") || ct.ends_with("+json")
        });
    if !is_json {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, sent with Content-Type: application/json",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    body::from_object(value).map(Some)
}

/// The answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Bytes reserved for a decision's or a route's JSON answer (a route's is
/// about 4 kB): encoding into a `String` grown from empty reallocates a
/// dozen times per answer, on the hot path.
const DECISION_ANSWER_BYTES: usize = 4096;

/// `response` with `body` as its JSON, encoded into one buffer sized for a
/// decision's answer. A body that cannot be encoded (none of ours: string
/// keys only) is a 500, as `HttpResponseBuilder::json` answers.
pub fn decision_json<T: serde::Serialize>(
    mut response: actix_web::HttpResponseBuilder,
    body: &T,
) -> actix_web::HttpResponse {
    let mut buf = Vec::with_capacity(DECISION_ANSWER_BYTES);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => response
            .content_type(actix_web::http::header::ContentType::json())
            .body(buf),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::internal(e)),
    }
}
