//! Authentication, session tokens and rate limits.
//!
//! The [`authenticate`] middleware reads the credential once per request
//! (`Authorization: Bearer`, `X-API-Key`, or the `pyhall_session` cookie, in
//! that order), checks it against the store, applies the rate limit of the
//! credential (or of the client IP when there is none) and leaves the outcome
//! in the request. Handlers take a [`Principal`], which turns that outcome into
//! the caller or the right 401/403. Credentials are never logged.

use std::future::{ready, Ready};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION, COOKIE, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest, ResponseError};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use registry::credentials::KEY_PREFIX;
use registry::{ApiKeySecret, KeyCredential, Scope, Scopes, TenantStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wcp::TenantId;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "pyhall_session";
pub const API_KEY_HEADER: &str = "x-api-key";
const TOKEN_ISSUER: &str = "hall-registry";
/// Name of the session signing secret shared by replicas through the database.
pub const SESSION_SECRET_NAME: &str = "session-token-hs256";
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    ApiKey,
    Session,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub key_id: Uuid,
    pub key_name: String,
    pub scopes: Scopes,
    pub operator: bool,
    pub via: Via,
    pub tenant_status: TenantStatus,
    /// When this credential stops working (session expiry or key expiry).
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own expiry, which caps any session minted from it.
    pub key_expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// 403 unless the credential carries `scope` (`admin` carries all).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "this credential lacks the `{scope}` scope (it has: {})",
                    self.scopes.names().join(", ")
                ),
            ))
        }
    }

    /// 403 unless the caller is the registry operator with `admin`.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if !self.operator {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "operator_only",
                "only the registry operator may do this",
            ));
        }
        self.require(Scope::Admin)
    }

    /// The tenant a request acts on: the caller's own, or — for the operator
    /// only — the one it names. Anyone else naming another tenant gets the
    /// same 404 as for a tenant that does not exist.
    pub fn acting_tenant(&self, requested: Option<&TenantId>) -> Result<TenantId, ApiError> {
        match requested {
            None => Ok(self.tenant_id.clone()),
            Some(t) if *t == self.tenant_id || self.operator => Ok(t.clone()),
            Some(t) => Err(ApiError::not_found(format!("tenant {t} not found"))),
        }
    }
}

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

/// Session token signing, and the limits of this server.
pub struct AuthConfig {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub session_ttl: Duration,
    pub per_credential_per_minute: u64,
    pub anonymous_per_minute: u64,
}

impl AuthConfig {
    pub fn new(
        session_secret: &[u8],
        session_ttl: Duration,
        per_credential_per_minute: u64,
        anonymous_per_minute: u64,
    ) -> Self {
        Self {
            encoding: EncodingKey::from_secret(session_secret),
            decoding: DecodingKey::from_secret(session_secret),
            session_ttl,
            per_credential_per_minute,
            anonymous_per_minute,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    iss: String,
    /// The API key the session was minted from.
    sub: Uuid,
    tid: String,
    scopes: Vec<String>,
    iat: i64,
    exp: i64,
    jti: Uuid,
}

/// A freshly minted session token.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub scopes: Scopes,
}

impl AuthConfig {
    /// Mints a session for `principal` (an API key) with `scopes`, which must
    /// not exceed the key's, living `ttl` but never past the key's expiry.
    pub fn mint(
        &self,
        principal: &Principal,
        scopes: Scopes,
        ttl: Duration,
    ) -> Result<Session, ApiError> {
        let now = Utc::now();
        let mut expires_at = now
            + chrono::Duration::from_std(ttl).map_err(|_| {
                ApiError::bad_request("invalid_request", "ttl_seconds is too large")
            })?;
        if let Some(key_exp) = principal.key_expires_at {
            expires_at = expires_at.min(key_exp);
        }
        let claims = SessionClaims {
            iss: TOKEN_ISSUER.into(),
            sub: principal.key_id,
            tid: principal.tenant_id.to_string(),
            scopes: scopes.names(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(Session {
            token,
            expires_at,
            scopes,
        })
    }

    fn verify(&self, token: &str) -> Result<SessionClaims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[TOKEN_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    unauthorized("credentials_expired", "the session token has expired")
                }
                _ => unauthorized(
                    "invalid_credentials",
                    "the credential is neither a known API key nor a valid session token",
                ),
            })
    }
}

/// The credential a request presents, if any.
fn presented_credential(req: &ServiceRequest) -> Option<Result<String, ApiError>> {
    let headers = req.headers();
    if let Some(value) = headers.get(AUTHORIZATION) {
        let parsed = value.to_str().ok().and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
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
                .map(str::to_string)
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
                    return Some(Ok(token.to_string()));
                }
            }
        }
    }
    None
}

