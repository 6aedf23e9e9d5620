//! The receipt export: a tenant's chain, in order, a page at a time.

use serde_json::json;
use wcp::{PageLimit, PageSize};

use crate::fixture::Fixture;

fn limit(n: i64) -> PageLimit {
    PageLimit::parse(Some(n), PageSize::RECEIPT_EXPORT).unwrap()
}

fn hashes(receipts: &[audit::Receipt]) -> Vec<String> {
    receipts.iter().map(|r| r.receipt_hash.clone()).collect()
}

#[tokio::test]
async fn a_tenants_export_holds_only_its_own_receipts_in_chain_order() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    f.register(&other, "x.other.w", 1, json!({})).await;
    for _ in 0..3 {
        f.decide_once(&acme, "x.acme.w").await;
        f.decide_once(&other, "x.other.w").await;
    }
    let chain = hashes(&f.chain(&acme).await);
    assert_eq!(chain.len(), 3);

    let whole = f.hall.export_receipts(&acme, 0, limit(1000)).await.unwrap();
    assert_eq!(hashes(&whole.items), chain);
    assert!(whole
        .items
        .iter()
        .all(|r| r.content.tenant_id == acme.as_str()));
    assert_eq!(whole.next, None, "a short page is the chain's end");

    // Before the start is the start.
    let from_before = f
        .hall
        .export_receipts(&acme, -5, limit(1000))
        .await
        .unwrap();
    assert_eq!(hashes(&from_before.items), chain);
}

#[tokio::test]
async fn the_export_pages_by_chain_position() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.w", 1, json!({})).await;
    for _ in 0..3 {
        f.decide_once(&acme, "x.acme.w").await;
    }
    let chain = hashes(&f.chain(&acme).await);

    let first = f.hall.export_receipts(&acme, 0, limit(2)).await.unwrap();
    assert_eq!(hashes(&first.items), chain[..2]);
    let after = first.next.expect("a full page may have a next one");
    let rest = f
        .hall
        .export_receipts(&acme, after, limit(2))
        .await
        .unwrap();
    assert_eq!(hashes(&rest.items), chain[2..]);
    assert_eq!(rest.next, None);
}
