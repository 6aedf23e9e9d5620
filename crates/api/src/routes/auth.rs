//! Session tokens and "who am I".

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use registry::Scopes;

pub use api_types::auth::{Credential, TokenRequest, TokenResponse, WhoAmI};

use crate::auth::{Principal, Via};
use crate::error::{ApiError, ErrorBody};
use crate::routes::{optional_json, resource};
use crate::state::AppState;

/// Longest session a caller may ask for.
const MAX_SESSION: Duration = Duration::from_secs(24 * 3600);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/auth/token", &["POST"]).route(web::post().to(issue_token)))
        .service(resource("/api/v1/auth/whoami", &["GET"]).route(web::get().to(whoami)));
}

/// Exchange an API key for a short-lived session token. The body is optional.
/// The session's scopes never exceed the key's; revoking or expiring the key
/// ends its sessions.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body(content = Option<TokenRequest>),
    security(("bearer" = [])),
    responses((status = 200, body = TokenResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "A session token cannot mint sessions, or scopes exceed the key's", body = ErrorBody)))]
pub async fn issue_token(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if principal.via != Via::ApiKey {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "api_key_required",
            "session tokens are issued for API keys only; authenticate with the key itself",
        ));
    }
    let request: TokenRequest = optional_json(&req, &body)?.unwrap_or_default();
    let scopes = match &request.scopes {
        None => principal.scopes.clone(),
        Some(names) => {
            let wanted = Scopes::parse(names)?;
            if !principal.scopes.covers(&wanted) {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!(
                        "a session cannot carry more than its key; the key has: {}",
                        principal.scopes.names().join(", ")
                    ),
                ));
            }
            wanted
        }
    };
    let ttl = match request.ttl_seconds {
        None => state.auth.session_ttl,
        Some(s) if (1..=MAX_SESSION.as_secs()).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!(
                    "ttl_seconds must be an integer from 1 to {}",
                    MAX_SESSION.as_secs()
                ),
            ))
        }
    };
    let session = state.auth.mint(&principal, scopes, ttl)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        token: session.token,
        token_type: "Bearer".into(),
        expires_at: session.expires_at,
        tenant_id: principal.tenant_id.to_string(),
        scopes: session.scopes.names(),
    }))
}

/// Who the presented credential belongs to.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn whoami(principal: Principal) -> web::Json<WhoAmI> {
    web::Json(WhoAmI {
        tenant_id: principal.tenant_id.to_string(),
        key_id: principal.key_id,
        key_name: principal.key_name,
        scopes: principal.scopes.names(),
        operator: principal.operator,
        credential: match principal.via {
            Via::ApiKey => Credential::ApiKey,
            Via::Session => Credential::Session,
        },
        expires_at: principal.expires_at,
    })
}
