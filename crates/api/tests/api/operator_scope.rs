//! The operator acts for another tenant only with `admin` (on top of the
//! route's own scope), on every route that takes a tenant override; and
//! every receipt names the API key that asked for its decision.

use crate::support::{code, decision, message, TestServer, Worker};
use reqwest::Method;
use serde_json::{json, Value};

const APPROVAL: &str = "0193a1b2-0000-7000-8000-000000000042";

/// One route that takes a tenant override: the scope it needs, the request
/// for tenant `{t}`, and the status the operator's admin key gets for
/// `org.acme` (it acts; what is asked for may not exist there).
struct Route {
    scope: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    as_admin: u16,
}

fn routes() -> Vec<Route> {
    let route = |scope, method, path, body, as_admin| Route {
        scope,
        method,
        path,
        body,
        as_admin,
    };
    vec![
        route(
            "read",
            Method::GET,
            "/api/v1/workers?tenant_id={t}",
            None,
            200,
        ),
        route(
            "read",
            Method::GET,
            "/api/v1/workers/x.acme.w?tenant_id={t}",
            None,
            200,
        ),
        route(
            "workers:write",
            Method::PATCH,
            "/api/v1/workers/x.acme.w?tenant_id={t}",
            Some(json!({"policy_tier": 1})),
            200,
        ),
        route(
            "workers:write",
            Method::POST,
            "/api/v1/workers/x.acme.w/revoke?tenant_id={t}",
            None,
            200,
        ),
        route(
            "read",
            Method::GET,
            "/wcp/approvals/pending?tenant_id={t}",
            None,
            200,
        ),
        route(
            "read",
            Method::GET,
            "/wcp/approvals/0193a1b2-0000-7000-8000-000000000042?tenant_id={t}",
            None,
            404,
        ),
        route(
            "admin",
            Method::POST,
            "/wcp/approvals/resolve",
            Some(json!({"approval_id": APPROVAL, "resolution": "approve", "tenant_id": "{t}"})),
            404,
        ),
        route(
            "admin",
            Method::POST,
            "/wcp/approvals/escalate",
            Some(json!({"approval_id": APPROVAL, "tenant_id": "{t}"})),
            404,
        ),
        route(
            "read",
            Method::GET,
            "/api/v1/namespaces?tenant_id={t}",
            None,
            200,
        ),
        route(
            "admin",
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "made-for-acme", "scopes": ["read"], "tenant_id": "{t}"})),
            201,
        ),
        route(
            "admin",
            Method::GET,
            "/api/v1/api-keys?tenant_id={t}",
            None,
            200,
        ),
        route(
            "admin",
            Method::DELETE,
            "/api/v1/api-keys/0193a1b2-0000-7000-8000-000000000042?tenant_id={t}",
            None,
            404,
        ),
        route("read", Method::GET, "/api/v1/tenants/{t}", None, 200),
        route(
            "decisions:write",
            Method::POST,
            "/api/v1/decisions",
            Some(
                json!({"worker_id": "x.acme.w", "capability": "cap.a.b", "env": "dev",
                "data_label": "PUBLIC", "tenant_id": "{t}"}),
            ),
            200,
        ),
        route(
            "decisions:write",
            Method::POST,
            "/api/route",
            Some(
                json!({"worker_id": "x.acme.w", "capability": "cap.a.b", "env": "dev",
                "data_label": "PUBLIC", "tenant_id": "{t}"}),
            ),
            200,
        ),
    ]
}

/// `value` with every `{t}` in its strings replaced by `tenant`.
fn for_tenant(value: &Value, tenant: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{t}", tenant)),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), for_tenant(v, tenant)))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn send(s: &TestServer, r: &Route, key: &str, tenant: &str) -> (u16, Value) {
    let path = r.path.replace("{t}", tenant);
    let body = r.body.as_ref().map(|b| for_tenant(b, tenant));
    s.call(r.method.clone(), &path, Some(key), body).await
}

