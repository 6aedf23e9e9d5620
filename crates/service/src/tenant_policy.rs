//! A tenant's policy (`GET` and `PUT /api/v1/policy`): what it asks of
//! attestations of its workers ([`AttestationPolicy`], applied by the
//! `attest` use case) and of decisions on them ([`TenantPolicy`]: tier
//! floors, signatories, attestation age, the L7 supervisor level, applied by
//! `decide`; the egress allowlist, applied by `policy::privilege`). The rows
//! are `registry::tenant_policy`.

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

/// The longest attestation age a policy may ask for: 100 years, in days.
pub const MAX_ATTESTATION_MAX_AGE_DAYS: u32 = 36_500;

/// Why a policy change was refused. Nothing of a refused change is written.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A value out of range; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SetTenantPolicy {
    /// Every range checked, before anything is written.
    pub fn check(&self) -> Result<(), PolicyError> {
        if let Some(days) = self
            .decisions
            .as_ref()
            .and_then(|d| d.attestation_max_age_days)
        {
            if !(1..=MAX_ATTESTATION_MAX_AGE_DAYS).contains(&days) {
                return Err(PolicyError::Invalid(format!(
                    "decisions.attestation_max_age_days must be from 1 to \
                     {MAX_ATTESTATION_MAX_AGE_DAYS} (days), not {days}"
                )));
            }
        }
        if let Some(d) = &self.decisions {
            for (env, dests) in &d.egress_allowlist {
                if dests.len() > policy::privilege::MAX_ALLOWLIST_PER_ENV {
                    return Err(PolicyError::Invalid(format!(
                        "decisions.egress_allowlist.{env} has {} destinations; at most {} are \
                         allowed per env",
                        dests.len(),
                        policy::privilege::MAX_ALLOWLIST_PER_ENV
                    )));
                }
            }
        }
        Ok(())
    }
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

    /// Checks every part, replaces the parts given in one transaction (both
    /// or neither), then answers the policy as stored.
    pub async fn set_tenant_policy(
        &self,
        command: SetTenantPolicy,
    ) -> Result<TenantPolicies, PolicyError> {
        command.check()?;
        self.store
            .tenant(&command.tenant)
            .set_policy(command.attestation, command.decisions.as_ref())
            .await?;
        // Decisions read the owner's policy from this process's copies.
        self.facts.invalidate();
        Ok(self.tenant_policy(&command.tenant).await?)
    }
}
