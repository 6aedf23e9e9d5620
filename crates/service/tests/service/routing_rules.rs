//! A tenant's routing rules: versions, activation and roll-back, snapshots,
//! and the compiled set in force as the router reads it.

use std::sync::Arc;

use routing::RulesVersion;
use serde_json::{json, Value};
use service::routing_rules::{Activated, PutRules};
use service::RulesError;
use uuid::Uuid;
use wcp::TenantId;

use crate::fixture::Fixture;

fn v(n: u32) -> RulesVersion {
    RulesVersion::new(n).unwrap()
}

/// A one-rule document routing `cap.doc.summarize` in `env` to `species`.
fn doc(rule_id: &str, env: &str, species: &str) -> Value {
    json!({"rules": [{
        "rule_id": rule_id,
        "match": {"capability_id": "cap.doc.summarize", "env": env},
        "decision": {"candidate_workers_ranked": [{"worker_species_id": species, "score_hint": 0.5}],
                     "required_controls_suggested": ["ctrl.obs.audit-log-append-only"]}
    }]})
}

fn put(tenant: &TenantId, document: Value) -> PutRules {
    PutRules {
        tenant: tenant.clone(),
        document,
        activate: true,
        skip_snapshots: false,
        comment: None,
        by: Uuid::now_v7(),
    }
}

fn case(name: &str, env: &str, rule: Option<&str>) -> Value {
    json!({"name": name,
           "input": {"capability_id": "cap.doc.summarize", "env": env, "data_label": "INTERNAL",
                     "tenant_risk": "low", "qos_class": "P2",
                     "correlation_id": "4b9a3c1e-0000-4000-8000-000000000001"},
           "expect": {"matched_rule_id": rule}})
}

async fn active_version(f: &Fixture, tenant: &TenantId) -> Option<u32> {
    f.hall
        .active_rules(tenant)
        .await
        .unwrap()
        .map(|a| a.version.get())
}

#[tokio::test]
async fn a_put_makes_the_next_version_and_activates_it() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    assert_eq!(active_version(&f, &acme).await, None);

    let first = f
        .hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    let second = f
        .hall
        .put_rules(put(&acme, doc("rr_b", "dev", "wrk.doc.b")))
        .await
        .unwrap();

    assert_eq!((first.version, second.version), (v(1), v(2)));
    assert!(second.active);
    assert_eq!(second.rule_count, 1);
    let active = f.hall.active_rules(&acme).await.unwrap().unwrap();
    assert_eq!(active.version, v(2));
    assert_eq!(active.sha256, second.sha256);
    assert_eq!(active.rules.rules()[0].rule_id.as_str(), "rr_b");
    let listed: Vec<(u32, bool)> = f
        .hall
        .rules_versions(&acme)
        .await
        .unwrap()
        .iter()
        .map(|i| (i.version.get(), i.active))
        .collect();
    assert_eq!(listed, vec![(2, true), (1, false)]);
}

#[tokio::test]
async fn a_version_reads_back_as_the_document_that_was_put_with_its_hash() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let sent = doc("rr_a", "dev", "wrk.doc.a");
    let info = f.hall.put_rules(put(&acme, sent.clone())).await.unwrap();
    let stored = f.hall.rules_version(&acme, info.version).await.unwrap();
    assert_eq!(stored.document, sent);
    let canonical = wcp::canonical::to_canonical_json(&sent);
    use sha2::Digest;
    assert_eq!(
        info.sha256,
        wcp::canonical::hex(&sha2::Sha256::digest(canonical))
    );
    let active = f.hall.active_rules_document(&acme).await.unwrap();
    assert_eq!((active.version, active.document), (info.version, sent));
}