/// Checks a presented credential. Database trouble fails closed (503).
async fn check_credential(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let store_err = |e: registry::StoreError| {
        tracing::warn!(error = %e, "credential check failed");
        ApiError::unavailable("cannot check credentials right now; retry shortly")
    };
    if token.starts_with(KEY_PREFIX) {
        let hash = ApiKeySecret::presented(token).hash();
        let cred = state
            .facts
            .credential_by_secret(&hash)
            .await
            .map_err(store_err)?
            .ok_or_else(|| unauthorized("invalid_credentials", "unknown API key"))?;
        check_key_state(&cred, "this API key")?;
        touch(state, &cred);
        return Ok(principal_from(cred, Via::ApiKey, None, None));
    }
    let claims = state.auth.verify(token)?;
    let tenant = TenantId::parse(&claims.tid)
        .map_err(|_| unauthorized("invalid_credentials", "invalid session token"))?;
    let cred = state
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

/// Records key use in the background, at most once a minute per key and
/// process (the stored `last_used_at` or this process's own record says
/// when it was last recorded); a failure here must not fail the request.
fn touch(state: &AppState, cred: &KeyCredential) {
    const EVERY: Duration = Duration::from_secs(60);
    if cred
        .key
        .last_used_at
        .is_some_and(|at| Utc::now() - at < chrono::Duration::minutes(1))
    {
        return;
    }
    {
        let now = std::time::Instant::now();
        let mut recorded = state
            .key_use_recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if recorded
            .get(&cred.key.id)
            .is_some_and(|at| now.duration_since(*at) < EVERY)
        {
            return;
        }
        if recorded.len() >= 100_000 {
            recorded.retain(|_, at| now.duration_since(*at) < EVERY);
        }
        recorded.insert(cred.key.id, now);
    }
    let store = state.store.clone();
    let tenant = cred.key.tenant_id.clone();
    let id = cred.key.id;
    tokio::spawn(async move {
        if let Err(e) = store.tenant(&tenant).touch_api_key(id).await {
            tracing::debug!(error = %e, "could not record API key use");
        }
    });
}

/// Routes that monitoring polls: never rate limited.
fn exempt_from_limits(path: &str) -> bool {
    matches!(path, "/health" | "/readyz" | "/metrics")
}

/// Authenticates (when a credential is presented) and rate limits every request.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let outcome = match presented_credential(&req) {
        None => AuthOutcome::Anonymous,
        Some(Err(e)) => AuthOutcome::Failed(e),
        Some(Ok(token)) => match check_credential(&state, &token).await {
            Ok(p) => AuthOutcome::Authenticated(p),
            Err(e) => AuthOutcome::Failed(e),
        },
    };
    if !exempt_from_limits(req.path()) {
        let (bucket, limit) = match &outcome {
            AuthOutcome::Authenticated(p) => (
                format!("rl:key:{}", p.key_id),
                state.auth.per_credential_per_minute,
            ),
            _ => {
                let ip = req
                    .peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "unknown".into());
                (format!("rl:ip:{ip}"), state.auth.anonymous_per_minute)
            }
        };
        if limit > 0 {
            let counted = count_request(&state, &bucket).await;
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

/// How long rate limiting stays off Redis after Redis failed.
const REDIS_BACKOFF: Duration = Duration::from_secs(5);

/// Counts a request in its bucket: in Redis (shared by replicas), or in this
/// process while Redis is failing — limiting per process rather than not at all.
async fn count_request(state: &AppState, bucket: &str) -> (u64, Duration) {
    use std::sync::atomic::Ordering;
    let now_ms = Utc::now().timestamp_millis().max(0) as u64;
    if state.cache.is_redis() && state.redis_backoff_until_ms.load(Ordering::Relaxed) <= now_ms {
        match state.cache.incr_in_window(bucket, RATE_WINDOW).await {
            Ok(counted) => return counted,
            Err(e) => {
                tracing::warn!(error = %e, "rate limiting falls back to this process for a while");
                state
                    .redis_backoff_until_ms
                    .store(now_ms + REDIS_BACKOFF.as_millis() as u64, Ordering::Relaxed);
            }
        }
    }
    let local = if state.cache.is_redis() {
        &state.local_limits
    } else {
        &state.cache
    };
    local
        .incr_in_window(bucket, RATE_WINDOW)
        .await
        .unwrap_or((0, RATE_WINDOW))
}

fn outcome_of(req: &HttpRequest) -> AuthOutcome {
    req.extensions()
        .get::<AuthOutcome>()
        .cloned()
        .unwrap_or(AuthOutcome::Anonymous)
}

fn require_authenticated(req: &HttpRequest) -> Result<Principal, ApiError> {
    match outcome_of(req) {
        AuthOutcome::Authenticated(p) => Ok(p),
        AuthOutcome::Failed(e) => Err(e),
        AuthOutcome::Anonymous => Err(unauthorized(
            "unauthenticated",
            "this endpoint needs a credential: `Authorization: Bearer <API key or session token>`, \
             `X-API-Key: <API key>`, or the `pyhall_session` cookie",
        )),
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(require_authenticated(req).and_then(|p| {
            if p.tenant_status == TenantStatus::Suspended {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "tenant_suspended",
                    format!("tenant {} is suspended", p.tenant_id),
                ))
            } else {
                Ok(p)
            }
        }))
    }
}

/// A caller whose tenant may be suspended: only for reporting standing.
pub struct AnyStanding(pub Principal);

impl FromRequest for AnyStanding {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(require_authenticated(req).map(AnyStanding))
    }
}

/// The caller on a public endpoint: `Some` with a valid, active credential,
/// `None` otherwise (a bad credential makes a public request anonymous, not an error).
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequest for MaybePrincipal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(MaybePrincipal(match outcome_of(req) {
            AuthOutcome::Authenticated(p) if p.tenant_status == TenantStatus::Active => Some(p),
            _ => None,
        })))
    }
}
