//! The namespace use cases and the claiming rule as the store applies it:
//! who may claim, register under and use the keys of a namespace.

use attestation::keys::NamespacePublicKey;
use ed25519_dalek::SigningKey;
use policy::namespaces::{
    ChangeRefused, ClaimStatus, NamespaceChange, NamespaceHeld, Standing, Usage,
};
use registry::workers::{Worker, WorkerFilter};
use serde_json::json;
use service::{AdminError, ClaimCommand, ClaimError, Claimed, Hall, KeyError, RegisterError};
use wcp::{Namespace, TenantId, WorkerRecord};

use crate::fixture::Fixture;

fn ns(s: &str) -> Namespace {
    Namespace::parse(s).unwrap()
}

fn public_key(seed: u8) -> NamespacePublicKey {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    NamespacePublicKey::from_bytes(signing.verifying_key().as_bytes()).unwrap()
}

async fn claim(
    f: &Fixture,
    namespace: &str,
    tenant: &TenantId,
    org_claims_need_approval: bool,
) -> Result<Claimed, ClaimError> {
    let command = ClaimCommand {
        namespace: ns(namespace),
        tenant: tenant.clone(),
    };
    // The registry's setting, as the server would be started with it.
    let hall = Hall {
        org_claims_need_approval,
        ..f.hall.clone()
    };
    hall.claim_namespace(command).await
}

async fn register(
    f: &Fixture,
    tenant: &TenantId,
    worker_id: &str,
) -> Result<Worker, RegisterError> {
    let body = json!({"worker_id": worker_id, "capabilities": ["cap.data.read.v1"]});
    f.hall
        .register_worker(tenant, WorkerRecord::parse(&body).unwrap())
        .await
}

/// Why registering `worker_id` for `tenant` is refused.
async fn refusal(f: &Fixture, tenant: &TenantId, worker_id: &str) -> NamespaceHeld {
    match register(f, tenant, worker_id).await {
        Err(RegisterError::Namespace { held, .. }) => held,
        other => panic!("{worker_id}: expected a namespace refusal, got {other:?}"),
    }
}

/// Why `tenant`'s claim of `namespace` is refused.
async fn claim_refusal(f: &Fixture, namespace: &str, tenant: &TenantId) -> NamespaceHeld {
    match claim(f, namespace, tenant, false).await {
        Err(ClaimError::Held { held, .. }) => held,
        other => panic!("{namespace}: expected a refusal, got {other:?}"),
    }
}

async fn standing(f: &Fixture, viewer: &TenantId, namespace: &str) -> Standing {
    f.hall
        .check_namespace(viewer, &ns(namespace))
        .await
        .unwrap()
}

#[tokio::test]
async fn registering_under_another_tenants_namespace_is_refused_and_leaves_no_rows() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    claim(&f, "org.acme", &acme, false).await.unwrap();

    assert_eq!(
        refusal(&f, &other, "org.acme.intruder").await,
        NamespaceHeld::OtherTenant
    );
    let filter =
        WorkerFilter::all(wcp::PageLimit::parse(Some(10), wcp::PageSize::WORKERS).unwrap());
    let listed = f.hall.list_workers(&other, &filter).await.unwrap();
    assert!(listed.workers.is_empty());
    // An x.* namespace claimed on the way is the claimant's alone as well.
    register(&f, &acme, "x.acme.first").await.unwrap();
    assert_eq!(
        refusal(&f, &other, "x.acme.second").await,
        NamespaceHeld::OtherTenant
    );
}

#[tokio::test]
async fn an_x_namespace_is_claimed_on_the_way_an_org_one_never() {
    let (f, acme, _) = Fixture::acme_and_other().await;

    register(&f, &acme, "x.acme.w").await.unwrap();
    let mine = f.hall.list_namespaces(&acme).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].namespace, ns("x.acme"));
    assert_eq!(mine[0].status, ClaimStatus::Claimed);

    assert_eq!(
        refusal(&f, &acme, "org.acme.w").await,
        NamespaceHeld::Unclaimed
    );
    assert_eq!(refusal(&f, &acme, "x.hall.w").await, NamespaceHeld::Builtin);
    let after = f.hall.list_namespaces(&acme).await.unwrap();
    assert_eq!(after.len(), 1, "no claim was left");
}

#[tokio::test]
async fn a_pending_org_claim_cannot_be_registered_under_until_the_operator_approves() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let org = ns("org.acme");

    let c = claim(&f, "org.acme", &acme, true).await.unwrap();
    assert!(c.claimed_now);
    assert_eq!(c.claim.status, ClaimStatus::Pending);
    assert_eq!(standing(&f, &acme, "org.acme").await, Standing::Pending);
    assert_eq!(
        refusal(&f, &acme, "org.acme.w").await,
        NamespaceHeld::PendingApproval
    );
    let e = f
        .hall
        .add_namespace_key(&acme, &org, &public_key(3), "release")
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Pending(_)), "{e:?}");

    let approved = f.hall.approve_namespace(&org).await.unwrap();
    assert_eq!(approved.status, ClaimStatus::Claimed);
    register(&f, &acme, "org.acme.w").await.unwrap();
    f.hall
        .add_namespace_key(&acme, &org, &public_key(3), "release")
        .await
        .unwrap();
    let e = f.hall.approve_namespace(&org).await.unwrap_err();
    assert!(matches!(e, AdminError::NoPendingClaim(_)), "{e:?}");
}

