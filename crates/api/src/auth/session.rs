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

/// What a session token says, once [`AuthConfig::verify`] accepted it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionClaims {
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

    /// Checks a session token: signed with this server's secret (HS256 only),
    /// issued by it, not expired. Any other text is a 401.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, ApiError> {
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

/// Properties of session tokens over generated input: a minted token
/// verifies to what was minted, any other text is refused without a panic,
/// and no single changed byte of a token is accepted.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::auth::Via;
    use proptest::prelude::*;
    use registry::TenantStatus;
    use wcp::TenantId;

    fn config() -> AuthConfig {
        AuthConfig::new(&[42u8; 32], Duration::from_secs(900), 0, 0)
    }

    fn principal(key_id: u128, tenant: &str, names: &[String]) -> Principal {
        Principal {
            tenant_id: TenantId::parse(tenant).unwrap(),
            key_id: Uuid::from_u128(key_id),
            key_name: "k".into(),
            scopes: Scopes::parse(names).unwrap(),
            operator: false,
            via: Via::ApiKey,
            tenant_status: TenantStatus::Active,
            expires_at: None,
            key_expires_at: None,
        }
    }

    fn minted() -> impl Strategy<Value = (u128, String, Vec<String>)> {
        (
            any::<u128>(),
            "(org|x)\\.[a-z0-9-]{1,20}",
            prop::collection::vec(
                prop::sample::select(vec!["admin", "read", "workers:write", "decisions:write"]),
                1..4,
            )
            .prop_map(|v| v.into_iter().map(String::from).collect()),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_minted_session_verifies_to_its_key_tenant_and_scopes((key, tenant, names) in minted()) {
            let auth = config();
            let p = principal(key, &tenant, &names);
            let session = auth.mint(&p, p.scopes.clone(), auth.session_ttl).unwrap();
            let claims = auth.verify(&session.token).unwrap();
            prop_assert_eq!(claims.sub, p.key_id);
            prop_assert_eq!(claims.tid, tenant);
            prop_assert_eq!(Scopes::parse(&claims.scopes).unwrap(), p.scopes);
            prop_assert_eq!(claims.exp, session.expires_at.timestamp());
        }

        #[test]
        fn any_changed_byte_of_a_session_token_is_refused(
            (key, tenant, names) in minted(),
            at in any::<usize>(),
            mask in 1u8..=127,
        ) {
            let auth = config();
            let p = principal(key, &tenant, &names);
            let token = auth.mint(&p, p.scopes.clone(), auth.session_ttl).unwrap().token;
            let mut bytes = token.into_bytes();
            let i = at % bytes.len();
            bytes[i] ^= mask;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(auth.verify(&changed).is_err(), "{}", changed);
        }

        #[test]
        fn a_token_signed_with_another_secret_is_refused((key, tenant, names) in minted(), other in any::<[u8; 32]>()) {
            prop_assume!(other != [42u8; 32]);
            let p = principal(key, &tenant, &names);
            let forged = AuthConfig::new(&other, Duration::from_secs(900), 0, 0)
                .mint(&p, p.scopes.clone(), Duration::from_secs(900))
                .unwrap()
                .token;
            prop_assert!(config().verify(&forged).is_err());
        }

        #[test]
        fn arbitrary_text_is_refused_without_a_panic(
            text in prop_oneof![
                any::<String>(),
                "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,60}",
            ]
        ) {
            prop_assert!(config().verify(&text).is_err());
        }
    }
}
