//! A use case that changes what this process keeps copies of drops them
//! itself, so the next request here sees the change at once. The fixture's
//! copies hear nothing from PostgreSQL (`Fixture::start_deaf`): a use case
//! that forgot would leave them stale and these tests would fail.

use audit::Outcome;
use registry::workers::WorkerRef;
use registry::{ApiKeySecret, Scopes, TenantStatus};
use serde_json::json;
use service::api_keys::NewApiKey;
use service::tenant_policy::SetTenantPolicy;
use wcp::TenantId;

use crate::fixture::Fixture;

async fn decide(f: &Fixture, tenant: &TenantId, worker: &str) -> (Outcome, Option<String>) {
    f.outcome(tenant, worker).await
}

/// The key's tenant status as a credential check (through the copies) sees it.
async fn status(f: &Fixture, secret: &ApiKeySecret) -> TenantStatus {
    f.hall
        .facts
        .credential_by_secret(&secret.hash())
        .await
        .unwrap()
        .expect("the key is known")
        .tenant_status
}

#[tokio::test]
async fn a_revoked_worker_is_denied_by_the_next_decision() {
    let f = Fixture::start_deaf().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    // The worker is now in this process's copies.
    assert_eq!(decide(&f, &acme, "x.acme.w").await.0, Outcome::Allow);

    f.hall
        .revoke_worker(&acme, &WorkerRef::parse("x.acme.w").unwrap())
        .await
        .unwrap();

    assert_eq!(
        decide(&f, &acme, "x.acme.w").await,
        (
            Outcome::Deny,
            Some(policy::deny::WORKER_REVOKED.to_string())
        )
    );
}

#[tokio::test]
async fn a_policy_change_applies_to_the_next_decision() {
    let f = Fixture::start_deaf().await;
    let owner = f.create_tenant("org.owner").await;
    let partner = f.create_tenant("org.partner").await;
    f.register(&owner, "x.owner.w", 1, json!({"visibility": "private"}))
        .await;
    // The partner does not see the private worker; the owner's policy is cached.
    assert_eq!(
        decide(&f, &partner, "x.owner.w").await.1.as_deref(),
        Some(policy::deny::UNKNOWN_WORKER)
    );

    let mut decisions = f.hall.tenant_policy(&owner).await.unwrap().decisions;
    decisions.signatories = [partner.clone()].into_iter().collect();
    f.hall
        .set_tenant_policy(SetTenantPolicy {
            tenant: owner.clone(),
            attestation: None,
            decisions: Some(decisions),
        })
        .await
        .unwrap();

    assert_eq!(decide(&f, &partner, "x.owner.w").await.0, Outcome::Allow);
}

#[tokio::test]
async fn a_suspended_tenant_is_seen_by_the_next_credential_check() {
    let f = Fixture::start_deaf().await;
    let acme = f.create_tenant("org.acme").await;
    let created = f
        .hall
        .create_api_key(NewApiKey {
            tenant: acme.clone(),
            name: "ci".into(),
            scopes: Scopes::parse(&["read"]).unwrap(),
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(status(&f, &created.secret).await, TenantStatus::Active);

    f.hall
        .set_tenant_status(&acme, TenantStatus::Suspended)
        .await
        .unwrap();

    assert_eq!(status(&f, &created.secret).await, TenantStatus::Suspended);
}
