//! Authentication, session tokens and rate limits.
//!
//! The [`authenticate`] middleware reads the credential once per request
//! (`Authorization: Bearer`, `X-API-Key`, or the `pyhall_session` cookie, in
//! that order), checks it against the store, applies the rate limit of the
//! credential (or of the client IP when there is none) and leaves the outcome
//! in the request. Handlers take a [`Principal`], which turns that outcome into
//! the caller or the right 401/403. Credentials are never logged.
//!
//! A state-changing request authenticated by the cookie alone must come
//! from this server's own origin (`origin`).
//!
//! `session` mints and verifies session tokens; `credential` finds the
//! presented credential and checks it; `key_use` records key use, throttled;
//! `rate_limit` counts requests, in Redis or in this process; `extract` gives
//! handlers the caller.

mod client_ip;
mod credential;
mod extract;
mod key_use;
mod origin;
mod rate_limit;
mod session;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};

pub use client_ip::TrustedProxies;
pub use credential::{API_KEY_HEADER, SESSION_COOKIE};
pub use extract::{AnyStanding, MaybePrincipal, Principal, Via};
pub use session::{AuthConfig, Session};

use crate::error::ApiError;
use crate::state::AppState;

/// What authentication concluded for this request.
#[derive(Debug, Clone)]
enum AuthOutcome {
    Anonymous,
    Authenticated(Principal),
    Failed(ApiError),
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// Authenticates (when a credential is presented) and rate limits every request.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // The client's address bucket (behind trusted proxies, the address they saw).
    let ip = match req.peer_addr() {
        Some(peer) => {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            client_ip::bucket(state.auth.trusted_proxies.client(peer.ip(), forwarded))
        }
        None => "unknown".into(),
    };
    let outcome = match credential::presented_credential(&req) {
        None => AuthOutcome::Anonymous,
        Some(Err(e)) => AuthOutcome::Failed(e),
        Some(Ok(token)) => {
            // A browser adds the cookie to requests any site makes.
            let forgeable = credential::by_cookie(&req);
            match forgeable.then(|| origin::same_origin(&req)).transpose() {
                Err(e) => AuthOutcome::Failed(e),
                Ok(_) => match credential::check_credential(&state, &token, &ip).await {
                    Ok(p) => AuthOutcome::Authenticated(p),
                    Err(e) => AuthOutcome::Failed(e),
                },
            }
        }
    };
    if !rate_limit::exempt_from_limits(req.path()) {
        let (bucket, limit) = match &outcome {
            AuthOutcome::Authenticated(p) => (
                format!("rl:key:{}", p.key_id),
                state.auth.per_credential_per_minute,
            ),
            _ => (format!("rl:ip:{ip}"), state.auth.anonymous_per_minute),
        };
        if limit > 0 {
            let counted = rate_limit::count_request(&state, &bucket).await;
            if counted.0 > limit {
                let retry_after = counted.1.as_secs().max(1);
                let mut resp = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("rate limit of {limit} requests per minute exceeded; retry in {retry_after} s"),
                )
                .error_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    resp.headers_mut().insert(RETRY_AFTER, v);
                }
                return Ok(req.into_response(resp));
            }
        }
    }
    req.extensions_mut().insert(outcome);
    Ok(next.call(req).await?.map_into_boxed_body())
}
