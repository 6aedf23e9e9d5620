//! The namespace use cases and the claiming rule as the store applies it:
//! who may claim, register under and use the keys of a namespace.

use attestation::keys::NamespacePublicKey;
use ed25519_dalek::SigningKey;
use policy::namespaces::{
    ChangeRefused, ClaimStatus, NamespaceChange, NamespaceHeld, Standing, Usage,
};
use serde_json::json;
use service::{AdminError, ClaimCommand, ClaimError, KeyError, RegisterError};
use wcp::{Namespace, TenantId, WorkerRecord};

use crate::fixture::Fixture;

fn ns(s: &str) -> Namespace {
    Namespace::parse(s).unwrap()
}

fn record(worker_id: &str) -> WorkerRecord {
    WorkerRecord::parse(&json!({"worker_id": worker_id, "capabilities": ["cap.data.read.v1"]}))
        .unwrap()
}

fn claim(namespace: &str, tenant: &TenantId, org_claims_need_approval: bool) -> ClaimCommand {
    ClaimCommand {
        namespace: ns(namespace),
        tenant: tenant.clone(),
        org_claims_need_approval,
    }
}

fn held(e: RegisterError) -> NamespaceHeld {
    match e {
        RegisterError::Namespace { held, .. } => held,
        other => panic!("expected a namespace refusal, got {other:?}"),
    }
}

fn public_key(seed: u8) -> NamespacePublicKey {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    NamespacePublicKey::from_bytes(signing.verifying_key().as_bytes()).unwrap()
}

#[tokio::test]
async fn registering_under_another_tenants_namespace_is_refused_and_leaves_no_rows() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    f.hall
        .claim_namespace(claim("org.acme", &acme, false))
        .await
        .unwrap();

    let e = f
        .hall
        .register_worker(&other, record("org.acme.intruder"))
        .await
        .unwrap_err();
    assert_eq!(held(e), NamespaceHeld::OtherTenant);
    let listed = f
        .hall
        .list_workers(
            &other,
            &registry::workers::WorkerFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.workers.is_empty());
    // An x.* namespace claimed on the way is the claimant's alone as well.
    f.hall
        .register_worker(&acme, record("x.acme.first"))
        .await
        .unwrap();
    let e = f
        .hall
        .register_worker(&other, record("x.acme.second"))
        .await
        .unwrap_err();
    assert_eq!(held(e), NamespaceHeld::OtherTenant);
}

#[tokio::test]
async fn an_x_namespace_is_claimed_on_the_way_an_org_one_never() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;

    f.hall
        .register_worker(&acme, record("x.acme.w"))
        .await
        .unwrap();
    let mine = f.hall.list_namespaces(&acme).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].namespace, ns("x.acme"));
    assert_eq!(mine[0].status, ClaimStatus::Claimed);

    let e = f
        .hall
        .register_worker(&acme, record("org.acme.w"))
        .await
        .unwrap_err();
    assert_eq!(held(e), NamespaceHeld::Unclaimed);
    let e = f
        .hall
        .register_worker(&acme, record("x.hall.w"))
        .await
        .unwrap_err();
    assert_eq!(held(e), NamespaceHeld::Builtin);
    assert_eq!(
        f.hall.list_namespaces(&acme).await.unwrap().len(),
        1,
        "no claim was left"
    );
}

#[tokio::test]
async fn a_pending_org_claim_cannot_be_registered_under_until_the_operator_approves() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;

    let c = f
        .hall
        .claim_namespace(claim("org.acme", &acme, true))
        .await
        .unwrap();
    assert!(c.claimed_now);
    assert_eq!(c.claim.status, ClaimStatus::Pending);
    assert_eq!(
        f.hall
            .check_namespace(&acme, &ns("org.acme"))
            .await
            .unwrap(),
        Standing::Pending
    );
    let e = f
        .hall
        .register_worker(&acme, record("org.acme.w"))
        .await
        .unwrap_err();
    assert_eq!(held(e), NamespaceHeld::PendingApproval);
    let e = f
        .hall
        .add_namespace_key(&acme, &ns("org.acme"), &public_key(3), "release")
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::Pending(_)), "{e:?}");

    let approved = f.hall.approve_namespace(&ns("org.acme")).await.unwrap();
    assert_eq!(approved.status, ClaimStatus::Claimed);
    f.hall
        .register_worker(&acme, record("org.acme.w"))
        .await
        .unwrap();
    f.hall
        .add_namespace_key(&acme, &ns("org.acme"), &public_key(3), "release")
        .await
        .unwrap();
    let e = f.hall.approve_namespace(&ns("org.acme")).await.unwrap_err();
    assert!(matches!(e, AdminError::NoPendingClaim(_)), "{e:?}");
}

