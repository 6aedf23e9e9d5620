//! The worker use cases, and who sees a worker (`policy::visibility`) as
//! the facts cache applies it.

use registry::workers::{Worker, WorkerFilter, WorkerRef, WorkerStatus};
use serde_json::json;
use service::{RegisterError, WorkerError};
use wcp::{TenantId, WorkerRecord};

use crate::fixture::Fixture;

async fn register(
    f: &Fixture,
    tenant: &TenantId,
    worker_id: &str,
    visibility: &str,
) -> Result<Worker, RegisterError> {
    let body = json!({"worker_id": worker_id,
        "capabilities": ["cap.data.read.v1"], "visibility": visibility});
    f.hall
        .register_worker(tenant, WorkerRecord::parse(&body).unwrap())
        .await
}

#[tokio::test]
async fn a_private_worker_is_invisible_to_another_tenant_and_to_anonymous_callers() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let private = register(&f, &acme, "x.acme.private", "private")
        .await
        .unwrap();
    register(&f, &acme, "x.acme.public", "public")
        .await
        .unwrap();
    let sees = |name: &str, viewer| {
        let r = WorkerRef::parse(name).unwrap();
        let facts = f.hall.facts.clone();
        async move { facts.visible_worker(&r, viewer).await.unwrap().is_some() }
    };

    for name in ["x.acme.private", private.id.as_str()] {
        assert!(
            sees(name, Some(&acme)).await,
            "{name}: its own tenant sees it"
        );
        assert!(
            !sees(name, Some(&other)).await,
            "{name}: another tenant does not"
        );
        assert!(
            !sees(name, None).await,
            "{name}: nor does an anonymous caller"
        );
    }
    assert!(sees("x.acme.public", Some(&other)).await);
    assert!(sees("x.acme.public", None).await);
    assert!(!sees("x.acme.nobody", Some(&acme)).await);
}

#[tokio::test]
async fn a_worker_id_is_registered_once() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    register(&f, &acme, "x.acme.w", "public").await.unwrap();
    let e = register(&f, &acme, "x.acme.w", "private")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RegisterError::Exists(id) if id.as_str() == "x.acme.w"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "worker x.acme.w is already registered");
}

#[tokio::test]
async fn a_revoked_worker_is_kept_and_cannot_be_changed() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let w = register(&f, &acme, "x.acme.w", "public").await.unwrap();
    let by_id = WorkerRef::Registry(w.id.clone());

    let changed = f
        .hall
        .update_worker(&acme, &by_id, &json!({"policy_tier": 3}))
        .await
        .unwrap();
    assert_eq!(changed.record.policy_tier, 3);
    assert_eq!(changed.record.worker_id, w.record.worker_id);

    // Another tenant's key reaches none of it.
    let e = f.hall.revoke_worker(&other, &by_id).await.unwrap_err();
    assert!(matches!(e, WorkerError::NotFound(_)), "{e:?}");
    let e = f
        .hall
        .update_worker(&other, &by_id, &json!({"policy_tier": 1}))
        .await
        .unwrap_err();
    assert!(matches!(e, WorkerError::NotFound(_)), "{e:?}");

    let revoked = f.hall.revoke_worker(&acme, &by_id).await.unwrap();
    assert_eq!(revoked.status, WorkerStatus::Revoked);
    let again = f.hall.revoke_worker(&acme, &by_id).await.unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking again changes nothing"
    );
    let e = f
        .hall
        .update_worker(&acme, &by_id, &json!({"policy_tier": 1}))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("worker {} is revoked and cannot be changed", w.id)
    );
    let e = f
        .hall
        .update_worker(&acme, &by_id, &json!({"worker_id": "x.acme.other"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, WorkerError::Record(_)),
        "the identity is refused before the status is looked at: {e:?}"
    );

    let kept = f.hall.worker(&acme, &by_id).await.unwrap();
    assert_eq!(kept.status, WorkerStatus::Revoked);
    let page = f
        .hall
        .list_workers(
            &acme,
            &WorkerFilter {
                status: Some(WorkerStatus::Revoked),
                ..WorkerFilter::all(
                    wcp::PageLimit::parse(Some(10), wcp::PageSize::WORKERS).unwrap(),
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(page.workers.len(), 1);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn a_page_of_workers_says_where_the_next_one_starts() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    for name in ["x.acme.a", "x.acme.b", "x.acme.c"] {
        register(&f, &acme, name, "public").await.unwrap();
    }
    let mut filter =
        WorkerFilter::all(wcp::PageLimit::parse(Some(2), wcp::PageSize::WORKERS).unwrap());
    let first = f.hall.list_workers(&acme, &filter).await.unwrap();
    assert_eq!(first.workers.len(), 2);
    assert_eq!(
        first.next_cursor.as_deref(),
        Some(first.workers[1].id.as_str())
    );
    filter.after = first.next_cursor;
    let second = f.hall.list_workers(&acme, &filter).await.unwrap();
    assert_eq!(second.workers.len(), 1);
    assert_eq!(second.workers[0].record.worker_id.as_str(), "x.acme.c");
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn capabilities_are_counted_for_those_the_visibility_rule_lets_see_the_worker() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let owner_sigs: [TenantId; 0] = [];
    for (name, visibility) in [("x.acme.open", "public"), ("x.acme.closed", "private")] {
        let body = json!({"worker_id": name, "visibility": visibility,
            "capabilities": [format!("cap.{}.v1", name.replace('.', "-"))]});
        let w = f
            .hall
            .register_worker(&acme, WorkerRecord::parse(&body).unwrap())
            .await
            .unwrap();
        let cap = w.record.capabilities[0].to_string();
        // The one SQL form of the rule agrees with the rule itself.
        for viewer in [Some(&acme), Some(&other), None] {
            let counted = f
                .hall
                .store
                .visible_capabilities(viewer)
                .await
                .unwrap()
                .into_iter()
                .any(|(c, n)| c == cap && n == 1);
            let may_see =
                policy::visibility::may_see(&w.tenant_id, w.record.visibility, viewer, &owner_sigs);
            assert_eq!(counted, may_see, "{name} for {viewer:?}");
        }
    }
}
