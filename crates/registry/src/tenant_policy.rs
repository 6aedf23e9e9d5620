//! A tenant's policy as stored on its row: what it asks of attestations
//! (signature, approval) and of decisions (tier floors per environment,
//! signatories, attestation age, the L7 supervisor level, the default data
//! label, the egress allowlist per env and the approval TTL).

use std::collections::BTreeMap;

use attestation::AttestationPolicy;
use policy::TenantPolicy;
use sqlx::Row;
use wcp::{DataLabel, EgressDestination, Env, TenantId};

use crate::approvals::{ApprovalTtl, SupervisorLevel};
use crate::{Entity, Store, StoreError, TenantStore};

fn floors_from_json(v: serde_json::Value) -> Result<BTreeMap<Env, u8>, StoreError> {
    let map: BTreeMap<String, u8> =
        serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    map.into_iter()
        .map(|(k, t)| {
            Env::parse(&k)
                .map(|e| (e, t))
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

fn egress_from_json(
    v: serde_json::Value,
) -> Result<BTreeMap<Env, Vec<EgressDestination>>, StoreError> {
    let map: BTreeMap<String, Vec<String>> =
        serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    map.into_iter()
        .map(|(k, dests)| {
            let env = Env::parse(&k).map_err(|e| corrupt(&e))?;
            let dests = dests
                .iter()
                .map(|d| EgressDestination::parse(d).map_err(|e| corrupt(&e)))
                .collect::<Result<_, _>>()?;
            Ok((env, dests))
        })
        .collect()
}

fn egress_to_json(
    allowlist: &BTreeMap<Env, Vec<EgressDestination>>,
) -> Result<serde_json::Value, StoreError> {
    let map: BTreeMap<&str, Vec<&str>> = allowlist
        .iter()
        .map(|(e, d)| {
            (
                e.as_str(),
                d.iter().map(EgressDestination::as_str).collect(),
            )
        })
        .collect();
    serde_json::to_value(map).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// A tenant's decision policy (floors, signatories, attestation age).
    pub async fn decision_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        let row = sqlx::query(
            "SELECT tier_floors, signatories, attestation_max_age_days, l7_supervisor_level,
                    default_data_label, egress_allowlist, approval_ttl_seconds
             FROM tenants WHERE id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(Entity::Tenant(tenant.clone())))?;
        let signatories: Vec<String> = row.try_get("signatories")?;
        let max_age: Option<i32> = row.try_get("attestation_max_age_days")?;
        let l7: String = row.try_get("l7_supervisor_level")?;
        let default_label: String = row.try_get("default_data_label")?;
        let ttl: i32 = row.try_get("approval_ttl_seconds")?;
        let approval_ttl = u64::try_from(ttl)
            .ok()
            .and_then(|s| ApprovalTtl::from_seconds(s).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("tenants.approval_ttl_seconds {ttl}")))?;
        Ok(TenantPolicy {
            floors: floors_from_json(row.try_get("tier_floors")?)?,
            signatories: signatories
                .iter()
                .map(|s| TenantId::parse(s))
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            attestation_max_age_days: max_age.map(|d| d as u32),
            l7_advisory: SupervisorLevel::from_name(&l7) == Some(SupervisorLevel::Advisory),
            default_data_label: DataLabel::parse(&default_label)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            egress_allowlist: egress_from_json(row.try_get("egress_allowlist")?)?,
            approval_ttl,
        })
    }
}

impl TenantStore<'_> {
    /// What the tenant asks of attestations of its workers.
    pub async fn attestation_policy(&self) -> Result<AttestationPolicy, StoreError> {
        let row = sqlx::query(
            "SELECT attestation_requires_signature, attestation_requires_approval FROM tenants WHERE id = $1",
        )
        .bind(self.tenant.as_str())
        .fetch_optional(&self.store.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(Entity::Tenant(self.tenant.clone())))?;
        Ok(AttestationPolicy {
            require_signature: row.try_get("attestation_requires_signature")?,
            require_approval: row.try_get("attestation_requires_approval")?,
        })
    }

    pub async fn set_attestation_policy(
        &self,
        policy: AttestationPolicy,
    ) -> Result<AttestationPolicy, StoreError> {
        self.set_policy(Some(policy), None).await?;
        self.attestation_policy().await
    }

    pub async fn set_decision_policy(&self, policy: &TenantPolicy) -> Result<(), StoreError> {
        self.set_policy(None, Some(policy)).await
    }

    /// Replaces the parts given in one transaction: both are written or
    /// neither. An attestation age beyond the column's range is refused
    /// before anything is written (the use case checks it first).
    pub async fn set_policy(
        &self,
        attestation: Option<AttestationPolicy>,
        decisions: Option<&TenantPolicy>,
    ) -> Result<(), StoreError> {
        let decisions = decisions
            .map(|policy| {
                let floors: BTreeMap<&str, u8> = policy
                    .floors
                    .iter()
                    .map(|(e, t)| (e.as_str(), *t))
                    .collect();
                let floors =
                    serde_json::to_value(floors).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let max_age = policy
                    .attestation_max_age_days
                    .map(i32::try_from)
                    .transpose()
                    .map_err(|_| {
                        StoreError::Corrupt(
                            "attestation_max_age_days is beyond the column's range".into(),
                        )
                    })?;
                let egress = egress_to_json(&policy.egress_allowlist)?;
                Ok::<_, StoreError>((policy, floors, max_age, egress))
            })
            .transpose()?;
        let mut tx = self.store.pool.begin().await?;
        if let Some(policy) = attestation {
            sqlx::query(
                "UPDATE tenants SET attestation_requires_signature = $2,
                    attestation_requires_approval = $3, updated_at = now() WHERE id = $1",
            )
            .bind(self.tenant.as_str())
            .bind(policy.require_signature)
            .bind(policy.require_approval)
            .execute(&mut *tx)
            .await?;
        }
        if let Some((policy, floors, max_age, egress)) = decisions {
            sqlx::query(
                "UPDATE tenants SET tier_floors = $2, signatories = $3,
                    attestation_max_age_days = $4, l7_supervisor_level = $5,
                    default_data_label = $6, egress_allowlist = $7,
                    approval_ttl_seconds = $8, updated_at = now()
                 WHERE id = $1",
            )
            .bind(self.tenant.as_str())
            .bind(floors)
            .bind(
                policy
                    .signatories
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(max_age)
            .bind(SupervisorLevel::l7(policy.l7_advisory).as_str())
            .bind(policy.default_data_label.as_str())
            .bind(egress)
            // At most 604800: within an integer.
            .bind(policy.approval_ttl.seconds() as i32)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
