//! The one JSON error shape for request bodies: malformed JSON, wrong content
//! type and oversize bodies, through the same application the server runs.

use actix_web::{test, web, HttpResponse};
use api::state::AppState;
use registry::{Cache, Store, StoreOptions};
use testkit::TestDb;

use crate::support::message;

#[derive(serde::Deserialize)]
struct Probe {
    #[allow(dead_code)]
    name: String,
}

async fn probe(_body: web::Json<Probe>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"ok": true}))
}

async fn call(
    max_body: usize,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let db = TestDb::create().await;
    let store = Store::connect(
        Store::parse_url(db.url()).unwrap(),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    let auth = api::auth::AuthConfig::new(b"test secret", std::time::Duration::from_secs(60), 0, 0);
    store.migrate().await.unwrap();
    let bans = registry::bans::BanCache::start(store.clone(), Cache::in_process())
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let receipts = registry::receipts::ReceiptWriter::start(
        store.clone(),
        registry::receipts::ReceiptKey {
            kid: audit::key_id(&key.verifying_key()),
            key,
        },
    );
    let state = web::Data::new(AppState::new(
        store,
        Cache::in_process(),
        auth,
        bans,
        receipts,
    ));
    let app = test::init_service(
        api::server::app(state, max_body, api::openapi::document())
            .route("/probe", web::post().to(probe)),
    )
    .await;
    let mut req = test::TestRequest::post().uri("/probe").set_payload(body);
    if let Some(ct) = content_type {
        req = req.insert_header(("content-type", ct));
    }
    let resp = test::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    let body: serde_json::Value = test::read_body_json(resp).await;
    (status, body)
}

#[actix_web::test]
async fn well_formed_json_passes_through() {
    let (status, body) = call(1024, Some("application/json"), br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn malformed_json_is_a_400_invalid_json() {
    let (status, body) = call(1024, Some("application/json"), b"{\"name\":".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");
}

#[actix_web::test]
async fn json_of_the_wrong_shape_is_a_400_naming_the_field() {
    let (status, body) = call(1024, Some("application/json"), br#"{"nom":"a"}"#.to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(message(&body).contains("name"));
}

#[actix_web::test]
async fn wrong_content_type_is_a_415() {
    let (status, body) = call(1024, Some("text/plain"), br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    let (status, _) = call(1024, None, br#"{"name":"a"}"#.to_vec()).await;
    assert_eq!(status, 415);
}

#[actix_web::test]
async fn body_over_the_configured_limit_is_a_413() {
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(200));
    let (status, body) = call(64, Some("application/json"), big.into_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(message(&body).contains("64"));
}

#[actix_web::test]
async fn a_body_that_is_not_an_object_says_so_without_rust_names() {
    // A plain `web::Json` extractor (the routes use `JsonBody`, which also
    // knows `[1, 2]` from a field of the wrong type: see the battery below).
    for body in [&b"[]"[..], b"\"name\"", b"7", b"null"] {
        let (status, err) = call(1024, Some("application/json"), body.to_vec()).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(
            err["error"]["message"], "the body must be a JSON object",
            "{err}"
        );
    }
}

/// Whether `field` occurs in `message` exactly once as a whole name (not
/// inside a longer one such as `capability_id` or `tier_floors.prod`).
fn whole_name_count(message: &str, field: &str) -> usize {
    let inner = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '[';
    message
        .match_indices(field)
        .filter(|(i, _)| {
            let before = message[..*i].chars().next_back();
            let after = message[i + field.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                && !after.is_some_and(inner)
        })
        .count()
}

/// The one error shape, and a message that is one plain sentence naming
/// `field` once (or, for `None`, saying the body must be an object).
fn assert_plain_error(what: &str, status: u16, err: &serde_json::Value, field: Option<&str>) {
    assert!((400..500).contains(&status), "{what}: {status} {err}");
    let code = err["error"]["code"].as_str();
    assert!(code.is_some_and(|c| !c.is_empty()), "{what}: {err}");
    let message = err["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no message in {err}"));
    for leak in ["struct ", "enum ", "::", " at line ", "Error(", "\n"] {
        assert!(
            !message.contains(leak),
            "{what}: {message:?} contains {leak:?}"
        );
    }
    let words: Vec<&str> = message.split(' ').collect();
    assert!(
        !words
            .windows(3)
            .any(|w| w[0] == "with" && w[1].parse::<u32>().is_ok() && w[2].starts_with("element")),
        "{what}: {message:?}"
    );
    assert_eq!(
        message.trim(),
        message,
        "{what}: trailing space in {message:?}"
    );
    assert!(!message.contains("  "), "{what}: {message:?}");
    match field {
        None => assert_eq!(message, "the body must be a JSON object", "{what}"),
        Some(field) => {
            assert_eq!(
                whole_name_count(message, field),
                1,
                "{what}: {message:?} should name {field} once"
            );
            for doubled in [format!("{field}: {field}"), format!("{field} {field}")] {
                assert!(!message.contains(&doubled), "{what}: {message:?}");
            }
            assert!(
                !message.starts_with(&format!("{field}:")),
                "{what}: {message:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_bad_input_to_a_write_endpoint_gets_one_sentence_naming_its_field() {
    use reqwest::Method;
    use serde_json::json;
    let s = crate::support::TestServer::start().await;
    let (_, admin) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.register(
        &admin,
        &crate::support::Worker::named("x.acme", "a").capabilities(&["cap.data.read.v1"]),
    )
    .await;
    let sha = "a".repeat(64);
    let op = s.operator_key.clone();
    let decision = |extra: serde_json::Value| {
        let mut body = json!({"worker_id": "x.acme.a", "capability": "cap.data.read.v1",
            "env": "dev", "data_label": "PUBLIC"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let d = "/api/v1/decisions";
    // Per endpoint and caller: bad bodies, each with the field its error names.
    type Bodies<'a> = Vec<(serde_json::Value, Option<&'a str>)>;
    let groups: Vec<(Method, &str, &str, Bodies)> = vec![
        // Decisions.
        (Method::POST, d, &admin, vec![(json!([1, 2]), None)]),
        (
            Method::POST,
            "/api/route",
            &admin,
            vec![(json!(["x"]), None)],
        ),
        (
            Method::POST,
            d,
            &admin,
            vec![
                (json!({}), Some("env")),
                (decision(json!({"worker_id": null})), Some("worker_id")),
                (decision(json!({"env": null})), Some("env")),
                (decision(json!({"env": "qa"})), Some("env")),
                (decision(json!({"env": 5})), Some("env")),
                (
                    decision(json!({"data_label": "secret"})),
                    Some("data_label"),
                ),
                (
                    decision(json!({"worker_id": "wrk_abc123"})),
                    Some("worker_id"),
                ),
                (
                    decision(json!({"worker_id": "com.acme.a"})),
                    Some("worker_id"),
                ),
                (decision(json!({"capability": "nope"})), Some("capability")),
                (decision(json!({"capability": null})), Some("capability")),
                (
                    decision(json!({"capability": null, "capability_id": "x.y"})),
                    Some("capability_id"),
                ),
                (
                    decision(json!({"tenant_id": "Org.Acme"})),
                    Some("tenant_id"),
                ),
                (
                    decision(json!({"correlation_id": "has space"})),
                    Some("correlation_id"),
                ),
                (
                    decision(json!({"request_hash": "xyz"})),
                    Some("request_hash"),
                ),
                (
                    decision(json!({"approval_id": "nope"})),
                    Some("approval_id"),
                ),
                (decision(json!({"dry_run": "yes"})), Some("dry_run")),
            ],
        ),
        (
            Method::POST,
            d,
            &op,
            vec![(decision(json!({})), Some("tenant_id"))],
        ),
        // Workers.
        (
            Method::POST,
            "/api/v1/workers",
            &admin,
            vec![
                (json!([1]), None),
                (
                    json!({"name": "b", "namespace": "x.acme"}),
                    Some("capabilities"),
                ),
                (
                    json!({"name": "b", "namespace": "cap.doc", "capabilities": ["cap.a.b"]}),
                    Some("namespace"),
                ),
                (
                    json!({"name": "b", "namespace": "x.acme", "capabilities": ["wrk.a.b"]}),
                    Some("capabilities[0]"),
                ),
                (
                    json!({"name": "b", "namespace": "x.acme", "capabilities": ["cap.a.b"], "policy_tier": 9}),
                    Some("policy_tier"),
                ),
                (
                    json!({"name": "b", "namespace": "x.acme", "capabilities": ["cap.a.b"], "allowed_environments": ["qa"]}),
                    Some("allowed_environments"),
                ),
                (
                    json!({"name": "b", "namespace": "x.acme", "capabilities": ["cap.a.b"], "max_data_label": "SECRET"}),
                    Some("max_data_label"),
                ),
                (
                    json!({"worker_id": "wrk_abc123", "capabilities": ["cap.a.b"]}),
                    Some("worker_id"),
                ),
            ],
        ),
        (
            Method::PATCH,
            "/api/v1/workers/x.acme.a",
            &admin,
            vec![(json!({"visibility": "hidden"}), Some("visibility"))],
        ),
        // Namespaces.
        (
            Method::POST,
            "/api/v1/namespaces",
            &admin,
            vec![
                (json!([]), None),
                (json!({}), Some("namespace")),
                (json!({"namespace": 5}), Some("namespace")),
                (json!({"namespace": "com.acme"}), Some("namespace")),
                (json!({"namespace": "x.b", "owner": "me"}), Some("owner")),
            ],
        ),
        (
            Method::POST,
            "/api/v1/namespaces/x.acme/keys",
            &admin,
            vec![(
                json!({"public_key": "nope", "label": "k"}),
                Some("public_key"),
            )],
        ),
        // Attestations.
        (
            Method::PUT,
            "/api/v1/workers/x.acme.a/attest",
            &admin,
            vec![
                (json!({"sha256": "xyz"}), Some("sha256")),
                (
                    json!({"sha256": sha, "ai_generated": "yes"}),
                    Some("ai_generated"),
                ),
                (json!({"sha256": sha, "label": 7}), Some("label")),
            ],
        ),
        (
            Method::POST,
            "/api/v1/workers/x.acme.a/attestations",
            &admin,
            vec![(json!({"card": {}}), Some("signature"))],
        ),
        // API keys.
        (
            Method::POST,
            "/api/v1/api-keys",
            &admin,
            vec![
                (json!({"scopes": ["read"]}), Some("name")),
                (json!({"name": "k", "scopes": "read"}), Some("scopes")),
                (
                    json!({"name": "k", "scopes": ["read", 3]}),
                    Some("scopes[1]"),
                ),
                (json!({"name": "k", "scopes": ["root"]}), Some("scopes")),
                (json!({"name": "k", "scopes": []}), Some("scopes")),
                (
                    json!({"name": "k", "scopes": ["read"], "expires_at": "tomorrow"}),
                    Some("expires_at"),
                ),
                (
                    json!({"name": "k", "scopes": ["read"], "tenant_id": "Bad"}),
                    Some("tenant_id"),
                ),
                (
                    json!({"name": "k", "scopes": ["read"], "expire": 1}),
                    Some("expire"),
                ),
            ],
        ),
        // Tenants.
        (
            Method::POST,
            "/api/v1/tenants",
            &op,
            vec![
                (json!({"id": "Acme", "display_name": "A"}), Some("id")),
                (json!({"id": "org.b"}), Some("display_name")),
                (
                    json!({"id": "org.b", "display_name": ""}),
                    Some("display_name"),
                ),
                (
                    json!({"id": "org.b", "display_name": "B", "x": 1}),
                    Some("x"),
                ),
            ],
        ),
        // Policy.
        (
            Method::PUT,
            "/api/v1/policy",
            &admin,
            vec![
                (
                    json!({"decisions": {"tier_floors": {"qa": 3}}}),
                    Some("decisions.tier_floors"),
                ),
                (
                    json!({"decisions": {"tier_floors": {"prod": 9}}}),
                    Some("decisions.tier_floors.prod"),
                ),
                (
                    json!({"decisions": {"tier_floors": {"prod": "high"}}}),
                    Some("decisions.tier_floors.prod"),
                ),
                (
                    json!({"decisions": {"signatories": ["Bad"]}}),
                    Some("decisions.signatories[0]"),
                ),
                (
                    json!({"decisions": {"l7_supervisor_level": "loud"}}),
                    Some("decisions.l7_supervisor_level"),
                ),
            ],
        ),
    ];
    let cases = groups.into_iter().flat_map(|(method, path, key, bodies)| {
        bodies
            .into_iter()
            .map(move |(body, field)| (method.clone(), path, key, body, field))
    });
    for (method, path, key, body, field) in cases {
        let what = format!("{method} {path} {body}");
        let (status, err) = s.call(method, path, Some(key), Some(body)).await;
        assert_plain_error(&what, status, &err, field);
    }
    s.stop().await;
}

#[actix_web::test]
async fn the_battery_check_counts_whole_names() {
    assert_eq!(
        whole_name_count("capability is required (capability_id too)", "capability"),
        1
    );
    assert_eq!(whole_name_count("env: env \"x\"", "env"), 2);
    assert_eq!(
        whole_name_count("decisions.tier_floors.prod must", "decisions.tier_floors"),
        0
    );
    assert_eq!(whole_name_count("scopes[1] must be", "scopes[1]"), 1);
}