#[tokio::test]
async fn a_refused_rule_set_writes_no_version_and_names_the_shadowing_rule() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let shadowed = json!({"rules": [
        {"rule_id": "rr_broad", "match": {"capability_id": "cap.doc.summarize"},
         "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.a"}]}},
        {"rule_id": "rr_narrow", "match": {"capability_id": "cap.doc.summarize", "env": "dev"},
         "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.b"}]}}
    ]});
    let err = f.hall.put_rules(put(&acme, shadowed)).await.unwrap_err();
    let RulesError::InvalidRules(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.path, "rules[1]");
    let msg = err.to_string();
    assert!(
        msg.contains("rr_narrow") && msg.contains("rr_broad"),
        "{msg}"
    );
    assert!(f.hall.rules_versions(&acme).await.unwrap().is_empty());
    assert_eq!(active_version(&f, &acme).await, None);
    // The next good set is still version 1: nothing was used up.
    let info = f
        .hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    assert_eq!(info.version, v(1));
}

#[tokio::test]
async fn concurrent_puts_get_distinct_versions() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let puts = (0..8).map(|i| {
        let hall = f.hall.clone();
        let command = put(&acme, doc(&format!("rr_{i}"), "dev", "wrk.doc.a"));
        tokio::spawn(async move { hall.put_rules(command).await.unwrap().version.get() })
    });
    let mut versions = Vec::new();
    for p in puts {
        versions.push(p.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn activating_an_old_version_rolls_back_and_the_router_sees_it_at_once() {
    // Copies that hear nothing from PostgreSQL: only the use case's own
    // invalidation can make the roll-back visible.
    let f = Fixture::start_deaf().await;
    let acme = f.create_tenant("org.acme").await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    f.hall
        .put_rules(put(&acme, doc("rr_b", "dev", "wrk.doc.b")))
        .await
        .unwrap();
    assert_eq!(active_version(&f, &acme).await, Some(2));

    let done = f
        .hall
        .activate_rules(&acme, v(1), Uuid::now_v7())
        .await
        .unwrap();

    assert_eq!(done, Activated::Now);
    let active = f.hall.active_rules(&acme).await.unwrap().unwrap();
    assert_eq!(active.version, v(1));
    assert_eq!(active.rules.rules()[0].rule_id.as_str(), "rr_a");
    // And forward again; activating the version in force changes nothing.
    f.hall
        .activate_rules(&acme, v(2), Uuid::now_v7())
        .await
        .unwrap();
    assert_eq!(active_version(&f, &acme).await, Some(2));
    let again = f
        .hall
        .activate_rules(&acme, v(2), Uuid::now_v7())
        .await
        .unwrap();
    assert_eq!(again, Activated::AlreadyActive);
}

#[tokio::test]
async fn a_new_version_is_seen_by_the_next_route_in_this_process() {
    let f = Fixture::start_deaf().await;
    let acme = f.create_tenant("org.acme").await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    assert_eq!(active_version(&f, &acme).await, Some(1));
    f.hall
        .put_rules(put(&acme, doc("rr_b", "dev", "wrk.doc.b")))
        .await
        .unwrap();
    assert_eq!(active_version(&f, &acme).await, Some(2));
}

#[tokio::test]
async fn the_rule_set_in_force_is_compiled_once_per_version() {
    let f = Fixture::start_deaf().await;
    let acme = f.create_tenant("org.acme").await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    let first = f.hall.active_rules(&acme).await.unwrap().unwrap();
    // A change elsewhere drops every copy; the same version is not compiled again.
    f.hall.facts.invalidate();
    let second = f.hall.active_rules(&acme).await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &second));
}

#[tokio::test]
async fn a_version_stored_without_activation_leaves_the_one_in_force() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    let staged = f
        .hall
        .put_rules(PutRules {
            activate: false,
            ..put(&acme, doc("rr_b", "dev", "wrk.doc.b"))
        })
        .await
        .unwrap();
    assert!(!staged.active);
    assert_eq!(active_version(&f, &acme).await, Some(1));
}

