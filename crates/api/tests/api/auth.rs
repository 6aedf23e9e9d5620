//! Tenants, API keys, session tokens, scopes, isolation and rate limits,
//! over real HTTP against real PostgreSQL (and Redis where it matters).

use std::time::Duration;

use crate::support::{each, message, TestServer};
use reqwest::Method;
use serde_json::json;

async fn whoami(server: &TestServer, bearer: &str) -> (u16, serde_json::Value) {
    server.get_json("/api/v1/auth/whoami", Some(bearer)).await
}

async fn session(
    server: &TestServer,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    server
        .call(Method::POST, "/api/v1/auth/token", Some(key), body)
        .await
}

#[tokio::test]
async fn supplied_bootstrap_key_is_the_operators_admin_key() {
    let server = TestServer::start().await;
    let (status, me) = whoami(&server, &server.operator_key).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["tenant_id"], "hall.operator");
    assert_eq!(me["operator"], true);
    assert_eq!(me["credential"], "api_key");
    assert!(me["scopes"].as_array().unwrap().contains(&json!("admin")));
    // No file is written when the key was supplied.
    assert!(!server.data_dir.path().join("operator-api-key").exists());
    server.stop().await;
}

#[tokio::test]
async fn a_created_key_authenticates_by_bearer_header_x_api_key_and_session_cookie() {
    let server = TestServer::start().await;
    let (key_id, key) = server.tenant_with_key("org.acme", &["read"]).await;

    let (status, me) = whoami(&server, &key).await;
    assert_eq!(status, 200);
    assert_eq!(me["tenant_id"], "org.acme");
    assert_eq!(me["key_id"], key_id.as_str());
    assert_eq!(me["operator"], false);

    let by_header =
        crate::support::get_with_key_header(&server.url("/api/v1/auth/whoami"), &key).await;
    assert_eq!(by_header.status(), 200);

    let (status, token) = session(&server, &key, None).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["tenant_id"], "org.acme");
    assert_eq!(token["scopes"], json!(["read"]));
    let token = token["token"].as_str().unwrap();

    let by_cookie = server
        .client
        .get(server.url("/api/v1/auth/whoami"))
        .header("Cookie", format!("theme=dark; pyhall_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let me: serde_json::Value = by_cookie.json().await.unwrap();
    assert_eq!(me["credential"], "session");
    assert_eq!(me["tenant_id"], "org.acme");

    let (status, me) = whoami(&server, token).await;
    assert_eq!(status, 200);
    assert_eq!(me["credential"], "session");
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_key_and_its_sessions_stop_on_the_next_request() {
    let server = TestServer::start().await;
    let (key_id, key) = server.tenant_with_key("org.acme", &["admin"]).await;
    let (_, token) = session(&server, &key, None).await;
    let token = token["token"].as_str().unwrap().to_string();
    assert_eq!(whoami(&server, &token).await.0, 200);

    let (status, revoked) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{key_id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());

    let (status, err) = whoami(&server, &key).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "credentials_revoked");
    let (status, err) = whoami(&server, &token).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "credentials_revoked");
    assert!(message(&err).contains("session"));

    // Revoked keys are kept, and listed as revoked.
    let (_, list) = server
        .get_json(
            "/api/v1/api-keys?tenant_id=org.acme",
            Some(&server.operator_key),
        )
        .await;
    let listed = list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .expect("revoked key still listed");
    assert!(listed["revoked_at"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn an_expired_session_and_an_expired_key_are_refused() {
    let server = TestServer::start().await;
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;
    let (status, token) = session(&server, &key, Some(json!({"ttl_seconds": 1}))).await;
    assert_eq!(status, 200, "{token}");
    let token = token["token"].as_str().unwrap().to_string();

    let expires = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (status, short) = server
        .post("/api/v1/api-keys", &server.operator_key, json!({"name": "short", "scopes": ["read"], "tenant_id": "org.acme", "expires_at": expires}))
        .await;
    assert_eq!(status, 201, "{short}");
    let short_key = short["key"].as_str().unwrap().to_string();

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, err) = whoami(&server, &token).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "credentials_expired");
    let (status, err) = whoami(&server, &short_key).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "credentials_expired");
    // The long-lived key still works.
    assert_eq!(whoami(&server, &key).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_session_never_carries_more_than_its_key() {
    let server = TestServer::start().await;
    let (_, key) = server
        .tenant_with_key("org.acme", &["read", "decisions:write"])
        .await;

    let (status, err) = session(&server, &key, Some(json!({"scopes": ["admin"]}))).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "insufficient_scope");

    let (status, narrow) = session(&server, &key, Some(json!({"scopes": ["read"]}))).await;
    assert_eq!(status, 200);
    assert_eq!(narrow["scopes"], json!(["read"]));
    let token = narrow["token"].as_str().unwrap().to_string();
    let (_, me) = whoami(&server, &token).await;
    assert_eq!(me["scopes"], json!(["read"]));

    // A session cannot mint sessions.
    let (status, err) = session(&server, &token, None).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "api_key_required");

    let (status, err) = session(&server, &key, Some(json!({"ttl_seconds": 0}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, _) = session(&server, &key, Some(json!({"scopes": ["root"]}))).await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_are_401_saying_which() {
    let server = TestServer::start().await;
    let (status, err) = server.get_json("/api/v1/auth/whoami", None).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "unauthenticated");

    let basic = server
        .client
        .get(server.url("/api/v1/auth/whoami"))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let err: serde_json::Value = basic.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_credentials");
    assert!(message(&err).contains("Bearer"));

    let (status, err) = whoami(&server, "phk_nonexistentnonexistentnonexistentnonexist").await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["message"], "unknown API key");

    let (status, err) = whoami(&server, "eyJhbGciOiJIUzI1NiJ9.e30.bad").await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "invalid_credentials");

    // A bad credential on a public route does not break the public route.
    let health = server
        .client
        .get(server.url("/health"))
        .bearer_auth("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn every_route_so_far_checks_its_scope() {
    let server = TestServer::start().await;
    let (_, read) = server.tenant_with_key("org.acme", &["read"]).await;
    let (_, decisions) = server.create_key("org.acme", &["decisions:write"]).await;
    let (admin_id, admin) = server.create_key("org.acme", &["admin"]).await;

    // Operator-only routes: a tenant's admin key is not enough.
    for (method, path, body) in [
        (Method::GET, "/api/v1/tenants", None),
        (
            Method::POST,
            "/api/v1/tenants",
            Some(json!({"id": "org.other", "display_name": "O"})),
        ),
        (Method::POST, "/api/v1/tenants/org.acme/suspend", None),
        (Method::POST, "/api/v1/tenants/org.acme/reactivate", None),
    ] {
        let (status, err) = server.call(method.clone(), path, Some(&admin), body).await;
        assert_eq!(status, 403, "{method} {path}: {err}");
        assert_eq!(err["error"]["code"], "operator_only", "{method} {path}");
    }

    // Admin routes: `read` and `decisions:write` are not enough.
    for key in [&read, &decisions] {
        for (method, path, body) in [
            (Method::GET, "/api/v1/api-keys".to_string(), None),
            (
                Method::POST,
                "/api/v1/api-keys".to_string(),
                Some(json!({"name": "x", "scopes": ["read"]})),
            ),
            (Method::DELETE, format!("/api/v1/api-keys/{admin_id}"), None),
        ] {
            let (status, err) = server.call(method.clone(), &path, Some(key), body).await;
            assert_eq!(status, 403, "{method} {path}: {err}");
            assert_eq!(err["error"]["code"], "insufficient_scope");
            assert!(message(&err).contains("admin"));
        }
    }

    // Reading the own tenant needs `read` (admin includes it).
    let (status, _) = server
        .get_json("/api/v1/tenants/org.acme", Some(&decisions))
        .await;
    assert_eq!(status, 403);
    for key in [&read, &admin] {
        let (status, t) = server.get_json("/api/v1/tenants/org.acme", Some(key)).await;
        assert_eq!(status, 200);
        assert_eq!(t["id"], "org.acme");
    }
    // Any valid credential may ask who it is, its standing, and for a session.
    for key in [&read, &decisions, &admin] {
        assert_eq!(whoami(&server, key).await.0, 200);
        assert_eq!(
            server.get_json("/api/account/standing", Some(key)).await.0,
            200
        );
        assert_eq!(session(&server, key, None).await.0, 200);
    }
    // And the admin key does what the others may not.
    let (status, _) = server.get_json("/api/v1/api-keys", Some(&admin)).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn tenant_b_cannot_list_read_change_or_revoke_anything_of_tenant_a() {
    let server = TestServer::start().await;
    let (a_key_id, a_key) = server.tenant_with_key("org.alpha", &["admin"]).await;
    let (b_key_id, b_key) = server.tenant_with_key("org.beta", &["admin"]).await;

    let not_found = [
        (Method::GET, "/api/v1/tenants/org.alpha".to_string(), None),
        (
            Method::GET,
            "/api/v1/api-keys?tenant_id=org.alpha".to_string(),
            None,
        ),
        (Method::DELETE, format!("/api/v1/api-keys/{a_key_id}"), None),
        (
            Method::DELETE,
            format!("/api/v1/api-keys/{a_key_id}?tenant_id=org.alpha"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/api-keys".to_string(),
            Some(json!({"name": "planted", "scopes": ["admin"], "tenant_id": "org.alpha"})),
        ),
    ];
    for (method, path, body) in not_found {
        let (status, err) = server.call(method.clone(), &path, Some(&b_key), body).await;
        assert_eq!(status, 404, "{method} {path} by B: {err}");
        assert_eq!(err["error"]["code"], "not_found");
    }
    // B's 404 for A's tenant reads exactly like one for a tenant that does not exist.
    let (_, theirs) = server
        .get_json("/api/v1/tenants/org.alpha", Some(&b_key))
        .await;
    let (_, nobody) = server
        .get_json("/api/v1/tenants/org.nobody", Some(&b_key))
        .await;
    assert_eq!(
        message(&theirs).replace("org.alpha", "X"),
        message(&nobody).replace("org.nobody", "X")
    );
    for (method, path) in [
        (Method::GET, "/api/v1/tenants"),
        (Method::POST, "/api/v1/tenants/org.alpha/suspend"),
    ] {
        let (status, _) = server.call(method.clone(), path, Some(&b_key), None).await;
        assert_eq!(status, 403, "{method} {path}");
    }

    // A is untouched: its key works and its listing has only its own keys.
    assert_eq!(whoami(&server, &a_key).await.0, 200);
    let (_, a_list) = server.get_json("/api/v1/api-keys", Some(&a_key)).await;
    let ids: Vec<&str> = each(&a_list["api_keys"], "id");
    assert_eq!(ids, vec![a_key_id.as_str()]);
    assert!(!ids.contains(&b_key_id.as_str()));
    assert!(a_list["api_keys"][0]["tenant_id"] == "org.alpha");
    server.stop().await;
}

#[tokio::test]
async fn the_database_holds_no_key_in_clear() {
    let server = TestServer::start().await;
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;
    let mut conn = server.db.connect().await;
    let rows: Vec<(String, Vec<u8>, String, String)> = sqlx::query_as(
        "SELECT prefix, secret_hash, name, array_to_string(scopes, ',') FROM api_keys",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "operator key and the new key");
    let dump: String = sqlx::query_scalar("SELECT string_agg(t::text, '\n') FROM api_keys t")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    for secret in [&key, &server.operator_key] {
        assert!(!dump.contains(secret.as_str()), "a key is stored in clear");
        assert!(
            !dump.contains(&secret[4..]),
            "a key's secret part is stored in clear"
        );
    }
    use sha2::Digest;
    let expected: Vec<u8> = sha2::Sha256::digest(key.as_bytes()).to_vec();
    let row = rows
        .iter()
        .find(|r| key.starts_with(&r.0))
        .expect("row by prefix");
    assert_eq!(row.0.len(), 12);
    assert_eq!(row.1, expected);
    server.stop().await;
}

#[tokio::test]
async fn a_text_field_longer_than_its_limit_is_refused_even_when_the_excess_is_white_space() {
    let server = TestServer::start().await;
    let op = server.operator_key.clone();
    // 200 characters is display_name's limit, as sent (the document's maxLength).
    let padded = format!("{}{}", "A".repeat(200), " ".repeat(5));
    let body = json!({"id": "org.padded", "display_name": padded});
    let (got, err) = server.post("/api/v1/tenants", &op, body).await;
    assert_eq!(got, 400, "{err}");
    assert!(message(&err).contains("at most 200"), "{err}");
    let body = json!({"id": "org.padded", "display_name": "A".repeat(200)});
    let (got, err) = server.post("/api/v1/tenants", &op, body).await;
    assert_eq!(got, 201, "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_text_field_ending_in_a_newline_is_refused_as_a_control_character() {
    let server = TestServer::start().await;
    let op = server.operator_key.clone();
    let body = json!({"id": "org.newline", "display_name": "Acme\n"});
    let (got, err) = server.post("/api/v1/tenants", &op, body).await;
    assert_eq!(got, 400, "{err}");
    assert!(message(&err).contains("control characters"), "{err}");
    let body = json!({"id": "org.newline", "display_name": " Acme "});
    let (got, err) = server.post("/api/v1/tenants", &op, body).await;
    assert_eq!(got, 201, "{err}");
    assert_eq!(err["display_name"], "Acme", "spaces around are trimmed");
    server.stop().await;
}

#[tokio::test]
async fn an_optional_body_of_white_space_alone_is_not_json() {
    let server = TestServer::start().await;
    let op = server.operator_key.clone();
    let send = |body: &'static str| {
        server
            .client
            .post(server.url("/api/v1/auth/token"))
            .bearer_auth(&op)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let spaced = send(" ").await.unwrap();
    assert_eq!(spaced.status(), 400);
    let err: serde_json::Value = spaced.json().await.unwrap();
    assert_eq!(err["error"]["code"], "invalid_json", "{err}");
    assert_eq!(
        send("").await.unwrap().status(),
        200,
        "an empty body is absent"
    );
    server.stop().await;
}

#[tokio::test]
async fn tenants_are_created_once_with_valid_ids_and_suspension_stops_their_keys() {
    let server = TestServer::start().await;
    let op = server.operator_key.clone();
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;

    // A refused tenant: its status, and its error's code and what its message
    // says where those matter.
    for (body, status, code, says) in [
        (
            json!({"id": "org.acme", "display_name": "again"}),
            409,
            None,
            None,
        ),
        (
            json!({"id": "Org.Acme", "display_name": "A"}),
            400,
            Some("invalid_tenant_id"),
            Some("lowercase"),
        ),
        (
            json!({"id": "hall.evil", "display_name": "A"}),
            400,
            None,
            Some("reserved"),
        ),
        (
            json!({"id": "org.blank", "display_name": "  "}),
            400,
            None,
            None,
        ),
        (
            json!({"id": "org.x", "display_name": "X", "extra": 1}),
            400,
            None,
            None,
        ),
    ] {
        let (got, err) = server.post("/api/v1/tenants", &op, body.clone()).await;
        assert_eq!(got, status, "{body}: {err}");
        if let Some(code) = code {
            assert_eq!(err["error"]["code"], code, "{body}");
        }
        if let Some(says) = says {
            assert!(message(&err).contains(says), "{body}: {err}");
        }
    }

    let (_, standing) = server.get_json("/api/account/standing", Some(&key)).await;
    assert_eq!(standing["standing"], "ok");

    let (status, t) = server
        .post_empty("/api/v1/tenants/org.acme/suspend", &op)
        .await;
    assert_eq!(status, 200);
    assert_eq!(t["status"], "suspended");
    let (status, err) = whoami(&server, &key).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "tenant_suspended");
    let (status, standing) = server.get_json("/api/account/standing", Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(standing["standing"], "suspended");

    let (status, _) = server
        .post_empty("/api/v1/tenants/org.acme/reactivate", &op)
        .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(&server, &key).await.0, 200);

    let (status, err) = server
        .post_empty("/api/v1/tenants/hall.operator/suspend", &op)
        .await;
    assert_eq!(status, 409, "{err}");
    let (status, _) = server
        .post_empty("/api/v1/tenants/org.none/suspend", &op)
        .await;
    assert_eq!(status, 404);

    let (_, list) = server.get_json("/api/v1/tenants", Some(&op)).await;
    let ids: Vec<&str> = each(&list["tenants"], "id");
    assert_eq!(ids, vec!["hall.operator", "org.acme"]);
    server.stop().await;
}

#[tokio::test]
async fn api_key_requests_are_validated() {
    let server = TestServer::start().await;
    let (_, admin) = server.tenant_with_key("org.acme", &["admin"]).await;
    let cases = [
        (
            json!({"name": "k", "scopes": ["read", "superuser"]}),
            400,
            "invalid_scope",
        ),
        (json!({"name": "k", "scopes": []}), 400, "invalid_scope"),
        (
            json!({"name": "", "scopes": ["read"]}),
            400,
            "invalid_request",
        ),
        (
            json!({"name": "k", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}),
            400,
            "invalid_request",
        ),
        (
            json!({"name": "k", "scopes": ["read"], "expires_at": "tomorrow"}),
            400,
            "invalid_request",
        ),
        (
            json!({"name": "k", "scopes": "read"}),
            400,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let (got, err) = server.post("/api/v1/api-keys", &admin, body.clone()).await;
        assert_eq!(got, status, "{body}: {err}");
        assert_eq!(err["error"]["code"], code, "{body}");
    }
    let body = json!({"name": "dup", "scopes": ["read"]});
    let (status, created) = server.post("/api/v1/api-keys", &admin, body.clone()).await;
    assert_eq!(status, 201);
    assert!(created["key"].as_str().unwrap().starts_with("phk_"));
    assert_eq!(
        created["prefix"].as_str().unwrap(),
        &created["key"].as_str().unwrap()[..12]
    );
    let (status, _) = server.post("/api/v1/api-keys", &admin, body).await;
    assert_eq!(status, 409);
    // Listings never show a secret.
    let (_, list) = server.get_json("/api/v1/api-keys", Some(&admin)).await;
    assert!(!list.to_string().contains(created["key"].as_str().unwrap()));
    assert!(list["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("key").is_none()));
    // Unknown key ids are 404 whatever their shape.
    for id in ["not-a-uuid", "01939a1e-0000-7000-8000-000000000000"] {
        let (status, _) = server
            .call(
                Method::DELETE,
                &format!("/api/v1/api-keys/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_credential_over_its_limit_gets_429_with_retry_after() {
    let server = TestServer::start_with(|c| c.rate_limit_per_minute = 3, false).await;
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;
    for _ in 0..3 {
        assert_eq!(whoami(&server, &key).await.0, 200);
    }
    let resp = server
        .client
        .get(server.url("/api/v1/auth/whoami"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "rate_limited");
    // Another credential has its own budget; probes are never limited.
    assert_eq!(whoami(&server, &server.operator_key).await.0, 200);
    for _ in 0..5 {
        assert_eq!(server.get("/health").await.status(), 200);
    }
    server.stop().await;
}

#[tokio::test]
async fn unauthenticated_callers_are_limited_per_ip() {
    let server = TestServer::start_with(|c| c.anon_rate_limit_per_minute = 2, false).await;
    for _ in 0..2 {
        assert_eq!(server.get("/openapi.json").await.status(), 200);
    }
    let resp = server.get("/openapi.json").await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // Bogus credentials count against the IP too, so they cannot dodge the limit.
    let (status, _) = whoami(&server, "phk_bogusbogusbogusbogusbogusbogusbogusbogusbog").await;
    assert_eq!(status, 429);
    server.stop().await;
}

#[tokio::test]
async fn the_limit_is_shared_by_replicas_through_redis() {
    let server = TestServer::start_with(|c| c.rate_limit_per_minute = 4, true).await;
    let (replica_base, replica) = server.replica().await;
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 {
            &server.base
        } else {
            &replica_base
        };
        let resp = server
            .client
            .get(format!("{base}/api/v1/auth/whoami"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);
    let keys = server.redis.as_ref().unwrap().keys();
    assert!(keys.iter().any(|k| k.contains("rl:key:")), "{keys:?}");
    replica.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_made_up_keys_makes_a_bounded_number_of_queries() {
    const LIMIT: u64 = 40;
    let s = TestServer::start_with(
        |c| {
            c.anon_rate_limit_per_minute = LIMIT;
            c.trusted_proxies = "127.0.0.1".parse().unwrap();
        },
        false,
    )
    .await;
    let (_, key) = s.tenant_with_key("org.acme", &["read"]).await;
    let http = reqwest::Client::new();
    let from = |client: &'static str, bearer: String| {
        http.get(s.url("/api/v1/workers"))
            .bearer_auth(bearer)
            .header("x-forwarded-for", client)
            .send()
    };
    const MISSES: &str = "hall_facts_cache_lookups_total{result=\"miss\"}";
    let misses = s.counter(MISSES).await;

    let mut refused = 0;
    for i in 0..200 {
        let made_up = format!("phk_made_up_{i:04}_{}", "x".repeat(32));
        let status = from("203.0.113.66", made_up)
            .await
            .unwrap()
            .status()
            .as_u16();
        match status {
            401 => {}
            429 => refused += 1,
            other => panic!("a made-up key got {other}"),
        }
    }

    let queried = s.counter(MISSES).await - misses;
    assert!(queried <= LIMIT, "{queried} lookups for 200 made-up keys");
    assert!(refused >= 200 - LIMIT, "{refused} refused");
    // Another client's real key is unaffected, whether or not it is in memory.
    let status = from("203.0.113.7", key).await.unwrap().status();
    assert_eq!(status, 200);
    s.stop().await;
}

/// Statuses of anonymous requests that say they come from `client`.
async fn statuses_from(s: &TestServer, client: &str, n: usize) -> Vec<u16> {
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for _ in 0..n {
        let r = http
            .get(s.url("/api/v1/verify/x.nobody.w"))
            .header("x-forwarded-for", format!("198.51.100.99, {client}"))
            .send()
            .await
            .unwrap();
        seen.push(r.status().as_u16());
    }
    seen
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_anonymous_limit() {
    let s = TestServer::start_with(
        |c| {
            c.anon_rate_limit_per_minute = 3;
            c.trusted_proxies = "127.0.0.1".parse().unwrap();
        },
        false,
    )
    .await;

    assert_eq!(
        statuses_from(&s, "203.0.113.1", 4).await,
        [404, 404, 404, 429]
    );
    assert_eq!(
        statuses_from(&s, "203.0.113.2", 1).await,
        [404],
        "another client"
    );
    // IPv6 clients are one client per /64.
    assert_eq!(
        statuses_from(&s, "2001:db8:1:2::1", 3).await,
        [404, 404, 404]
    );
    assert_eq!(statuses_from(&s, "2001:db8:1:2::ffff", 1).await, [429]);
    s.stop().await;
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_for_header_buys_no_new_limit() {
    let s = TestServer::start_with(|c| c.anon_rate_limit_per_minute = 3, false).await;

    let mut seen = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        seen.extend(statuses_from(&s, client, 1).await);
    }

    assert_eq!(seen, [404, 404, 404, 429], "one bucket: the peer's");
    s.stop().await;
}

#[tokio::test]
async fn the_session_secret_is_configuration_shared_by_replicas_and_not_in_the_database() {
    let shared = "5e".repeat(32);
    let server = TestServer::start_with(|c| c.session_secret = Some(shared.clone()), false).await;
    let (status, minted) = session(&server, &server.operator_key, None).await;
    assert_eq!(status, 200, "{minted}");
    let token = minted["token"].as_str().unwrap().to_string();

    // Another replica with the same configuration accepts the session.
    let (replica, _running) = server.replica().await;
    let r = reqwest::Client::new()
        .get(format!("{replica}/api/v1/auth/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Nothing in the database can sign one: no secret is stored there.
    let pool = sqlx::PgPool::connect(server.db.url()).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!tables.iter().any(|t| t.contains("secret")), "{tables:?}");
    // And a replica with another secret refuses the session.
    let other = TestServer::start_with(|c| c.session_secret = Some("7a".repeat(32)), false).await;
    let (status, e) = whoami(&other, &token).await;
    assert_eq!(status, 401, "{e}");
    other.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn without_a_configured_secret_one_is_generated_into_the_data_dir_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start().await;
    let path = server.data_dir.path().join("session-secret");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (status, _) = session(&server, &server.operator_key, None).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_state_changing_request_with_only_the_session_cookie_is_refused_from_another_sites_page()
{
    let server = TestServer::start().await;
    let (_, key) = server.tenant_with_key("org.acme", &["read"]).await;
    let (_, token) = session(&server, &key, None).await;
    let token = token["token"].as_str().unwrap().to_string();
    let own = server.base.clone();
    let report = json!({"sha256": "a".repeat(64), "reason": "exfiltrates secrets"});
    let post = |headers: Vec<(&'static str, String)>| {
        let mut r = server
            .client
            .post(server.url("/api/v1/ban-list/report"))
            .json(&report);
        for (name, value) in headers {
            r = r.header(name, value);
        }
        async move { r.send().await.unwrap() }
    };
    let cookie = || ("Cookie", format!("pyhall_session={token}"));

    for (headers, why) in [
        (
            vec![cookie(), ("Origin", "https://evil.example".into())],
            "another site",
        ),
        (
            vec![cookie(), ("Origin", "null".into())],
            "an opaque origin",
        ),
        (
            vec![cookie(), ("Referer", "https://evil.example/page".into())],
            "another site's page, named by Referer",
        ),
        (
            vec![cookie(), ("Sec-Fetch-Site", "cross-site".into())],
            "a cross-site fetch",
        ),
    ] {
        let resp = post(headers).await;
        assert_eq!(resp.status(), 403, "{why}");
        let (code, _) = crate::support::error_of(resp).await;
        assert_eq!(code, "cross_origin_refused", "{why}");
    }
    // The PyHall SDKs send the cookie from no page at all (the contract).
    assert_eq!(post(vec![cookie()]).await.status(), 201);
    // From the server's own pages, the cookie works.
    assert_eq!(
        post(vec![cookie(), ("Origin", own.clone())]).await.status(),
        201
    );
    assert_eq!(
        post(vec![cookie(), ("Referer", format!("{own}/docs/"))])
            .await
            .status(),
        201
    );
    // Reading needs no Origin; a key or bearer token is never forged by a browser.
    let read = server
        .client
        .get(server.url("/api/v1/auth/whoami"))
        .header("Cookie", format!("pyhall_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    for auth in [
        ("Authorization", format!("Bearer {token}")),
        ("X-API-Key", key.clone()),
    ] {
        let resp = post(vec![
            auth,
            ("Origin", "https://evil.example".into()),
            cookie(),
        ])
        .await;
        assert_eq!(resp.status(), 201);
    }
    server.stop().await;
}
