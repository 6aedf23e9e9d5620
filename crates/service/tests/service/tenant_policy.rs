//! `set_tenant_policy`: every part is checked before any is written, and
//! both parts are written together or not at all.

use attestation::AttestationPolicy;
use policy::TenantPolicy;
use service::tenant_policy::SetTenantPolicy;

use crate::fixture::Fixture;

#[tokio::test]
async fn a_refused_change_writes_nothing() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let before = f.hall.tenant_policy(&acme).await.unwrap();

    // The attestation part is fine; the decision part is out of range
    // (more than `i32::MAX` days).
    let refused = f
        .hall
        .set_tenant_policy(SetTenantPolicy {
            tenant: acme.clone(),
            attestation: Some(AttestationPolicy {
                require_signature: true,
                require_approval: true,
            }),
            decisions: Some(TenantPolicy {
                attestation_max_age_days: Some(3_000_000_000),
                ..TenantPolicy::default()
            }),
        })
        .await;

    assert!(refused.is_err(), "{refused:?}");
    let after = f.hall.tenant_policy(&acme).await.unwrap();
    assert_eq!(after.attestation, before.attestation);
    assert_eq!(
        after.decisions.attestation_max_age_days,
        before.decisions.attestation_max_age_days
    );
}
