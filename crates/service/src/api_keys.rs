//! API key administration: create a key (its secret is returned this once),
//! list a tenant's keys, revoke one. The tenant a command acts on is settled
//! before it is built (the caller's own, or — for the operator — the one it
//! names); every row is reached through that tenant, so a key of another
//! tenant is not there. Credential checks read keys through this process's
//! copies ([`registry::facts::FactsCache`]): each change drops them after it
//! commits, so a revoked key is refused at once.

use chrono::{DateTime, Utc};
use registry::credentials::{ApiKeySecret, KeyError, Scopes};
use registry::{ApiKey, Conflict, Entity, StoreError};
use uuid::Uuid;
use wcp::TenantId;

use crate::Hall;

/// A key to create, parsed.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The tenant the key acts for.
    pub tenant: TenantId,
    /// Unique among the tenant's keys.
    pub name: String,
    pub scopes: Scopes,
    /// When the key stops working; never, if `None`. Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just created, with its secret: shown once, never stored.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

/// Why a key was not created, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("expires_at must be in the future")]
    ExpiresInThePast,
    #[error("tenant {0} not found")]
    TenantNotFound(TenantId),
    /// Key names are unique within a tenant.
    #[error("tenant {tenant} already has a live API key named {name:?}")]
    NameTaken { tenant: TenantId, name: String },
    /// No such key of this tenant (another tenant's key is not there).
    #[error("API key {0} not found")]
    NotFound(Uuid),
    /// No secret could be generated (the system's random number generator failed).
    #[error("no API key secret could be generated: {0:?}")]
    Generate(KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Hall {
    /// Creates an API key for an existing tenant.
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<CreatedApiKey, ApiKeyError> {
        if new.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiKeyError::ExpiresInThePast);
        }
        if self.store.tenant_by_id(&new.tenant).await?.is_none() {
            return Err(ApiKeyError::TenantNotFound(new.tenant));
        }
        let secret = ApiKeySecret::generate().map_err(ApiKeyError::Generate)?;
        let key = self
            .store
            .tenant(&new.tenant)
            .create_api_key(&new.name, &secret, &new.scopes, new.expires_at)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Entity::ApiKey { .. }, Conflict::Exists) => {
                    ApiKeyError::NameTaken {
                        tenant: new.tenant.clone(),
                        name: new.name.clone(),
                    }
                }
                other => other.into(),
            })?;
        self.facts.invalidate();
        Ok(CreatedApiKey { key, secret })
    }

    /// The tenant's keys, oldest first; secrets are never kept.
    pub async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, ApiKeyError> {
        Ok(self.store.tenant(tenant).list_api_keys().await?)
    }

    /// Revokes one of the tenant's keys (again: no change). Sessions minted
    /// from it stop working with it.
    pub async fn revoke_api_key(&self, tenant: &TenantId, id: Uuid) -> Result<ApiKey, ApiKeyError> {
        let key = self
            .store
            .tenant(tenant)
            .revoke_api_key(id)
            .await?
            .ok_or(ApiKeyError::NotFound(id))?;
        self.facts.invalidate();
        Ok(key)
    }
}
