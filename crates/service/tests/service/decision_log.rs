//! The decision log: a tenant's decisions read back, filtered and paged.

use registry::decisions::DecisionFilter;
use serde_json::json;
use wcp::{PageLimit, PageSize, TenantId};

use crate::fixture::Fixture;

/// Every decision of the tenant, `limit` at a time.
fn all(limit: i64) -> DecisionFilter {
    DecisionFilter {
        worker_id: None,
        capability_id: None,
        denied: None,
        since: None,
        until: None,
        before: None,
        routed_only: false,
        limit: PageLimit::parse(Some(limit), PageSize::DECISIONS).unwrap(),
    }
}

/// Decides once for `tenant` about `worker`; answers the receipt id.
async fn decide(f: &Fixture, tenant: &TenantId, worker: &str) -> String {
    f.decide_once(tenant, worker).await.content.receipt_id
}

async fn ids(f: &Fixture, tenant: &TenantId, query: DecisionFilter) -> Vec<String> {
    f.hall
        .decision_log(tenant, query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| d.receipt.content.receipt_id)
        .collect()
}

#[tokio::test]
async fn the_decision_log_filters_by_a_wrk_id_as_by_its_wcp_id() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let one = f.register(&acme, "x.acme.one", 1, json!({})).await;
    f.register(&acme, "x.acme.two", 1, json!({})).await;
    let first = decide(&f, &acme, "x.acme.one").await;
    decide(&f, &acme, "x.acme.two").await;
    let second = decide(&f, &acme, "x.acme.one").await;

    for named in ["x.acme.one", one.id.as_str()] {
        let query = DecisionFilter {
            worker_id: Some(named.to_string()),
            ..all(50)
        };
        assert_eq!(
            ids(&f, &acme, query).await,
            vec![second.clone(), first.clone()],
            "named {named}: its decisions, newest first"
        );
    }
    // A registry id of no worker, and a value that is neither form, match nothing.
    for named in ["wrk_0123456789abcdef0123456789abcdef", "nonsense"] {
        let query = DecisionFilter {
            worker_id: Some(named.to_string()),
            ..all(50)
        };
        assert!(ids(&f, &acme, query).await.is_empty(), "{named}");
    }
    assert_eq!(ids(&f, &acme, all(50)).await.len(), 3);
}

#[tokio::test]
async fn the_decision_log_pages_newest_first_with_a_cursor() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(decide(&f, &acme, "x.acme.w").await);
    }

    let first = f.hall.decision_log(&acme, all(2)).await.unwrap();
    let first_ids: Vec<_> = first
        .items
        .iter()
        .map(|d| d.receipt.content.receipt_id.clone())
        .collect();
    assert_eq!(first_ids, vec![made[2].clone(), made[1].clone()]);
    assert_eq!(first.next.as_deref(), Some(made[1].as_str()));

    let before = uuid::Uuid::parse_str(&made[1]).unwrap();
    let rest = f
        .hall
        .decision_log(
            &acme,
            DecisionFilter {
                before: Some(before),
                ..all(2)
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].receipt.content.receipt_id, made[0]);
    assert_eq!(rest.next, None, "the last page says so");
}

#[tokio::test]
async fn a_decision_is_read_back_by_its_own_tenant_only() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    let id = decide(&f, &acme, "x.acme.w").await;
    let uuid = uuid::Uuid::parse_str(&id).unwrap();

    let mine = f.hall.logged_decision(&acme, uuid).await.unwrap();
    assert_eq!(mine.unwrap().receipt.content.receipt_id, id);
    assert!(f
        .hall
        .logged_decision(&other, uuid)
        .await
        .unwrap()
        .is_none());
    assert!(ids(&f, &other, all(50)).await.is_empty());
}
