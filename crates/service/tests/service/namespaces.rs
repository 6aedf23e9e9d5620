//! The namespace use cases and the claiming rule as the store applies it:
//! who may claim, register under and use the keys of a namespace.

use std::time::Duration;

use attestation::keys::{sign_key_proof, KeyProof, NamespacePublicKey};
use ed25519_dalek::SigningKey;
use policy::namespaces::{
    ChangeRefused, ClaimStatus, NamespaceChange, NamespaceHeld, Standing, Usage,
};
use registry::namespaces::NamespaceKey;
use registry::workers::{Worker, WorkerFilter, WorkerRef, WorkerStatus};
use serde_json::json;
use service::{
    AddKeyCommand, AdminError, ChangeCommand, Changed, ClaimCommand, ClaimError, Claimed, Hall,
    KeyError, RegisterError,
};
use sqlx::Connection;
use wcp::{Namespace, TenantId, WorkerRecord};

use crate::fixture::{tenant, Fixture};

fn ns(s: &str) -> Namespace {
    Namespace::parse(s).unwrap()
}

fn public_key(seed: u8) -> NamespacePublicKey {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    NamespacePublicKey::from_bytes(signing.verifying_key().as_bytes()).unwrap()
}

/// Registers key `seed` on `namespace` for `tenant`, with the proof of
/// possession `prover` signs for `proof_tenant` (the honest case: the
/// key itself, for `tenant`).
async fn add_key_proved(
    f: &Fixture,
    tenant: &TenantId,
    namespace: &Namespace,
    seed: u8,
    prover: u8,
    proof_tenant: &TenantId,
) -> Result<NamespaceKey, KeyError> {
    let proof = sign_key_proof(
        &SigningKey::from_bytes(&[prover; 32]),
        proof_tenant,
        namespace,
    );
    f.hall
        .add_namespace_key(AddKeyCommand {
            tenant: tenant.clone(),
            namespace: namespace.clone(),
            key: public_key(seed),
            label: "release".into(),
            proof: KeyProof::parse(&proof).unwrap(),
        })
        .await
}

/// Registers key `seed` on `namespace` for `tenant`, proved by the key.
async fn add_key(
    f: &Fixture,
    tenant: &TenantId,
    namespace: &Namespace,
    seed: u8,
) -> Result<NamespaceKey, KeyError> {
    add_key_proved(f, tenant, namespace, seed, seed, tenant).await
}

/// The operator's release (`to: None`) or transfer of `namespace`, forced
/// when a reason is given.
async fn change(
    f: &Fixture,
    namespace: &Namespace,
    to: Option<&TenantId>,
    forced_because: Option<&str>,
) -> Result<Changed, AdminError> {
    f.hall
        .change_namespace(ChangeCommand {
            namespace: namespace.clone(),
            to: to.cloned(),
            forced_because: forced_because.map(str::to_string),
            actor_tenant: tenant("org.operator"),
            actor_key_id: uuid::Uuid::nil(),
        })
        .await
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
    let e = add_key(&f, &acme, &org, 3).await.unwrap_err();
    assert!(matches!(e, KeyError::Pending(_)), "{e:?}");

    let approved = f.hall.approve_namespace(&org).await.unwrap();
    assert_eq!(approved.status, ClaimStatus::Claimed);
    register(&f, &acme, "org.acme.w").await.unwrap();
    add_key(&f, &acme, &org, 3).await.unwrap();
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
    let key = add_key(&f, &acme, &x, 4).await.unwrap();
    let e = add_key(&f, &acme, &x, 4).await.unwrap_err();
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
                ..Usage::default()
            },
        )
    };
    for (e, expected) in [
        (
            change(&f, &x, None, None).await.unwrap_err(),
            in_use(NamespaceChange::Release),
        ),
        (
            change(&f, &x, Some(&other), None).await.unwrap_err(),
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
    let e = change(&f, &ns("x.nobody"), None, None).await.unwrap_err();
    assert!(matches!(e, AdminError::NotFound(_)), "{e:?}");
    let brand = ns("x.brand");
    f.hall.reserve_namespace(&brand, "trademark").await.unwrap();
    let e = change(&f, &brand, Some(&other), Some("forced or not"))
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

    // An unused claim moves, and its new holder may use it.
    claim(&f, "x.spare", &acme, false).await.unwrap();
    let moved = change(&f, &ns("x.spare"), Some(&other), None)
        .await
        .unwrap();
    assert_eq!(moved.claim.unwrap().tenant_id.as_ref(), Some(&other));
    register(&f, &other, "x.spare.w").await.unwrap();
}

#[tokio::test]
async fn a_key_registered_first_on_another_tenants_namespace_does_not_block_its_owner() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let (mine, theirs) = (ns("x.acme"), ns("x.other"));
    claim(&f, "x.acme", &acme, false).await.unwrap();
    claim(&f, "x.other", &other, false).await.unwrap();

    // Without the private key, the other tenant cannot register acme's key
    // at all: a proof signed by another key, or acme's own proof replayed
    // for another tenant or namespace, does not verify.
    for (prover, proof_tenant) in [(9, &other), (5, &acme)] {
        let e = add_key_proved(&f, &other, &theirs, 5, prover, proof_tenant)
            .await
            .unwrap_err();
        assert!(matches!(e, KeyError::Proof(_)), "{e:?}");
    }
    // Even holding it (a key both may use), registering it first on its own
    // namespace blocks nobody: a kid is unique within its namespace only.
    let first = add_key(&f, &other, &theirs, 5).await.unwrap();
    let second = add_key(&f, &acme, &mine, 5).await.unwrap();
    assert_eq!(first.kid, second.kid);
    assert_eq!(second.namespace, mine);
    assert_eq!(second.tenant_id, acme);
    // A revocation names the key within one namespace: the other stays.
    f.hall
        .revoke_namespace_key(&other, &theirs, &first.kid)
        .await
        .unwrap();
    let acme_keys = f.hall.list_namespace_keys(&acme, &mine).await.unwrap();
    assert_eq!(acme_keys.len(), 1);
    assert!(acme_keys[0].revoked_at.is_none());
}