#[tokio::test]
async fn an_operator_key_without_admin_is_refused_for_another_tenant_on_every_route() {
    let s = TestServer::start().await;
    let (_, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.register(
        &acme,
        &Worker::named("x.acme", "w").capabilities(&["cap.a.b"]),
    )
    .await;
    let (_, read) = s.create_key("hall.operator", &["read"]).await;
    let (_, workers) = s.create_key("hall.operator", &["workers:write"]).await;
    let (_, decide) = s
        .create_key(
            "hall.operator",
            &["decisions:write", "read", "workers:write"],
        )
        .await;
    let key_for = |scope: &str| match scope {
        "read" => &read,
        "workers:write" => &workers,
        // No operator key has the route's scope without `admin`: the
        // strongest one without it.
        _ => &decide,
    };

    // Every route is tried; the failure lists each one that let the key through.
    let mut let_through = Vec::new();
    for r in routes() {
        let (status, body) = send(&s, &r, key_for(r.scope), "org.acme").await;
        let refused = status == 403
            && code(&body) == "insufficient_scope"
            && message(&body).contains("`admin`");
        if !refused {
            let_through.push(format!("{} {}: {status} {body}", r.method, r.path));
        }
    }
    assert!(let_through.is_empty(), "{let_through:#?}");
    // Nothing was done to Acme: its worker is as registered, active, and
    // its chain holds no receipt.
    let (_, w) = s.get_json("/api/v1/workers/x.acme.w", Some(&acme)).await;
    assert_eq!(w["status"], "active", "{w}");
    assert_eq!(w["policy_tier"], 0, "{w}");
    assert_eq!(s.verify_receipts(&acme).await, Ok(0));
    let (_, keys) = s.get_json("/api/v1/api-keys", Some(&acme)).await;
    assert_eq!(keys["api_keys"].as_array().unwrap().len(), 1, "{keys}");
    s.stop().await;
}

#[tokio::test]
async fn the_operators_admin_key_acts_for_another_tenant_on_every_route() {
    let s = TestServer::start().await;
    let (_, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.register(
        &acme,
        &Worker::named("x.acme", "w").capabilities(&["cap.a.b"]),
    )
    .await;
    let mut refused = Vec::new();
    for r in routes() {
        let (status, body) = send(&s, &r, &s.operator_key, "org.acme").await;
        if status != r.as_admin {
            refused.push(format!("{} {}: {status} {body}", r.method, r.path));
        }
    }
    assert!(refused.is_empty(), "{refused:#?}");
    // The decisions went into Acme's chain; the revoke reached its worker.
    assert_eq!(s.verify_receipts(&acme).await, Ok(2));
    let (_, w) = s.get_json("/api/v1/workers/x.acme.w", Some(&acme)).await;
    assert_eq!(w["status"], "revoked", "{w}");
    s.stop().await;
}

#[tokio::test]
async fn an_operator_key_without_admin_still_acts_on_its_own_tenant() {
    let s = TestServer::start().await;
    s.create_tenant("org.acme").await;
    let (_, read) = s.create_key("hall.operator", &["read"]).await;
    let (_, decide) = s.create_key("hall.operator", &["decisions:write"]).await;
    for (key, path) in [
        (&read, "/api/v1/workers?tenant_id=hall.operator"),
        (&read, "/api/v1/workers"),
        (&read, "/wcp/approvals/pending?tenant_id=hall.operator"),
        (&read, "/api/v1/namespaces?tenant_id=hall.operator"),
        (&read, "/api/v1/tenants/hall.operator"),
    ] {
        let (status, body) = s.get_json(path, Some(key)).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let mut own = decision("x.none.w", "cap.a.b", "dev", "PUBLIC");
    own["tenant_id"] = json!("hall.operator");
    let (status, body) = s.try_decide(&decide, own).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant_id"], "hall.operator", "{body}");
    s.stop().await;
}

#[tokio::test]
async fn a_tenants_key_naming_another_tenant_reads_as_missing_or_forbidden_as_before() {
    let s = TestServer::start().await;
    s.create_tenant("org.other").await;
    let (_, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (status, body) = s
        .get_json("/api/v1/workers?tenant_id=org.other", Some(&acme))
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    let mut other = decision("x.other.w", "cap.a.b", "dev", "PUBLIC");
    other["tenant_id"] = json!("org.other");
    let (status, body) = s.try_decide(&acme, other).await;
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    s.stop().await;
}

/// The id of the API key behind `credential`, as whoami names it.
async fn key_id_of(s: &TestServer, credential: &str) -> String {
    let (_, me) = s.get_json("/api/v1/auth/whoami", Some(credential)).await;
    me["key_id"].as_str().expect("key_id").to_string()
}

#[tokio::test]
async fn every_receipt_names_the_api_key_that_asked_and_is_format_2() {
    let s = TestServer::start().await;
    let (acme_id, acme) = s.tenant_with_key("org.acme", &["admin"]).await;
    s.register(
        &acme,
        &Worker::named("x.acme", "w").capabilities(&["cap.a.b"]),
    )
    .await;
    let (status, session) = s
        .call(Method::POST, "/api/v1/auth/token", Some(&acme), None)
        .await;
    assert_eq!(status, 200, "{session}");
    let session = session["token"].as_str().unwrap().to_string();
    let operator_id = key_id_of(&s, &s.operator_key).await;

    let ask = decision("x.acme.w", "cap.a.b", "dev", "PUBLIC");
    let by_key = s.decide(&acme, ask.clone()).await;
    let by_session = s.decide(&session, ask.clone()).await;
    let mut for_acme = ask.clone();
    for_acme["tenant_id"] = json!("org.acme");
    let by_operator = s.decide(&s.operator_key, for_acme).await;
    for (d, expected) in [
        (&by_key, &acme_id),
        (&by_session, &acme_id),
        (&by_operator, &operator_id),
    ] {
        assert_eq!(d["receipt"]["receipt_version"], 2, "{d}");
        assert_eq!(d["receipt"]["acting_key_id"], json!(expected), "{d}");
        // The id is the key's public id, never its secret.
        assert!(!d["receipt"].to_string().contains("phk_"), "{d}");
    }
    // The export carries the field, and the chain verifies with it signed.
    let (_, export) = s.get_json("/api/v1/audit/receipts", Some(&acme)).await;
    let named: Vec<&Value> = export["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["acting_key_id"])
        .collect();
    assert_eq!(
        named,
        vec![&json!(acme_id), &json!(acme_id), &json!(operator_id)]
    );
    assert_eq!(s.verify_receipts(&acme).await, Ok(3));
    s.stop().await;
}