#[tokio::test]
async fn claiming_again_is_a_no_op_and_taken_reserved_or_builtin_names_are_refused() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;

    assert!(
        f.hall
            .claim_namespace(claim("x.alice", &acme, false))
            .await
            .unwrap()
            .claimed_now
    );
    assert!(
        !f.hall
            .claim_namespace(claim("x.alice", &acme, false))
            .await
            .unwrap()
            .claimed_now
    );
    let refused = |e: ClaimError| match e {
        ClaimError::Held { held, .. } => held,
        other => panic!("{other:?}"),
    };
    let e = f
        .hall
        .claim_namespace(claim("x.alice", &other, false))
        .await
        .unwrap_err();
    assert_eq!(refused(e), NamespaceHeld::OtherTenant);
    let e = f
        .hall
        .claim_namespace(claim("org.wcp", &other, false))
        .await
        .unwrap_err();
    assert_eq!(refused(e), NamespaceHeld::Builtin);
    f.hall
        .reserve_namespace(&ns("x.brand"), "trademark")
        .await
        .unwrap();
    let e = f
        .hall
        .claim_namespace(claim("x.brand", &other, false))
        .await
        .unwrap_err();
    assert_eq!(
        refused(e),
        NamespaceHeld::Reserved(Some("trademark".into()))
    );
    assert_eq!(
        f.hall
            .check_namespace(&other, &ns("x.alice"))
            .await
            .unwrap(),
        Standing::Taken
    );
    assert_eq!(
        f.hall.check_namespace(&acme, &ns("x.alice")).await.unwrap(),
        Standing::Yours
    );
}

#[tokio::test]
async fn two_tenants_claiming_one_namespace_at_once_never_both_win() {
    let f = Fixture::start().await;
    let a = f.create_tenant("org.a").await;
    let b = f.create_tenant("org.b").await;
    for round in 0..5 {
        let name = format!("x.race{round}");
        let (ra, rb) = tokio::join!(
            f.hall.claim_namespace(claim(&name, &a, false)),
            f.hall.register_worker(&b, record(&format!("{name}.w")))
        );
        match (ra, rb) {
            (Ok(c), Err(e)) => {
                assert_eq!(c.claim.tenant_id.as_ref(), Some(&a));
                assert_eq!(held(e), NamespaceHeld::OtherTenant);
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
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    f.hall
        .register_worker(&acme, record("x.acme.w"))
        .await
        .unwrap();

    let e = f
        .hall
        .list_namespace_keys(&other, &ns("x.acme"))
        .await
        .unwrap_err();
    assert!(matches!(e, KeyError::NotYours(_)), "{e:?}");
    let key = f
        .hall
        .add_namespace_key(&acme, &ns("x.acme"), &public_key(4), "release")
        .await
        .unwrap();
    let e = f
        .hall
        .add_namespace_key(&acme, &ns("x.acme"), &public_key(4), "again")
        .await
        .unwrap_err();
    assert!(
        matches!(e, KeyError::Exists { ref kid } if *kid == key.kid),
        "{e:?}"
    );

    for (e, expected) in [
        (
            f.hall.release_namespace(&ns("x.acme")).await.unwrap_err(),
            NamespaceChange::Release,
        ),
        (
            f.hall
                .transfer_namespace(&ns("x.acme"), &other)
                .await
                .unwrap_err(),
            NamespaceChange::Transfer,
        ),
    ] {
        assert!(
            matches!(e, AdminError::Refused { refused: ChangeRefused::InUse(change, Usage { workers: 1, keys: 1 }), .. } if change == expected),
            "{e:?}"
        );
    }
    let e = f.hall.release_namespace(&ns("x.nobody")).await.unwrap_err();
    assert!(matches!(e, AdminError::NotFound(_)), "{e:?}");
    f.hall
        .reserve_namespace(&ns("x.brand"), "trademark")
        .await
        .unwrap();
    let e = f
        .hall
        .transfer_namespace(&ns("x.brand"), &other)
        .await
        .unwrap_err();
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
    let e = f
        .hall
        .reserve_namespace(&ns("x.acme"), "mine now")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            AdminError::Refused {
                refused: ChangeRefused::HeldByTenant,
                ..
            }
        ),
        "{e:?}"
    );

    // An unused claim moves, and its new holder may use it.
    f.hall
        .claim_namespace(claim("x.spare", &acme, false))
        .await
        .unwrap();
    let moved = f
        .hall
        .transfer_namespace(&ns("x.spare"), &other)
        .await
        .unwrap();
    assert_eq!(moved.tenant_id.as_ref(), Some(&other));
    f.hall
        .register_worker(&other, record("x.spare.w"))
        .await
        .unwrap();
}
