//! API key administration: what is created, who can reach a key, and that a
//! revocation takes effect at once for credential checks.

use chrono::{Duration, Utc};
use registry::{ApiKeySecret, Scope, Scopes};
use service::api_keys::{ApiKeyError, NewApiKey};
use wcp::TenantId;

use crate::fixture::{tenant, Fixture};

fn new_key(tenant: &TenantId, name: &str) -> NewApiKey {
    NewApiKey {
        tenant: tenant.clone(),
        name: name.to_string(),
        scopes: Scopes::parse(&["read", "decisions:write"]).unwrap(),
        expires_at: None,
    }
}

/// Whether a credential check (through this process's copies) finds the key live.
async fn accepted(f: &Fixture, secret: &ApiKeySecret) -> bool {
    let cred = f
        .hall
        .facts
        .credential_by_secret(&secret.hash())
        .await
        .unwrap()
        .expect("the key is known");
    cred.key.revoked_at.is_none()
}

#[tokio::test]
async fn a_created_key_is_listed_without_its_secret_and_works_at_once() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;

    let created = f.hall.create_api_key(new_key(&acme, "ci")).await.unwrap();

    assert!(created.secret.expose().starts_with("phk_"));
    assert_eq!(created.key.tenant_id, acme);
    assert_eq!(created.key.prefix, created.secret.display_prefix());
    assert!(created.key.scopes.allows(Scope::DecisionsWrite));
    assert!(!created.key.scopes.allows(Scope::Admin));
    let listed = f.hall.api_keys(&acme).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.key.id);
    assert_eq!(listed[0].name, "ci");
    assert!(accepted(&f, &created.secret).await);
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let f = Fixture::start_deaf().await;
    let acme = f.create_tenant("org.acme").await;
    let created = f.hall.create_api_key(new_key(&acme, "ci")).await.unwrap();
    // The credential is now in this process's copies.
    assert!(accepted(&f, &created.secret).await);

    let revoked = f.hall.revoke_api_key(&acme, created.key.id).await.unwrap();

    let at = revoked.revoked_at.expect("revoked");
    assert!(
        !accepted(&f, &created.secret).await,
        "the next credential check sees the revocation"
    );
    // Revoking again changes nothing.
    let again = f.hall.revoke_api_key(&acme, created.key.id).await.unwrap();
    assert_eq!(again.revoked_at, Some(at));
}

#[tokio::test]
async fn a_tenant_cannot_revoke_or_see_another_tenants_key() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let beta = f.create_tenant("org.beta").await;
    let theirs = f.hall.create_api_key(new_key(&acme, "ci")).await.unwrap();

    let err = f
        .hall
        .revoke_api_key(&beta, theirs.key.id)
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiKeyError::NotFound(id) if id == theirs.key.id),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("API key {} not found", theirs.key.id)
    );
    assert!(f.hall.api_keys(&beta).await.unwrap().is_empty());
    assert!(
        accepted(&f, &theirs.secret).await,
        "the owner's key still works"
    );
}

#[tokio::test]
async fn a_key_name_is_unique_within_its_tenant_only() {
    let f = Fixture::start().await;
    let (acme, beta) = (
        f.create_tenant("org.acme").await,
        f.create_tenant("org.beta").await,
    );
    f.hall.create_api_key(new_key(&acme, "ci")).await.unwrap();

    let err = f
        .hall
        .create_api_key(new_key(&acme, "ci"))
        .await
        .unwrap_err();

    assert!(matches!(err, ApiKeyError::NameTaken { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant org.acme already has a live API key named \"ci\""
    );
    f.hall.create_api_key(new_key(&beta, "ci")).await.unwrap();
    assert_eq!(f.hall.api_keys(&acme).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_that_would_expire_already_or_for_no_tenant_is_not_created() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;

    let mut past = new_key(&acme, "old");
    past.expires_at = Some(Utc::now() - Duration::seconds(1));
    let err = f.hall.create_api_key(past).await.unwrap_err();
    assert!(matches!(err, ApiKeyError::ExpiresInThePast), "{err:?}");

    let ghost = tenant("org.ghost");
    let err = f
        .hall
        .create_api_key(new_key(&ghost, "ci"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiKeyError::TenantNotFound(t) if *t == ghost),
        "{err:?}"
    );
    assert!(f.hall.api_keys(&acme).await.unwrap().is_empty());

    let mut later = new_key(&acme, "later");
    later.expires_at = Some(Utc::now() + Duration::days(1));
    let created = f.hall.create_api_key(later).await.unwrap();
    assert!(created.key.expires_at.is_some());
}
