//! `/api/v1/routing/rules…` and `/api/v1/routing/snapshots` over HTTP.

use crate::support::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

fn doc(rule_id: &str, env: &str, species: &str) -> Value {
    json!({"rules": [{
        "rule_id": rule_id,
        "match": {"capability_id": "cap.doc.summarize", "env": env},
        "decision": {"candidate_workers_ranked": [{"worker_species_id": species}]}
    }]})
}

fn case(name: &str, env: &str, rule: Option<&str>) -> Value {
    json!({"name": name,
           "input": {"capability_id": "cap.doc.summarize", "env": env, "data_label": "INTERNAL",
                     "tenant_risk": "low", "qos_class": "P2",
                     "correlation_id": "4b9a3c1e-0000-4000-8000-000000000001"},
           "expect": {"matched_rule_id": rule}})
}

impl TestServer {
    async fn put_rules(&self, key: &str, query: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/api/v1/routing/rules{query}"),
            Some(key),
            Some(body),
        )
        .await
    }
}

#[tokio::test]
async fn a_put_makes_the_next_version_and_activates_it() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (status, none) = s.get_json("/api/v1/routing/rules", Some(&key)).await;
    assert_eq!(
        (status, none["error"]["code"].as_str()),
        (404, Some("no_rules")),
        "{none}"
    );

    let (status, v1) = s.put_rules(&key, "", doc("rr_a", "dev", "wrk.doc.a")).await;
    assert_eq!(
        (status, v1["version"].as_u64(), v1["active"].as_bool()),
        (201, Some(1), Some(true)),
        "{v1}"
    );
    let (status, v2) = s
        .put_rules(&key, "?comment=second", doc("rr_b", "dev", "wrk.doc.b"))
        .await;
    assert_eq!((status, v2["version"].as_u64()), (201, Some(2)), "{v2}");
    assert_eq!(v2["comment"], "second");

    let (status, active) = s.get_json("/api/v1/routing/rules", Some(&key)).await;
    assert_eq!(status, 200, "{active}");
    assert_eq!(active["version"], 2);
    assert_eq!(active["sha256"], v2["sha256"]);
    assert_eq!(active["rules"], doc("rr_b", "dev", "wrk.doc.b"));
    let (_, list) = s
        .get_json("/api/v1/routing/rules/versions", Some(&key))
        .await;
    let versions: Vec<(u64, bool)> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, vec![(2, true), (1, false)]);
    let (status, one) = s
        .get_json("/api/v1/routing/rules/versions/1", Some(&key))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["rules"], doc("rr_a", "dev", "wrk.doc.a"));
    s.stop().await;
}

#[tokio::test]
async fn activating_an_old_version_rolls_back_and_again_is_a_no_op() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.put_rules(&key, "", doc("rr_a", "dev", "wrk.doc.a")).await;
    s.put_rules(&key, "", doc("rr_b", "dev", "wrk.doc.b")).await;

    let (status, done) = s
        .post_empty("/api/v1/routing/rules/versions/1/activate", &key)
        .await;
    assert_eq!(
        (status, &done),
        (200, &json!({"version": 1, "changed": true}))
    );
    let (_, active) = s.get_json("/api/v1/routing/rules", Some(&key)).await;
    assert_eq!(active["version"], 1);
    let (status, again) = s
        .post_empty("/api/v1/routing/rules/versions/1/activate", &key)
        .await;
    assert_eq!(
        (status, &again),
        (200, &json!({"version": 1, "changed": false}))
    );
    s.stop().await;
}

