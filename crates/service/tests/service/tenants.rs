//! Tenant administration: ids are taken once, the registry's family is
//! reserved, the operator is never suspended, and a suspension reaches
//! credential checks at once.

use registry::{Scopes, TenantStatus};
use service::api_keys::NewApiKey;
use service::tenants::{NewTenant, TenantError};

use crate::fixture::{tenant, Fixture};

fn new_tenant(id: &str) -> NewTenant {
    NewTenant {
        id: tenant(id),
        display_name: format!("{id} Corp"),
    }
}

#[tokio::test]
async fn a_tenant_is_created_once_active_and_listed_by_id() {
    let f = Fixture::start().await;

    let acme = f.hall.create_tenant(new_tenant("org.acme")).await.unwrap();
    f.hall.create_tenant(new_tenant("x.alice")).await.unwrap();
    let err = f
        .hall
        .create_tenant(new_tenant("org.acme"))
        .await
        .unwrap_err();

    assert_eq!(acme.id, tenant("org.acme"));
    assert_eq!(acme.display_name, "org.acme Corp");
    assert_eq!(acme.status, TenantStatus::Active);
    assert!(!acme.is_operator);
    assert!(
        matches!(&err, TenantError::Exists(t) if *t == tenant("org.acme")),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "tenant org.acme already exists");
    let ids: Vec<String> = f
        .hall
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(ids, ["org.acme", "x.alice"]);
    assert_eq!(
        f.hall
            .tenant(&tenant("org.acme"))
            .await
            .unwrap()
            .display_name,
        "org.acme Corp",
        "the first creation stands"
    );
}

#[tokio::test]
async fn the_registrys_family_of_ids_is_reserved() {
    let f = Fixture::start().await;

    let err = f
        .hall
        .create_tenant(new_tenant("hall.evil"))
        .await
        .unwrap_err();

    assert!(matches!(err, TenantError::ReservedFamily), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tenant ids in the `hall.` family are reserved for the registry"
    );
    assert!(f.hall.tenants().await.unwrap().is_empty());
    // Only the family: a name merely starting with it is free.
    f.hall.create_tenant(new_tenant("hallway.x")).await.unwrap();
}

#[tokio::test]
async fn the_operator_is_never_suspended_and_a_missing_tenant_is_not_found() {
    let f = Fixture::start().await;
    let key = registry::ApiKeySecret::generate().unwrap();
    let operator = match f
        .hall
        .store
        .bootstrap_operator(registry::BootstrapKey::Generated(key))
        .await
        .unwrap()
    {
        registry::Bootstrap::Created { tenant, .. } => tenant,
        other => panic!("{other:?}"),
    };

    let err = f
        .hall
        .set_tenant_status(&operator, TenantStatus::Suspended)
        .await
        .unwrap_err();
    assert!(matches!(err, TenantError::SuspendOperator), "{err:?}");
    assert_eq!(
        f.hall.tenant(&operator).await.unwrap().status,
        TenantStatus::Active
    );
    // Reactivating it is harmless.
    f.hall
        .set_tenant_status(&operator, TenantStatus::Active)
        .await
        .unwrap();

    let ghost = tenant("org.ghost");
    for status in [TenantStatus::Suspended, TenantStatus::Active] {
        let err = f.hall.set_tenant_status(&ghost, status).await.unwrap_err();
        assert!(
            matches!(&err, TenantError::NotFound(t) if *t == ghost),
            "{err:?}"
        );
    }
    let err = f.hall.tenant(&ghost).await.unwrap_err();
    assert_eq!(err.to_string(), "tenant org.ghost not found");
}

#[tokio::test]
async fn a_suspension_reaches_credential_checks_at_once_and_reactivation_undoes_it() {
    let f = Fixture::start().await;
    let acme = f.hall.create_tenant(new_tenant("org.acme")).await.unwrap();
    let key = f
        .hall
        .create_api_key(NewApiKey {
            tenant: acme.id.clone(),
            name: "ci".into(),
            scopes: Scopes::parse(&["read"]).unwrap(),
            expires_at: None,
        })
        .await
        .unwrap();
    let standing = || async {
        f.hall
            .facts
            .credential_by_secret(&key.secret.hash())
            .await
            .unwrap()
            .expect("the key is known")
            .tenant_status
    };
    assert_eq!(standing().await, TenantStatus::Active);

    let mut changed_at = acme.updated_at;
    for status in [TenantStatus::Suspended, TenantStatus::Active] {
        let t = f.hall.set_tenant_status(&acme.id, status).await.unwrap();
        assert_eq!(t.status, status);
        assert!(t.updated_at >= changed_at);
        changed_at = t.updated_at;
        assert_eq!(standing().await, status, "credential checks see it at once");
    }
}