#[tokio::test]
async fn a_card_is_judged_by_the_key_of_its_workers_namespace_when_another_namespace_has_the_kid() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    // The fixture signs cards with key 7, registered on the worker's namespace.
    claim(&f, "x.other", &other, false).await.unwrap();
    let theirs = ns("x.other");
    add_key(&f, &other, &theirs, 7).await.unwrap();
    let kid = public_key(7).kid();
    f.hall
        .revoke_namespace_key(&other, &theirs, &kid)
        .await
        .unwrap();

    f.register(&acme, "x.acme.w", 0, json!({})).await;
    // acme's key 7 is registered (on x.acme) by the fixture and verifies,
    // though the same kid is revoked on x.other.
    f.attest_card(&acme, "x.acme.w", &"a".repeat(64)).await;
    let stored = f
        .hall
        .store
        .tenant(&acme)
        .latest_attestation(
            &f.hall
                .store
                .tenant(&acme)
                .worker(&WorkerRef::parse("x.acme.w").unwrap())
                .await
                .unwrap()
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let now = stored.judged(None, chrono::Utc::now());
    assert_eq!(
        now.verdict.status,
        attestation::AttestationStatus::Attested,
        "{now:?}"
    );
}

#[tokio::test]
async fn revoked_workers_and_keys_do_not_keep_a_namespace_from_being_released_or_transferred() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let x = ns("x.acme");
    let w = register(&f, &acme, "x.acme.w").await.unwrap();
    let key = add_key(&f, &acme, &x, 4).await.unwrap();
    f.hall
        .revoke_worker(&acme, &WorkerRef::parse(&w.id).unwrap())
        .await
        .unwrap();
    f.hall
        .revoke_namespace_key(&acme, &x, &key.kid)
        .await
        .unwrap();

    // Transferred, then released, with only history under it.
    let moved = change(&f, &x, Some(&other), None).await.unwrap();
    assert_eq!(moved.claim.unwrap().tenant_id.as_ref(), Some(&other));
    let released = change(&f, &x, None, None).await.unwrap();
    assert_eq!(released.record.from_tenant.as_ref(), Some(&other));
    assert!(!released.record.forced);
    // The history stays: the revoked worker and key are still acme's.
    let kept = f
        .hall
        .store
        .tenant(&acme)
        .list_namespace_keys(&x)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].revoked_at.is_some());
    let filter =
        WorkerFilter::all(wcp::PageLimit::parse(Some(10), wcp::PageSize::WORKERS).unwrap());
    let workers = f.hall.list_workers(&acme, &filter).await.unwrap().workers;
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].status, WorkerStatus::Revoked);
    // And the namespace is free for anyone.
    register(&f, &other, "x.acme.fresh").await.unwrap();
    assert_eq!(standing(&f, &other, "x.acme").await, Standing::Yours);
}

#[tokio::test]
async fn a_squatted_namespace_is_force_released_revoking_what_lives_under_it_and_recorded() {
    let (f, squatter, owner) = Fixture::acme_and_other().await;
    let x = ns("x.brand");
    register(&f, &squatter, "x.brand.w").await.unwrap();
    register(&f, &squatter, "x.brand.v").await.unwrap();
    add_key(&f, &squatter, &x, 4).await.unwrap();

    let released = change(&f, &x, None, Some("squatted: Brand Inc's trademark"))
        .await
        .unwrap();
    assert!(released.claim.is_none());
    let r = &released.record;
    assert_eq!(r.change, NamespaceChange::Release);
    assert!(r.forced);
    assert_eq!(r.from_tenant.as_ref(), Some(&squatter));
    assert_eq!(r.to_tenant, None);
    assert_eq!(r.reason.as_deref(), Some("squatted: Brand Inc's trademark"));
    assert_eq!(r.actor_tenant, tenant("org.operator"));
    assert_eq!((r.revoked_workers, r.revoked_keys), (2, 1));

    // What lived under it is revoked, not deleted.
    let keys = f
        .hall
        .store
        .tenant(&squatter)
        .list_namespace_keys(&x)
        .await
        .unwrap();
    assert!(keys.iter().all(|k| k.revoked_at.is_some()) && keys.len() == 1);
    let filter =
        WorkerFilter::all(wcp::PageLimit::parse(Some(10), wcp::PageSize::WORKERS).unwrap());
    let workers = f
        .hall
        .list_workers(&squatter, &filter)
        .await
        .unwrap()
        .workers;
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().all(|w| w.status == WorkerStatus::Revoked));

    // The owner claims it and registers its own worker and the same key.
    claim(&f, "x.brand", &owner, false).await.unwrap();
    register(&f, &owner, "x.brand.real").await.unwrap();
    add_key(&f, &owner, &x, 5).await.unwrap();

    let history = f.hall.namespace_history(&x).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, r.id);
}