#[tokio::test]
async fn claiming_again_is_a_no_op_and_taken_reserved_or_builtin_names_are_refused() {
    let (f, acme, other) = Fixture::acme_and_other().await;

    assert!(
        claim(&f, "x.alice", &acme, false)
            .await
            .unwrap()
            .claimed_now
    );
    assert!(
        !claim(&f, "x.alice", &acme, false)
            .await
            .unwrap()
            .claimed_now
    );
    assert_eq!(
        claim_refusal(&f, "x.alice", &other).await,
        NamespaceHeld::OtherTenant
    );
    assert_eq!(
        claim_refusal(&f, "org.wcp", &other).await,
        NamespaceHeld::Builtin
    );
    f.hall
        .reserve_namespace(&ns("x.brand"), "trademark")
        .await
        .unwrap();
    assert_eq!(
        claim_refusal(&f, "x.brand", &other).await,
        NamespaceHeld::Reserved(Some("trademark".into()))
    );
    assert_eq!(standing(&f, &other, "x.alice").await, Standing::Taken);
    assert_eq!(standing(&f, &acme, "x.alice").await, Standing::Yours);
}

#[tokio::test]
async fn two_tenants_claiming_one_namespace_at_once_never_both_win() {
    let (f, a, b) = Fixture::acme_and_other().await;
    for round in 0..5 {
        let name = format!("x.race{round}");
        let worker = format!("{name}.w");
        let (ra, rb) = tokio::join!(claim(&f, &name, &a, false), register(&f, &b, &worker));
        match (ra, rb) {
            (Ok(c), Err(RegisterError::Namespace { held, .. })) => {
                assert_eq!(c.claim.tenant_id.as_ref(), Some(&a));
                assert_eq!(held, NamespaceHeld::OtherTenant);
            }
            (Err(ClaimError::Held { held, .. }), Ok(w)) => {
                assert_eq!(held, NamespaceHeld::OtherTenant);
                assert_eq!(w.tenant_id, b);
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn keys_are_for_the_holder_and_a_namespace_in_use_is_neither_released_nor_transferred() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let x = ns("x.acme");
    register(&f, &acme, "x.acme.w").await.unwrap();

    let e = f.hall.list_namespace_keys(&other, &x).await.unwrap_err();
    assert!(matches!(e, KeyError::NotYours(_)), "{e:?}");
    let key = f
        .hall
        .add_namespace_key(&acme, &x, &public_key(4), "release")
        .await
        .unwrap();
    let e = f
        .hall
        .add_namespace_key(&acme, &x, &public_key(4), "again")
        .await
        .unwrap_err();
    assert!(
        matches!(e, KeyError::Exists { ref kid } if *kid == key.kid),
        "{e:?}"
    );

    let in_use = |change| {
        ChangeRefused::InUse(
            change,
            Usage {
                workers: 1,
                keys: 1,
            },
        )
    };
    for (e, expected) in [
        (
            f.hall.release_namespace(&x).await.unwrap_err(),
            in_use(NamespaceChange::Release),
        ),
        (
            f.hall.transfer_namespace(&x, &other).await.unwrap_err(),
            in_use(NamespaceChange::Transfer),
        ),
        (
            f.hall.reserve_namespace(&x, "mine now").await.unwrap_err(),
            ChangeRefused::HeldByTenant,
        ),
    ] {
        assert!(
            matches!(&e, AdminError::Refused { refused, .. } if *refused == expected),
            "{e:?}"
        );
    }
    let e = f.hall.release_namespace(&ns("x.nobody")).await.unwrap_err();
    assert!(matches!(e, AdminError::NotFound(_)), "{e:?}");
    let brand = ns("x.brand");
    f.hall.reserve_namespace(&brand, "trademark").await.unwrap();
    let e = f.hall.transfer_namespace(&brand, &other).await.unwrap_err();
    assert!(
        matches!(
            e,
            AdminError::Refused {
                refused: ChangeRefused::Reserved,
                ..
            }
        ),
        "{e:?}"
    );

    // An unused claim moves, and its new holder may use it.
    claim(&f, "x.spare", &acme, false).await.unwrap();
    let moved = f
        .hall
        .transfer_namespace(&ns("x.spare"), &other)
        .await
        .unwrap();
    assert_eq!(moved.tenant_id.as_ref(), Some(&other));
    register(&f, &other, "x.spare.w").await.unwrap();
}
