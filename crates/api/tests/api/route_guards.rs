//! Every route added with namespaces, workers, attestation and the ban list
//! checks its scope and keeps tenants apart; and no request a client can
//! send, however malformed, gets a 5xx.

use crate::support::{message, TestServer, Worker};
use reqwest::Method;
use serde_json::{json, Value};

const SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";

#[tokio::test]
async fn each_route_refuses_a_key_without_its_scope() {
    let s = TestServer::start().await;
    let (_, admin) = s.tenant_with_key("org.acme", &["admin"]).await;
    let (_, read) = s.create_key("org.acme", &["read"]).await;
    let (_, decide) = s.create_key("org.acme", &["decisions:write"]).await;
    s.register(
        &admin,
        &Worker::named("x.acme", "w").capabilities(&["cap.a.b"]),
    )
    .await;

    let needs: Vec<(&str, Method, &str, Option<Value>)> = vec![
        (
            "workers:write",
            Method::POST,
            "/api/v1/workers",
            Some(json!({"name": "v", "namespace": "x.acme", "capabilities": ["cap.a.b"]})),
        ),
        (
            "workers:write",
            Method::PATCH,
            "/api/v1/workers/x.acme.w",
            Some(json!({"policy_tier": 1})),
        ),
        (
            "workers:write",
            Method::POST,
            "/api/v1/workers/x.acme.w/revoke",
            None,
        ),
        (
            "workers:write",
            Method::PUT,
            "/api/v1/workers/x.acme.w/attest",
            Some(json!({"sha256": SHA, "ai_generated": false})),
        ),
        (
            "workers:write",
            Method::POST,
            "/api/v1/workers/x.acme.w/attestations",
            Some(json!({"card": {}, "signature": ""})),
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/namespaces",
            Some(json!({"namespace": "x.other"})),
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/namespaces/x.acme/keys",
            Some(json!({"public_key": "x", "label": "l"})),
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/namespaces/x.acme/keys/nsk_0/revoke",
            None,
        ),
        (
            "admin",
            Method::PUT,
            "/api/v1/policy",
            Some(json!({"attestation": {"require_signature": true, "require_approval": false}})),
        ),
        ("read", Method::GET, "/api/v1/workers", None),
        ("read", Method::GET, "/api/v1/workers/x.acme.w", None),
        (
            "read",
            Method::GET,
            "/api/v1/workers/x.acme.w/attestation",
            None,
        ),
        ("read", Method::GET, "/api/v1/namespaces", None),
        ("read", Method::GET, "/api/v1/namespaces/x.acme", None),
        ("read", Method::GET, "/api/v1/namespaces/x.acme/keys", None),
        ("read", Method::GET, "/api/v1/policy", None),
        ("read", Method::GET, "/wcp/workers", None),
        ("read", Method::GET, "/api/workers", None),
        ("read", Method::GET, "/api/dispatches/recent", None),
    ];
    for (scope, method, path, body) in &needs {
        let (status, err) = s
            .call(method.clone(), path, Some(&decide), body.clone())
            .await;
        assert_eq!(
            status, 403,
            "{method} {path} with decisions:write only: {err}"
        );
        assert_eq!(
            err["error"]["code"], "insufficient_scope",
            "{method} {path}"
        );
        assert!(message(&err).contains(scope), "{method} {path}: {err}");
        if *scope != "read" {
            let (status, _) = s
                .call(method.clone(), path, Some(&read), body.clone())
                .await;
            assert_eq!(status, 403, "{method} {path} with read only");
        }
    }
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/namespaces/x.free/reserve",
            Some(json!({"reason": "r"})),
        ),
        (Method::POST, "/api/v1/namespaces/x.acme/approve", None),
        (
            Method::POST,
            "/api/v1/namespaces/x.acme/transfer",
            Some(json!({"tenant_id": "org.acme"})),
        ),
        (Method::DELETE, "/api/v1/namespaces/x.acme", None),
        (
            Method::POST,
            "/api/v1/namespaces/x.acme/force-release",
            Some(json!({"reason": "r"})),
        ),
        (
            Method::POST,
            "/api/v1/namespaces/x.acme/force-transfer",
            Some(json!({"tenant_id": "org.acme", "reason": "r"})),
        ),
        (Method::GET, "/api/v1/namespaces/x.acme/history", None),
        (
            Method::POST,
            "/api/v1/catalog/import",
            Some(json!({"entities": []})),
        ),
        (Method::GET, "/api/v1/ban-list/reports", None),
        (Method::POST, "/api/v1/ban-list/reports/rpt_x/confirm", None),
        (Method::POST, "/api/v1/ban-list/reports/rpt_x/reject", None),
        (Method::DELETE, &format!("/api/v1/ban-list/{SHA}"), None),
        (Method::POST, "/api/v1/attestations/att_x/approve", None),
    ] {
        let (status, err) = s.call(method.clone(), path, Some(&admin), body).await;
        assert_eq!(status, 403, "{method} {path}: {err}");
        assert_eq!(err["error"]["code"], "operator_only");
    }
    // Every authenticated route refuses anonymous callers.
    for (_, method, path, body) in needs {
        assert_eq!(
            s.call(method.clone(), path, None, body).await.0,
            401,
            "{method} {path}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn tenant_b_cannot_reach_tenant_as_workers_attestations_or_keys() {
    let s = TestServer::start().await;
    let (_, a) = s.tenant_with_key("org.alpha", &["admin"]).await;
    let (_, b) = s.tenant_with_key("org.beta", &["admin"]).await;
    let w = s
        .register(
            &a,
            &Worker::named("x.alpha", "w")
                .capabilities(&["cap.a.b"])
                .private(),
        )
        .await;
    let id = w["id"].as_str().unwrap().to_string();
    s.attest_hash(&a, "x.alpha.w", SHA).await;

    for worker in [id.as_str(), "x.alpha.w"] {
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/workers/{worker}"), None),
            (
                Method::PATCH,
                format!("/api/v1/workers/{worker}"),
                Some(json!({"policy_tier": 8})),
            ),
            (
                Method::POST,
                format!("/api/v1/workers/{worker}/revoke"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/workers/{worker}/attestation"),
                None,
            ),
            (
                Method::PUT,
                format!("/api/v1/workers/{worker}/attest"),
                Some(json!({"sha256": SHA, "ai_generated": false})),
            ),
            (
                Method::GET,
                format!("/api/v1/workers/{worker}?tenant_id=org.alpha"),
                None,
            ),
            (Method::GET, format!("/api/v1/verify/{worker}"), None),
        ] {
            let (status, err) = s.call(method.clone(), &path, Some(&b), body).await;
            assert_eq!(status, 404, "{method} {path} by B: {err}");
        }
    }
    for (method, path) in [
        (Method::GET, "/api/v1/namespaces/x.alpha/keys"),
        (Method::GET, "/api/v1/workers?tenant_id=org.alpha"),
        (Method::GET, "/api/v1/namespaces?tenant_id=org.alpha"),
    ] {
        assert_eq!(
            s.call(method.clone(), path, Some(&b), None).await.0,
            404,
            "{method} {path}"
        );
    }
    let (_, mine) = s.get_json("/wcp/workers", Some(&b)).await;
    assert_eq!(mine["workers"], json!([]));
    let (_, still) = s
        .get_json("/api/v1/workers/x.alpha.w/attestation", Some(&a))
        .await;
    assert_eq!(still["status"], "attested");
    s.stop().await;
}

#[tokio::test]
async fn no_malformed_request_gets_a_server_error() {
    let s = TestServer::start().await;
    let (_, admin) = s.tenant_with_key("org.acme", &["admin"]).await;
    let bodies: [&[u8]; 7] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b"\"x\"",
        b"{\"a\":1}",
        b"\xff\xfe",
    ];
    let routes = [
        (Method::POST, "/api/v1/tenants"),
        (Method::POST, "/api/v1/api-keys"),
        (Method::POST, "/api/v1/auth/token"),
        (Method::POST, "/api/v1/namespaces"),
        (Method::POST, "/api/v1/workers"),
        (Method::PATCH, "/api/v1/workers/x.acme.w"),
        (Method::PUT, "/api/v1/workers/x.acme.w/attest"),
        (Method::POST, "/api/v1/workers/x.acme.w/attestations"),
        (Method::POST, "/api/v1/ban-list/report"),
        (Method::PUT, "/api/v1/policy"),
        (Method::POST, "/api/v1/catalog/import"),
        (Method::POST, "/api/v1/namespaces/x.acme/keys"),
        (Method::POST, "/api/v1/namespaces/x.acme/force-release"),
        (Method::POST, "/api/v1/namespaces/x.acme/force-transfer"),
        (Method::DELETE, "/api/v1/ban-list/zz"),
    ];
    for (method, path) in &routes {
        for body in bodies {
            for ct in ["application/json", "text/plain"] {
                let resp = s
                    .client
                    .request(method.clone(), s.url(path))
                    .bearer_auth(&admin)
                    .header("content-type", ct)
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                assert!(status < 500, "{method} {path} {ct} {body:?} → {status}");
                assert!(resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"));
            }
        }
    }
    for path in [
        "/api/v1/verify/%00",
        "/api/v1/verify/%FF%FE",
        "/api/v1/workers/..%2F..%2Fetc",
        "/api/v1/tenants/%E2%80%AE",
        "/api/v1/namespaces/x.%00",
        "/api/v1/ban-list/%20",
        "/api/v1/workers?limit=99999999999999999999",
        "/api/v1/workers?cursor=%00",
        "/api/v1/ban-list?limit=-1",
        "/api/v1/ban-list?limit=abc",
        "/wcp/capabilities?x=%ZZ",
    ] {
        let resp = s
            .client
            .get(s.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().as_u16() < 500,
            "GET {path} → {}",
            resp.status()
        );
    }
    let long = format!("/api/v1/verify/x.a.{}", "b".repeat(8000));
    assert!(
        s.client
            .get(s.url(&long))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            < 500
    );
    s.stop().await;
}
