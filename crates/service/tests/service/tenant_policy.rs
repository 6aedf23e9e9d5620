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

fn allowlist(env: wcp::Env, dests: &[String]) -> TenantPolicy {
    TenantPolicy {
        egress_allowlist: [(
            env,
            dests
                .iter()
                .map(|d| wcp::EgressDestination::parse(d).unwrap())
                .collect(),
        )]
        .into(),
        ..TenantPolicy::default()
    }
}

#[tokio::test]
async fn the_egress_allowlist_is_stored_per_env_and_read_back() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let dests = [
        "api.example.com".to_string(),
        "db.internal:5432".to_string(),
    ];
    f.hall
        .set_tenant_policy(SetTenantPolicy {
            tenant: acme.clone(),
            attestation: None,
            decisions: Some(allowlist(wcp::Env::Edge, &dests)),
        })
        .await
        .unwrap();
    let read = f.hall.tenant_policy(&acme).await.unwrap().decisions;
    assert_eq!(
        read.egress_allowlist,
        allowlist(wcp::Env::Edge, &dests).egress_allowlist
    );
    // The rule reads what was stored.
    let envelope = wcp::PrivilegeEnvelope::parse(
        &serde_json::json!({"egress": {"allowlist": ["api.example.com"]}}),
    )
    .unwrap();
    let restricted = wcp::DataLabel::Restricted;
    assert_eq!(
        policy::privilege::check(Some(&envelope), wcp::Env::Edge, restricted, &read),
        Ok(())
    );
    assert_eq!(
        policy::privilege::check(Some(&envelope), wcp::Env::Prod, restricted, &read)
            .unwrap_err()
            .reason,
        "egress_denied_no_allowlist_configured"
    );
}

#[tokio::test]
async fn more_than_a_hundred_destinations_for_an_env_are_refused() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let dests: Vec<String> = (0..101).map(|i| format!("h{i}.example.com")).collect();
    let refused = f
        .hall
        .set_tenant_policy(SetTenantPolicy {
            tenant: acme.clone(),
            attestation: None,
            decisions: Some(allowlist(wcp::Env::Prod, &dests)),
        })
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("decisions.egress_allowlist.prod has 101 destinations"),
        "{refused}"
    );
    let read = f.hall.tenant_policy(&acme).await.unwrap().decisions;
    assert!(read.egress_allowlist.is_empty());
}