#[tokio::test]
async fn a_forced_transfer_revokes_the_previous_holders_workers_and_keys_and_the_new_holder_uses_it(
) {
    let (f, squatter, owner) = Fixture::acme_and_other().await;
    let org = ns("org.brand");
    claim(&f, "org.brand", &squatter, false).await.unwrap();
    register(&f, &squatter, "org.brand.w").await.unwrap();
    let squatters_key = add_key(&f, &squatter, &org, 4).await.unwrap();

    let e = change(&f, &org, Some(&owner), None).await.unwrap_err();
    assert!(
        matches!(
            e,
            AdminError::Refused {
                refused: ChangeRefused::InUse(..),
                ..
            }
        ),
        "{e:?}"
    );
    // A forced transfer to a tenant that does not exist changes nothing.
    let e = change(&f, &org, Some(&tenant("org.nobody")), Some("typo"))
        .await
        .unwrap_err();
    assert!(matches!(e, AdminError::NoSuchTenant(_)), "{e:?}");
    assert!(f.hall.namespace_history(&org).await.unwrap().is_empty());

    let moved = change(&f, &org, Some(&owner), Some("court order"))
        .await
        .unwrap();
    assert_eq!(moved.claim.unwrap().tenant_id.as_ref(), Some(&owner));
    assert_eq!(moved.record.change, NamespaceChange::Transfer);
    assert_eq!(moved.record.to_tenant.as_ref(), Some(&owner));
    assert_eq!(
        (moved.record.revoked_workers, moved.record.revoked_keys),
        (1, 1)
    );
    let keys = f
        .hall
        .store
        .tenant(&squatter)
        .list_namespace_keys(&org)
        .await
        .unwrap();
    assert_eq!(keys[0].kid, squatters_key.kid);
    assert!(keys[0].revoked_at.is_some());

    register(&f, &owner, "org.brand.real").await.unwrap();
    add_key(&f, &owner, &org, 5).await.unwrap();
    let e = add_key(&f, &squatter, &org, 6).await.unwrap_err();
    assert!(matches!(e, KeyError::NotYours(_)), "{e:?}");
}

#[tokio::test]
async fn a_key_added_while_the_namespace_is_being_transferred_waits_and_is_refused() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let x = ns("x.moving");
    claim(&f, "x.moving", &acme, false).await.unwrap();

    // The transfer holds the namespace's row lock while it counts what lives
    // under it and moves it (`registry::namespaces::transfer_namespace`):
    // done here by hand, so the key arrives in the middle of it.
    let mut transfer = sqlx::PgConnection::connect(f.db_url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut transfer).await.unwrap();
    sqlx::query("SELECT 1 FROM namespaces WHERE namespace = 'x.moving' FOR UPDATE")
        .execute(&mut transfer)
        .await
        .unwrap();
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM namespace_keys WHERE namespace = 'x.moving' AND revoked_at IS NULL",
    )
    .fetch_one(&mut transfer)
    .await
    .unwrap();
    assert_eq!(active, 0, "nothing in use: the transfer goes ahead");

    let adding = {
        let f_hall = f.hall.clone();
        let (acme, x) = (acme.clone(), x.clone());
        tokio::spawn(async move {
            let signing = SigningKey::from_bytes(&[4u8; 32]);
            f_hall
                .add_namespace_key(AddKeyCommand {
                    proof: KeyProof::parse(&sign_key_proof(&signing, &acme, &x)).unwrap(),
                    tenant: acme,
                    namespace: x,
                    key: public_key(4),
                    label: "in the middle".into(),
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("UPDATE namespaces SET tenant_id = $1 WHERE namespace = 'x.moving'")
        .bind(other.as_str())
        .execute(&mut transfer)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut transfer).await.unwrap();

    let e = adding.await.unwrap().unwrap_err();
    assert!(matches!(e, KeyError::NotYours(_)), "{e:?}");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM namespace_keys")
        .fetch_one(&mut transfer)
        .await
        .unwrap();
    assert_eq!(
        keys, 0,
        "no key of the old holder on the new holder's namespace"
    );
    // The new holder registers its own.
    add_key(&f, &other, &x, 5).await.unwrap();
}
