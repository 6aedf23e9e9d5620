//! Privilege envelopes (WCP-Full §7): the tenant's egress allowlist in its
//! policy, and the envelopes worker registration reads.

use crate::support::{code, message, TestServer, Worker};
use serde_json::json;

#[tokio::test]
async fn the_egress_allowlist_is_set_and_read_back_lowercase_sorted_once() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin", "read"]).await;
    let (_, before) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(before["decisions"]["egress_allowlist"], json!({}));

    let p = s
        .set_policy(
            &key,
            json!({"decisions": {
                "tier_floors": {"prod": 4},
                "egress_allowlist": {
                    "production": ["db.internal:5432", "API.Example.com", "api.example.com"],
                    "edge": [],
                },
            }}),
        )
        .await;
    let want = json!({"prod": ["api.example.com", "db.internal:5432"], "edge": []});
    assert_eq!(p["decisions"]["egress_allowlist"], want);
    let (status, read) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(read["decisions"]["egress_allowlist"], want);
    assert_eq!(read["decisions"]["tier_floors"]["prod"], 4);

    // A decision policy without the list replaces it with none, as every
    // other part of the decision policy is replaced.
    let p = s.set_policy(&key, json!({"decisions": {}})).await;
    assert_eq!(p["decisions"]["egress_allowlist"], json!({}));
    s.stop().await;
}

#[tokio::test]
async fn a_bad_egress_destination_is_refused_naming_it_and_nothing_is_written() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin", "read"]).await;
    s.set_policy(
        &key,
        json!({"decisions": {"egress_allowlist": {"prod": ["api.example.com"]}}}),
    )
    .await;
    let (_, before) = s.get_json("/api/v1/policy", Some(&key)).await;

    let too_many: Vec<String> = (0..101).map(|i| format!("h{i}.example.com")).collect();
    for (allowlist, field) in [
        (
            json!({"prod": ["api.example.com", "https://evil.example.net/x"]}),
            "decisions.egress_allowlist.prod[1]",
        ),
        (
            json!({"edge": ["api.example.com:0"]}),
            "decisions.egress_allowlist.edge[0]",
        ),
        (
            json!({"prod": ["a".repeat(254)]}),
            "decisions.egress_allowlist.prod[0]",
        ),
        (
            json!({"qa": ["api.example.com"]}),
            "decisions.egress_allowlist",
        ),
        (
            json!({"prod": ["a.com"], "production": ["b.com"]}),
            "decisions.egress_allowlist",
        ),
        (json!({"prod": too_many}), "decisions.egress_allowlist.prod"),
        (
            json!({"prod": "api.example.com"}),
            "decisions.egress_allowlist.prod must be an array",
        ),
    ] {
        let (status, err) = s
            .try_set_policy(
                &key,
                json!({
                    "attestation": {"require_signature": true, "require_approval": true},
                    "decisions": {"egress_allowlist": allowlist},
                }),
            )
            .await;
        assert_eq!(status, 400, "{allowlist}: {err}");
        // A value of the wrong JSON type is refused while the body is read.
        let want = if allowlist["prod"].is_string() {
            "invalid_request"
        } else {
            "invalid_field"
        };
        assert_eq!(code(&err), want, "{err}");
        assert!(message(&err).contains(field), "{field}: {err}");
    }
    let (_, after) = s.get_json("/api/v1/policy", Some(&key)).await;
    assert_eq!(after, before);
    s.stop().await;
}

#[tokio::test]
async fn registration_keeps_accepting_envelopes_a_checker_can_read() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "read"])
        .await;
    for (name, envelope) in [
        // The enrollment reference's.
        (
            "reference",
            json!({"secrets_access": [], "network_egress": "none",
                   "filesystem_writes": ["/tmp/summaries/"], "tools": ["ollama-embed"]}),
        ),
        // pyhall's egress form, a word in capitals, and keys nobody reads.
        (
            "pyhall",
            json!({"network_egress": "Allowlisted",
                   "egress": {"allowlist": ["https://api.example.com/v1"], "note": "x"},
                   "max_memory_mb": 512}),
        ),
        ("empty", json!({})),
    ] {
        let w = s
            .register(
                &key,
                &Worker::named("x.acme", name)
                    .capabilities(&["cap.a.b"])
                    .set("privilege_envelope", envelope.clone()),
            )
            .await;
        assert_eq!(w["privilege_envelope"], envelope, "kept as given");
    }
    s.stop().await;
}

#[tokio::test]
async fn registration_refuses_an_envelope_no_checker_could_read_naming_the_field() {
    let s = TestServer::start().await;
    let (_, key) = s
        .tenant_with_key("org.acme", &["workers:write", "read"])
        .await;
    for (envelope, field) in [
        (json!("none"), "privilege_envelope"),
        (
            json!({"network_egress": "sometimes"}),
            "privilege_envelope.network_egress",
        ),
        (
            json!({"secrets_access": "vault"}),
            "privilege_envelope.secrets_access",
        ),
        (
            json!({"egress": {"allowlist": [42]}}),
            "privilege_envelope.egress.allowlist[0]",
        ),
    ] {
        let (status, err) = s
            .try_register(
                &key,
                &Worker::named("x.acme", "w")
                    .capabilities(&["cap.a.b"])
                    .set("privilege_envelope", envelope.clone()),
            )
            .await;
        assert_eq!(status, 400, "{envelope}: {err}");
        assert!(message(&err).starts_with(field), "{field}: {err}");
    }
    s.stop().await;
}
