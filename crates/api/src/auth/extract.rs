//! What handlers take: the caller as a [`Principal`] (or [`AnyStanding`],
//! [`MaybePrincipal`]), read from the outcome the [`super::authenticate`]
//! middleware left in the request, with the right 401/403 when there is none.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use registry::{Scope, Scopes, TenantStatus};
use serde::Serialize;
use service::NotYourTenant;
use uuid::Uuid;
use wcp::TenantId;

use super::{unauthorized, AuthOutcome};
use crate::error::ApiError;

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

    /// Who asks, as the use cases know a caller.
    pub fn caller(&self) -> service::Caller<'_> {
        service::Caller {
            tenant: &self.tenant_id,
            operator: self.operator,
            admin: self.scopes.allows(Scope::Admin),
            key_id: self.key_id,
        }
    }

    /// The tenant a request acts on (`service::Caller::acts_on`): anyone but
    /// the operator naming another tenant gets the same 404 as for a tenant
    /// that does not exist; the operator's key without `admin` gets 403
    /// `insufficient_scope`.
    pub fn acting_tenant(&self, requested: Option<&TenantId>) -> Result<TenantId, ApiError> {
        self.caller().acts_on(requested).map_err(|e| match e {
            NotYourTenant::NotFound(_) => ApiError::not_found(e.to_string()),
            NotYourTenant::AdminRequired { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", e.to_string())
            }
        })
    }
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
