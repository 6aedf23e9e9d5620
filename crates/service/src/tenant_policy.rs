//! A tenant's policy (`GET` and `PUT /api/v1/policy`): what it asks of
//! attestations of its workers ([`AttestationPolicy`], applied by the
//! `attest` use case) and of decisions on them ([`TenantPolicy`]: tier
//! floors, signatories, attestation age, the L7 supervisor level, applied by
//! `decide`). The rows are `registry::tenant_policy`.

use attestation::AttestationPolicy;
use policy::TenantPolicy;
use registry::StoreError;
use wcp::TenantId;

use crate::Hall;

/// A tenant's policy, both parts.
#[derive(Debug, Clone)]
pub struct TenantPolicies {
    pub attestation: AttestationPolicy,
    pub decisions: TenantPolicy,
}

/// A change of a tenant's policy: each part given replaces the stored one,
/// a part left out stays as it is.
#[derive(Debug, Clone)]
pub struct SetTenantPolicy {
    pub tenant: TenantId,
    pub attestation: Option<AttestationPolicy>,
    pub decisions: Option<TenantPolicy>,
}

impl Hall {
    /// The tenant's policy as stored. A tenant that is not there is
    /// [`StoreError::NotFound`].
    pub async fn tenant_policy(&self, tenant: &TenantId) -> Result<TenantPolicies, StoreError> {
        Ok(TenantPolicies {
            attestation: self.store.tenant(tenant).attestation_policy().await?,
            decisions: self.store.decision_policy(tenant).await?,
        })
    }

    /// Replaces the parts given, then answers the policy as stored.
    pub async fn set_tenant_policy(
        &self,
        command: SetTenantPolicy,
    ) -> Result<TenantPolicies, StoreError> {
        let store = self.store.tenant(&command.tenant);
        if let Some(a) = command.attestation {
            store.set_attestation_policy(a).await?;
        }
        if let Some(d) = &command.decisions {
            store.set_decision_policy(d).await?;
        }
        // Decisions read the owner's policy from this process's copies.
        self.facts.invalidate();
        self.tenant_policy(&command.tenant).await
    }
}