#[tokio::test]
async fn a_version_cannot_be_updated_or_deleted_in_sql() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    for sql in [
        "UPDATE routing_rule_versions SET document = '{}'",
        "DELETE FROM routing_rule_versions",
        "TRUNCATE routing_rule_versions CASCADE",
    ] {
        let err = f.try_sql(sql).await.unwrap_err().to_string();
        assert!(err.contains("immutable"), "{sql}: {err}");
    }
    assert_eq!(f.hall.rules_versions(&acme).await.unwrap().len(), 1);
}

#[tokio::test]
async fn another_tenants_versions_are_invisible() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    assert!(f.hall.rules_versions(&other).await.unwrap().is_empty());
    assert!(matches!(
        f.hall.rules_version(&other, v(1)).await,
        Err(RulesError::NoSuchVersion(_))
    ));
    assert!(matches!(
        f.hall.activate_rules(&other, v(1), Uuid::now_v7()).await,
        Err(RulesError::NoSuchVersion(_))
    ));
    assert!(matches!(
        f.hall.active_rules_document(&other).await,
        Err(RulesError::NoRules)
    ));
    assert_eq!(active_version(&f, &other).await, None);
}

#[tokio::test]
async fn a_put_is_refused_when_stored_snapshots_fail_and_allowed_with_skip_snapshots() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    f.hall
        .put_routing_snapshots(
            &acme,
            json!([case("dev goes to a", "dev", Some("rr_a"))]),
            Uuid::now_v7(),
        )
        .await
        .unwrap();

    let err = f
        .hall
        .put_rules(put(&acme, doc("rr_b", "dev", "wrk.doc.b")))
        .await
        .unwrap_err();
    let RulesError::SnapshotsFailed(diffs) = err else {
        panic!("{err:?}")
    };
    assert_eq!(diffs.len(), 1);
    assert_eq!(
        (diffs[0].case.as_str(), diffs[0].field),
        ("dev goes to a", "matched_rule_id")
    );
    assert_eq!(
        (&diffs[0].expected, &diffs[0].actual),
        (&json!("rr_a"), &json!("rr_b"))
    );
    assert_eq!(f.hall.rules_versions(&acme).await.unwrap().len(), 1);

    let forced = f
        .hall
        .put_rules(PutRules {
            skip_snapshots: true,
            ..put(&acme, doc("rr_b", "dev", "wrk.doc.b"))
        })
        .await
        .unwrap();
    assert_eq!(forced.version, v(2));
    assert_eq!(active_version(&f, &acme).await, Some(2));
}

#[tokio::test]
async fn a_test_run_reports_differences_and_writes_nothing() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    f.hall
        .put_rules(put(&acme, doc("rr_a", "dev", "wrk.doc.a")))
        .await
        .unwrap();
    let cases = json!([
        case("dev", "dev", Some("rr_a")),
        case("prod", "prod", Some("rr_a"))
    ]);
    // Against the set in force.
    let report = f
        .hall
        .test_rules(&acme, None, Some(cases.clone()))
        .await
        .unwrap();
    assert_eq!(report.cases, 2);
    assert_eq!(report.differences.len(), 1);
    assert_eq!(report.differences[0].case, "prod");
    // Against a candidate set.
    let report = f
        .hall
        .test_rules(&acme, Some(doc("rr_p", "prod", "wrk.doc.a")), Some(cases))
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 2);
    assert_eq!(f.hall.rules_versions(&acme).await.unwrap().len(), 1);
    // Without cases: the stored snapshots (none yet).
    let report = f.hall.test_rules(&acme, None, None).await.unwrap();
    assert!(report.passed() && report.cases == 0);
}

#[tokio::test]
async fn snapshots_with_a_bad_case_are_refused_naming_it() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let err = f
        .hall
        .put_routing_snapshots(
            &acme,
            json!([case("a", "dev", None), case("a", "prod", None)]),
            Uuid::now_v7(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("cases[1].name"), "{err}");
    assert!(f.hall.routing_snapshots(&acme).await.unwrap().is_none());
}
