//! Tenant administration, the operator's: create a tenant, list them, read
//! one, suspend or reactivate one. The registry's rules about tenants live
//! here: the `hall.` family of ids is the registry's own, and the
//! operator's tenant is never suspended. A suspended tenant keeps its data;
//! its keys stop working (credential checks read the tenant's status through
//! this process's copies, dropped after each change).

use registry::{Conflict, Entity, StoreError, Tenant, TenantStatus};
use wcp::TenantId;

use crate::Hall;

/// The family of tenant ids reserved for the registry itself
/// (its operator is `hall.operator`).
pub const RESERVED_TENANT_FAMILY: &str = "hall";

/// A tenant to create, parsed.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Chosen now and never changed.
    pub id: TenantId,
    pub display_name: String,
}

/// Why a tenant was not created, found or changed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant ids in the `{RESERVED_TENANT_FAMILY}.` family are reserved for the registry")]
    ReservedFamily,
    #[error("tenant {0} already exists")]
    Exists(TenantId),
    #[error("tenant {0} not found")]
    NotFound(TenantId),
    #[error("the operator tenant cannot be suspended")]
    SuspendOperator,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Hall {
    /// Creates a tenant, active, with no keys yet.
    pub async fn create_tenant(&self, new: NewTenant) -> Result<Tenant, TenantError> {
        if new.id.family() == RESERVED_TENANT_FAMILY {
            return Err(TenantError::ReservedFamily);
        }
        let tenant = self
            .store
            .create_tenant(&new.id, &new.display_name)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Entity::Tenant(_), Conflict::Exists) => {
                    TenantError::Exists(new.id.clone())
                }
                other => other.into(),
            })?;
        self.facts.invalidate();
        Ok(tenant)
    }

    /// Every tenant, by id.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, TenantError> {
        Ok(self.store.list_tenants().await?)
    }

    pub async fn tenant(&self, id: &TenantId) -> Result<Tenant, TenantError> {
        self.store
            .tenant_by_id(id)
            .await?
            .ok_or_else(|| TenantError::NotFound(id.clone()))
    }

    /// Suspends or reactivates a tenant (again: no change but the time).
    /// The operator's tenant cannot be suspended.
    pub async fn set_tenant_status(
        &self,
        id: &TenantId,
        status: TenantStatus,
    ) -> Result<Tenant, TenantError> {
        if status == TenantStatus::Suspended && self.tenant(id).await?.is_operator {
            return Err(TenantError::SuspendOperator);
        }
        let tenant = self
            .store
            .set_tenant_status(id, status)
            .await?
            .ok_or_else(|| TenantError::NotFound(id.clone()))?;
        self.facts.invalidate();
        Ok(tenant)
    }
}
