//! Credentials: where a request presents one (`Authorization: Bearer`,
//! `X-API-Key`, the `pyhall_session` cookie, in that order) and what it is
//! worth — an API key looked up by its hash, or a session token checked
//! against the key it was minted from. Database trouble fails closed (503).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{AUTHORIZATION, COOKIE};
use chrono::{DateTime, Utc};
use registry::credentials::KEY_PREFIX;
use registry::{ApiKeySecret, KeyCredential, Scopes};
use wcp::TenantId;

use super::key_use::touch;
use super::{unauthorized, Principal, Via};
use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "pyhall_session";
pub const API_KEY_HEADER: &str = "x-api-key";

/// The credential a request presents, if any.
pub(super) fn presented_credential(req: &ServiceRequest) -> Option<Result<String, ApiError>> {
    presented(req).map(|c| c.map(|(token, _)| token))
}

/// Whether the request's credential is the `pyhall_session` cookie (no
/// `Authorization` or `X-API-Key` header comes before it).
pub(super) fn by_cookie(req: &ServiceRequest) -> bool {
    matches!(presented(req), Some(Ok((_, true))))
}

/// The credential a request presents and whether it came from the cookie.
fn presented(req: &ServiceRequest) -> Option<Result<(String, bool), ApiError>> {
    let headers = req.headers();
    if let Some(value) = headers.get(AUTHORIZATION) {
        let parsed = value.to_str().ok().and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
                .then(|| (token.to_string(), false))
        });
        return Some(parsed.ok_or_else(|| {
            unauthorized(
                "invalid_credentials",
                "malformed Authorization header; send `Authorization: Bearer <API key or session token>`",
            )
        }));
    }
    if let Some(value) = headers.get(API_KEY_HEADER) {
        return Some(
            value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| (v.to_string(), false))
                .ok_or_else(|| unauthorized("invalid_credentials", "malformed X-API-Key header")),
        );
    }
    for value in headers.get_all(COOKIE) {
        let Ok(cookies) = value.to_str() else {
            continue;
        };
        for pair in cookies.split(';') {
            if let Some((name, token)) = pair.trim().split_once('=') {
                if name == SESSION_COOKIE && !token.is_empty() {
                    return Some(Ok((token.to_string(), true)));
                }
            }
        }
    }
    None
}

/// Checks a presented credential. Database trouble fails closed (503).
///
/// An API key this process holds no copy of costs a query, and anyone can
/// send keys that do not exist: those lookups are counted per client IP
/// (`ip`) against the anonymous limit before the query, so a flood of made-up
/// keys makes a bounded number of queries. Known keys answer from memory and
/// are not counted. (While the copies are not trusted — PostgreSQL's NOTIFY
/// is lost — every key costs a query and none is counted: limiting then
/// would refuse the registry's own clients.)
pub(super) async fn check_credential(
    state: &AppState,
    token: &str,
    ip: &str,
) -> Result<Principal, ApiError> {
    let store_err = |e: registry::StoreError| {
        tracing::warn!(error = %e, "credential check failed");
        ApiError::unavailable("cannot check credentials right now; retry shortly")
    };
    if token.starts_with(KEY_PREFIX) {
        let hash = ApiKeySecret::presented(token).hash();
        let facts = &state.hall.facts;
        let cred = match facts.credential_in_memory(&hash) {
            Some(known) => known,
            None => {
                count_lookup(state, ip).await?;
                facts
                    .credential_by_secret(&hash)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| unauthorized("invalid_credentials", "unknown API key"))?
            }
        };
        check_key_state(&cred, "this API key")?;
        touch(state, &cred);
        return Ok(principal_from(cred, Via::ApiKey, None, None));
    }
    let claims = state.auth.verify(token)?;
    let tenant = TenantId::parse(&claims.tid)
        .map_err(|_| unauthorized("invalid_credentials", "invalid session token"))?;
    let cred = state
        .hall
        .facts
        .session_credential(&tenant, claims.sub)
        .await
        .map_err(store_err)?
        .ok_or_else(|| unauthorized("invalid_credentials", "invalid session token"))?;
    check_key_state(&cred, "the API key behind this session")?;
    // A session never carries more than its key, even if the key changed.
    let claimed = Scopes::parse(&claims.scopes)
        .map_err(|_| unauthorized("invalid_credentials", "invalid session token"))?;
    let scopes: Vec<String> = claimed
        .iter()
        .filter(|s| cred.key.scopes.allows(*s))
        .map(|s| s.as_str().to_string())
        .collect();
    let scopes = Scopes::parse(&scopes)
        .map_err(|_| unauthorized("invalid_credentials", "the session carries no valid scope"))?;
    let expires_at = DateTime::from_timestamp(claims.exp, 0);
    Ok(principal_from(cred, Via::Session, Some(scopes), expires_at))
}

/// Counts a lookup of a key not in memory against `ip`'s anonymous limit;
/// past it, the lookup is refused (429) before it reaches PostgreSQL.
async fn count_lookup(state: &AppState, ip: &str) -> Result<(), ApiError> {
    let limit = state.auth.anonymous_per_minute;
    if limit == 0 || !state.hall.facts.is_listening() {
        return Ok(());
    }
    let (lookups, window_left) =
        super::rate_limit::count_request(state, &format!("rl:lookup:{ip}")).await;
    if lookups <= limit {
        return Ok(());
    }
    Err(ApiError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many unknown API keys from this address ({limit} lookups per minute); \
             retry in {} s",
            window_left.as_secs().max(1)
        ),
    ))
}

fn check_key_state(cred: &KeyCredential, what: &str) -> Result<(), ApiError> {
    if let Some(at) = cred.key.revoked_at {
        return Err(unauthorized(
            "credentials_revoked",
            format!("{what} was revoked at {}", at.to_rfc3339()),
        ));
    }
    if let Some(at) = cred.key.expires_at {
        if at <= Utc::now() {
            return Err(unauthorized(
                "credentials_expired",
                format!("{what} expired at {}", at.to_rfc3339()),
            ));
        }
    }
    Ok(())
}

fn principal_from(
    cred: KeyCredential,
    via: Via,
    session_scopes: Option<Scopes>,
    session_expiry: Option<DateTime<Utc>>,
) -> Principal {
    let key_expires_at = cred.key.expires_at;
    Principal {
        tenant_id: cred.key.tenant_id,
        key_id: cred.key.id,
        key_name: cred.key.name,
        scopes: session_scopes.unwrap_or(cred.key.scopes),
        operator: cred.is_operator,
        via,
        tenant_status: cred.tenant_status,
        expires_at: session_expiry.or(key_expires_at),
        key_expires_at,
    }
}