#[tokio::test]
async fn a_refused_rule_set_is_422_naming_the_place_and_the_shadowing_rule_and_writes_nothing() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let shadowed = json!({"rules": [
        {"rule_id": "rr_broad", "match": {"capability_id": "cap.doc.summarize"},
         "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.a"}]}},
        {"rule_id": "rr_narrow", "match": {"capability_id": "cap.doc.summarize", "env": "dev"},
         "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.doc.b"}]}}
    ]});
    let (status, err) = s.put_rules(&key, "", shadowed).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("invalid_rules")),
        "{err}"
    );
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("rules[1]") && msg.contains("rr_broad"),
        "{msg}"
    );

    let mut bad_env = doc("rr_a", "dev", "wrk.doc.a");
    bad_env["rules"][0]["match"]["env"] = json!("production-eu");
    let (status, err) = s.put_rules(&key, "", bad_env).await;
    assert_eq!(status, 422);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("rules[0].match.env"),
        "{err}"
    );

    let (_, list) = s
        .get_json("/api/v1/routing/rules/versions", Some(&key))
        .await;
    assert_eq!(list["versions"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn a_key_without_admin_gets_403() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["read", "decisions:write"])
        .await;
    for (method, path) in [
        (Method::GET, "/api/v1/routing/rules"),
        (Method::PUT, "/api/v1/routing/rules"),
        (Method::GET, "/api/v1/routing/rules/versions"),
        (Method::GET, "/api/v1/routing/rules/versions/1"),
        (Method::POST, "/api/v1/routing/rules/versions/1/activate"),
        (Method::POST, "/api/v1/routing/rules/test"),
        (Method::GET, "/api/v1/routing/snapshots"),
        (Method::PUT, "/api/v1/routing/snapshots"),
    ] {
        let body = match method {
            Method::PUT if path.ends_with("rules") => Some(doc("rr_a", "dev", "wrk.doc.a")),
            Method::PUT => Some(json!({"cases": []})),
            Method::POST if path.ends_with("test") => Some(json!({})),
            _ => None,
        };
        let (status, err) = s.call(method.clone(), path, Some(&key), body).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (403, Some("insufficient_scope")),
            "{method} {path}: {err}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn another_tenants_versions_are_invisible() {
    let s = TestServer::start().await;
    let (_, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, other) = s.tenant_with_key("org.other", &["admin"]).await;
    s.put_rules(&acme, "", doc("rr_a", "dev", "wrk.doc.a"))
        .await;

    let (status, _) = s
        .get_json("/api/v1/routing/rules/versions/1", Some(&other))
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .post_empty("/api/v1/routing/rules/versions/1/activate", &other)
        .await;
    assert_eq!(status, 404);
    let (_, list) = s
        .get_json("/api/v1/routing/rules/versions", Some(&other))
        .await;
    assert_eq!(list["versions"], json!([]));
    let (status, _) = s.get_json("/api/v1/routing/rules", Some(&other)).await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn a_version_that_is_not_a_number_is_400_and_an_unknown_one_404() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    for bad in ["abc", "0", "-1", "1.5", "2147483648", "99999999999"] {
        let (status, err) = s
            .get_json(&format!("/api/v1/routing/rules/versions/{bad}"), Some(&key))
            .await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("version"),
            "{err}"
        );
    }
    let (status, _) = s
        .get_json("/api/v1/routing/rules/versions/7", Some(&key))
        .await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn snapshot_differences_are_reported_and_nothing_is_written() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.put_rules(&key, "", doc("rr_a", "dev", "wrk.doc.a")).await;
    let cases = json!([
        case("dev", "dev", Some("rr_a")),
        case("prod", "prod", Some("rr_a"))
    ]);
    let (status, report) = s
        .post("/api/v1/routing/rules/test", &key, json!({"cases": cases}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["passed"], false);
    assert_eq!(report["cases"], 2);
    assert_eq!(
        report["differences"],
        json!([{"case": "prod", "field": "matched_rule_id", "expected": "rr_a", "actual": null}])
    );
    let (status, report) = s
        .post(
            "/api/v1/routing/rules/test",
            &key,
            json!({"rules": doc("rr_p", "prod", "wrk.doc.a"), "cases": [case("prod", "prod", Some("rr_p"))]}),
        )
        .await;
    assert_eq!(
        (status, report["passed"].as_bool()),
        (200, Some(true)),
        "{report}"
    );
    let (_, list) = s
        .get_json("/api/v1/routing/rules/versions", Some(&key))
        .await;
    assert_eq!(list["versions"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_put_is_refused_when_stored_snapshots_fail_and_allowed_with_skip_snapshots() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.put_rules(&key, "", doc("rr_a", "dev", "wrk.doc.a")).await;
    let (status, stored) = s
        .call(
            Method::PUT,
            "/api/v1/routing/snapshots",
            Some(&key),
            Some(json!({"cases": [case("dev goes to a", "dev", Some("rr_a"))]})),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    let (_, got) = s.get_json("/api/v1/routing/snapshots", Some(&key)).await;
    assert_eq!(
        got["cases"],
        json!([case("dev goes to a", "dev", Some("rr_a"))])
    );

    let (status, err) = s.put_rules(&key, "", doc("rr_b", "dev", "wrk.doc.b")).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("snapshots_failed")),
        "{err}"
    );
    assert_eq!(
        err["error"]["differences"],
        json!([{"case": "dev goes to a", "field": "matched_rule_id", "expected": "rr_a", "actual": "rr_b"}])
    );
    let (_, active) = s.get_json("/api/v1/routing/rules", Some(&key)).await;
    assert_eq!(active["version"], 1);

    let (status, forced) = s
        .put_rules(
            &key,
            "?skip_snapshots=true",
            doc("rr_b", "dev", "wrk.doc.b"),
        )
        .await;
    assert_eq!(
        (status, forced["version"].as_u64()),
        (201, Some(2)),
        "{forced}"
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_snapshot_cases_are_422_naming_the_case() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (status, err) = s
        .call(
            Method::PUT,
            "/api/v1/routing/snapshots",
            Some(&key),
            Some(json!({"cases": [case("a", "dev", None), case("b", "moon", None)]})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("invalid_snapshots")),
        "{err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cases[1].input"),
        "{err}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_rule_set_of_the_largest_size_fits_the_body_limit() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let rules: Vec<Value> = (0..routing::MAX_RULES)
        .map(|i| {
            json!({"rule_id": format!("rr_capability_number_{i:04}"),
                   "description": "routes one capability in every environment to its workers",
                   "match": {"capability_id": format!("cap.generated.capability-{i:04}"),
                             "env": {"in": ["dev", "stage", "prod"]}, "data_label": {"any": true}},
                   "decision": {"candidate_workers_ranked": [
                                    {"worker_species_id": format!("wrk.generated.worker-{i:04}"), "score_hint": 1.0},
                                    {"worker_species_id": "wrk.generated.fallback", "score_hint": 0.5}],
                                "required_controls_suggested": ["ctrl.obs.audit-log-append-only"],
                                "escalation": {"policy_gate": false, "human_required_default": false},
                                "preconditions": {}}})
        })
        .collect();
    let document = json!({"rules": rules});
    assert!(
        document.to_string().len() > 256 * 1024,
        "the default limit would refuse it"
    );
    let (status, v) = s.put_rules(&key, "", document).await;
    assert_eq!((status, v["rule_count"].as_u64()), (201, Some(500)), "{v}");
    s.stop().await;
}
