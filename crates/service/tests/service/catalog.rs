//! Discovery and the imported catalog.

use serde_json::json;
use service::Capability;
use wcp::catalog::{Catalog, CatalogEntity, EntityType};

use crate::fixture::{Fixture, CAP};

fn catalog(version: &str, summary_name: &str) -> Catalog {
    Catalog::parse(&json!({"_meta": {"version": version}, "entities": [
        {"id": "cap.doc.summarize", "type": "capability", "name": summary_name, "risk_tier": "low"},
        {"id": CAP, "type": "capability", "name": "Tier run"},
        {"id": "wrk.doc.summarizer", "type": "worker_species"}
    ]}))
    .unwrap()
}

/// Imports [`catalog`]; answers (inserted, updated).
async fn import(f: &Fixture, version: &str, summary_name: &str) -> (u64, u64) {
    let s = f
        .hall
        .import_catalog(&catalog(version, summary_name))
        .await
        .unwrap();
    (s.inserted, s.updated)
}

/// The catalog's entities of type `t`, by id.
async fn of_type(f: &Fixture, t: &str) -> Vec<CatalogEntity> {
    f.hall.catalog(EntityType::parse(t).unwrap()).await.unwrap()
}

#[tokio::test]
async fn an_imported_catalog_entry_is_listed_and_a_second_import_replaces_it() {
    let f = Fixture::start().await;
    assert_eq!(import(&f, "1", "Summarize").await, (3, 0));

    let caps = f.hall.catalog(EntityType::CAPABILITY).await.unwrap();
    let ids: Vec<_> = caps.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["cap.doc.summarize", CAP], "by id");
    assert_eq!(caps[0].name.as_deref(), Some("Summarize"));
    assert_eq!(caps[0].risk_tier.as_deref(), Some("low"));
    let species = of_type(&f, "worker_species").await;
    assert_eq!(species.len(), 1);
    assert_eq!(species[0].id, "wrk.doc.summarizer");
    assert!(of_type(&f, "control").await.is_empty());

    assert_eq!(import(&f, "2", "Summarise").await, (0, 3), "replaced");
    let caps = of_type(&f, "capability").await;
    assert_eq!(caps[0].name.as_deref(), Some("Summarise"));
}

#[tokio::test]
async fn capabilities_merge_the_catalog_with_those_of_workers_the_viewer_can_see() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    import(&f, "1", "Summarize").await;
    f.register(
        &acme,
        "x.acme.public",
        1,
        json!({"visibility": "public", "capabilities": [CAP, "cap.acme.extra"]}),
    )
    .await;
    f.register(
        &other,
        "x.other.private",
        1,
        json!({"visibility": "private"}),
    )
    .await;

    let of = |caps: &[Capability], id: &str| caps.iter().find(|c| c.id == id).cloned();
    let anyone = f.hall.capabilities(None).await.unwrap();
    let ids: Vec<_> = anyone.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["cap.acme.extra", "cap.doc.summarize", CAP],
        "by id"
    );
    let run = of(&anyone, CAP).unwrap();
    assert_eq!(
        run.entry.and_then(|e| e.name).as_deref(),
        Some("Tier run"),
        "the catalog's entity"
    );
    assert_eq!(
        run.workers, 1,
        "the private worker of org.other is not counted"
    );
    let extra = of(&anyone, "cap.acme.extra").unwrap();
    assert_eq!(extra.entry, None, "declared, not in the catalog");
    assert_eq!(extra.workers, 1);
    let summarize = of(&anyone, "cap.doc.summarize").unwrap();
    assert_eq!(
        summarize.entry.map(|e| e.risk_tier),
        Some(Some("low".to_string()))
    );
    assert_eq!(summarize.workers, 0, "in the catalog, declared by no one");

    let as_other = f.hall.capabilities(Some(&other)).await.unwrap();
    assert_eq!(
        of(&as_other, CAP).unwrap().workers,
        2,
        "its own private one too"
    );
    let as_acme = f.hall.capabilities(Some(&acme)).await.unwrap();
    assert_eq!(of(&as_acme, CAP).unwrap().workers, 1);
}

#[tokio::test]
async fn a_tenants_active_workers_leave_out_revoked_ones_and_other_tenants() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.a", 1, json!({})).await;
    let gone = f.register(&acme, "x.acme.b", 1, json!({})).await;
    f.register(&acme, "x.acme.c", 1, json!({})).await;
    f.register(&other, "x.other.a", 1, json!({})).await;
    f.hall
        .revoke_worker(&acme, &registry::workers::WorkerRef::Registry(gone.id))
        .await
        .unwrap();

    let mut ids: Vec<_> = f
        .hall
        .active_workers(&acme)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.record.worker_id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["x.acme.a", "x.acme.c"]);
}
