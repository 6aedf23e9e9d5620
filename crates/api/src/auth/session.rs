//! Session tokens: short-lived HS256 JWTs minted from an API key.
//!
//! A session names the key it came from (`sub`), so every request made with
//! it is checked against that key's current state; it never outlives the
//! key nor carries more scopes than the key has when it is used.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use registry::Scopes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{unauthorized, Principal};
use crate::error::ApiError;

const TOKEN_ISSUER: &str = "hall-registry";

/// Session token signing, and the limits of this server.
pub struct AuthConfig {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub session_ttl: Duration,
    pub per_credential_per_minute: u64,
    pub anonymous_per_minute: u64,
    /// Whose `X-Forwarded-For` names the client (`HALL_TRUSTED_PROXIES`).
    pub trusted_proxies: super::client_ip::TrustedProxies,
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
            trusted_proxies: Default::default(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SessionClaims {
    iss: String,
    /// The API key the session was minted from.
    pub(super) sub: Uuid,
    pub(super) tid: String,
    pub(super) scopes: Vec<String>,
    iat: i64,
    pub(super) exp: i64,
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

    pub(super) fn verify(&self, token: &str) -> Result<SessionClaims, ApiError> {
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
