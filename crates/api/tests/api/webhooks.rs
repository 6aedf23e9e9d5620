//! `/api/v1/webhooks…` over HTTP: the secret shown once, refusals mapped to
//! their statuses, `admin` required, other tenants' endpoints out of reach.

use crate::support::{code, TestServer};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_endpoint_is_created_with_its_secret_once_then_read_changed_and_removed() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (status, created) = s
        .post(
            "/api/v1/webhooks",
            &key,
            json!({"url": "https://hooks.example.com/hall", "event_types": ["*", "decision.denied"],
                   "description": "pager"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("whep_"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["event_types"], json!(["*", "decision.denied"]));

    let (status, one) = s
        .get_json(&format!("/api/v1/webhooks/{id}"), Some(&key))
        .await;
    assert_eq!(status, 200, "{one}");
    assert!(one.get("secret").is_none(), "{one}");
    let (_, list) = s.get_json("/api/v1/webhooks", Some(&key)).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("whsec_"));

    let (status, changed) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            Some(json!({"description": null, "enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["description"].clone(), changed["enabled"].clone()),
        (json!(null), json!(false))
    );
    assert_eq!(changed["url"], "https://hooks.example.com/hall");

    let (status, rotated) = s
        .post_empty(&format!("/api/v1/webhooks/{id}/secret/rotate"), &key)
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );

    let (status, log) = s
        .get_json(
            &format!("/api/v1/webhooks/{id}/deliveries?limit=10"),
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["deliveries"], json!([]));

    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, gone) = s
        .get_json(&format!("/api/v1/webhooks/{id}"), Some(&key))
        .await;
    assert_eq!(status, 404, "{gone}");
}

#[tokio::test]
async fn bad_urls_and_event_types_are_refused_with_422_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let (_, key) = s.tenant_with_key("org.acme", &["admin"]).await;
    for (body, expected) in [
        (
            json!({"url": "http://hooks.example.com/", "event_types": ["*"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://10.0.0.1/", "event_types": ["*"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://[::1]/", "event_types": ["*"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://localhost/", "event_types": ["*"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://hooks.example.com/", "event_types": []}),
            "invalid_event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/", "event_types": ["approval.forgotten"]}),
            "invalid_event_types",
        ),
    ] {
        let (status, refused) = s.post("/api/v1/webhooks", &key, body.clone()).await;
        assert_eq!(
            (status, code(&refused)),
            (422, expected),
            "{body} → {refused}"
        );
    }
    let (_, list) = s.get_json("/api/v1/webhooks", Some(&key)).await;
    assert_eq!(list["webhooks"], json!([]));
}

#[tokio::test]
async fn webhooks_need_admin_and_another_tenants_endpoint_reads_as_missing() {
    let s = TestServer::start().await;
    let (_, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, reader) = s.create_key("org.acme", &["read"]).await;
    let (_, other) = s.tenant_with_key("org.other", &["admin"]).await;
    let (_, created) = s
        .post(
            "/api/v1/webhooks",
            &acme,
            json!({"url": "https://hooks.example.com/x", "event_types": ["ban.lifted"]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let (status, _) = s.get_json("/api/v1/webhooks", Some(&reader)).await;
    assert_eq!(status, 403);
    let (status, missing) = s
        .get_json(&format!("/api/v1/webhooks/{id}"), Some(&other))
        .await;
    assert_eq!(status, 404, "{missing}");
    let (status, _) = s
        .get_json("/api/v1/webhooks/not-an-id/deliveries", Some(&acme))
        .await;
    assert_eq!(status, 404);
    let (status, bad) = s
        .get_json(
            &format!("/api/v1/webhooks/{id}/deliveries?cursor=x"),
            Some(&acme),
        )
        .await;
    assert_eq!((status, code(&bad)), (400, "invalid_query"), "{bad}");
}
